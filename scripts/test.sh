#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing (Debian 12, as root),
# then gofmt, go vet, staticcheck, go test -race, and a short fuzz of every
# fuzz target, in every module of the repository (MODULES below). Exits
# non-zero if any stage fails; every stage runs anyway.
#
# Servers: the tests start their own (internal/testserver) unless REDIS_URL,
# REDIS_CLUSTER_ADDRS, DATABASE_URL or MYSQL_URL name existing ones; this script starts
# none. Set REQUIRE_SERVICES=1 (CI sets CI=true) to fail, not skip, tests
# whose server is missing. FUZZTIME (default 5s) is the time per fuzz target.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
FUZZTIME=${FUZZTIME:-5s}
# Every module of the repository: the library (root), the benchmarks with
# the peers, the browser tests, the gin-contrib/sessions drop-in and
# importer. Each is vetted, checked and tested.
MODULES=(. bench e2e contrib)
PGBIN=/usr/lib/postgresql/15/bin

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

results=() failures=0
section() { printf '\n==== %s ====\n' "$*"; }
# stage NAME COMMAND...: runs the command, records the outcome and duration.
stage() {
	local name=$1 t0=$SECONDS rc
	shift
	section "$name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		results+=("ok      $name ($((SECONDS - t0))s)")
	else
		results+=("FAILED  $name (exit $rc, $((SECONDS - t0))s)")
		failures=$((failures + 1))
	fi
	echo "---- ${results[-1]}"
	return 0
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "not root and no sudo: cannot run: $*" >&2
		return 1
	fi
}

install_tools() {
	local pkgs=() rc=0
	command -v redis-server >/dev/null || pkgs+=(redis-server)
	[ -x "$PGBIN/initdb" ] || pkgs+=(postgresql)
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
	command -v chromium >/dev/null || pkgs+=(chromium)
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || pkgs+=(nginx) # the fleet test's balancer
	command -v gcc >/dev/null || pkgs+=(gcc libc6-dev) # go test -race needs cgo
	if [ ${#pkgs[@]} -gt 0 ]; then
		echo "installing: ${pkgs[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" || rc=1
	else
		echo "redis-server, PostgreSQL 15, MariaDB, chromium, nginx and gcc are installed"
	fi
	if ! command -v go >/dev/null; then
		echo "go is not on PATH: install Go 1.26 (https://go.dev/dl/)" >&2
		return 1
	fi
	go version
	if ! command -v staticcheck >/dev/null; then
		echo "installing staticcheck"
		go install honnef.co/go/tools/cmd/staticcheck@latest || rc=1
	fi
	command -v redis-server >/dev/null && redis-server --version
	[ -x "$PGBIN/postgres" ] && "$PGBIN/postgres" --version
	[ -x /usr/sbin/mariadbd ] && /usr/sbin/mariadbd --version
	command -v staticcheck >/dev/null && staticcheck -version
	return $rc
}

gofmt_check() {
	local files=() bad
	while IFS= read -r f; do
		[ -f "$f" ] && files+=("$f")
	done < <(git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
	echo "${#files[@]} Go files"
	[ ${#files[@]} -eq 0 ] && return 0
	bad=$(gofmt -l "${files[@]}" 2>&1)
	if [ -n "$bad" ]; then
		echo "not gofmt'ed (run gofmt -w on them):"
		printf '%s\n' "$bad" | sed 's/^/  /'
		return 1
	fi
}

# in_modules CMD...: runs CMD in every module's directory; fails if any does.
in_modules() {
	local m rc=0
	for m in "${MODULES[@]}"; do
		echo "-- module $m: $*"
		(cd "$m" && "$@") || rc=1
	done
	return $rc
}

run_tests() {
	local rc=0 m
	: >"$work/test.log"
	for m in "${MODULES[@]}"; do
		echo "-- module $m"
		(cd "$m" && go test -race -count=1 -timeout 25m ./...) 2>&1 | tee -a "$work/test.log"
		[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
	done
	printf 'packages: %d ok, %d failed, %d without tests\n' \
		"$(grep -c '^ok ' "$work/test.log")" \
		"$(grep -cE '^FAIL[[:space:]]+[^[:space:]]+' "$work/test.log")" \
		"$(grep -c '\[no test files\]' "$work/test.log")"
	return "$rc"
}

# module_of PKG: the directory of the module that holds the package (the
# longest module path that prefixes it).
module_of() {
	local m best=. path bestlen=0
	for m in "${MODULES[@]}"; do
		path=$(cd "$m" && go list -m)
		if [[ $1 == "$path" || $1 == "$path"/* ]] && [ ${#path} -gt $bestlen ]; then
			best=$m bestlen=${#path}
		fi
	done
	echo "$best"
}

# fuzz_smoke lists each package's fuzz targets (go test -list prints a
# package's names, then its "ok  <package>" line) and fuzzes each briefly.
fuzz_smoke() {
	local rc=0 line names=() targets=() pkg name t
	in_modules go test -list '^Fuzz' ./... >"$work/list.log" 2>&1 || {
		rc=1
		echo "go test -list failed; fuzzing the packages that built:"
		grep -v '^ok ' "$work/list.log" | grep -v '^Fuzz' | grep -v 'no test files' | sed 's/^/  /'
	}
	while IFS= read -r line; do
		if [[ $line =~ ^Fuzz[[:alnum:]_]*$ ]]; then
			names+=("$line")
		elif [[ $line =~ ^ok[[:space:]]+([^[:space:]]+) ]]; then
			pkg=${BASH_REMATCH[1]}
			for name in "${names[@]}"; do targets+=("$pkg $name"); done
			names=()
		elif [[ $line =~ ^(FAIL|\?)[[:space:]] ]]; then
			names=()
		fi
	done <"$work/list.log"
	if [ ${#targets[@]} -eq 0 ]; then
		echo "no fuzz targets found"
		return $rc
	fi
	echo "${#targets[@]} fuzz targets, $FUZZTIME each"
	for t in "${targets[@]}"; do
		pkg=${t% *} name=${t#* }
		echo "-- $name ($pkg)"
		mod=$(module_of "$pkg")
		dir=$(cd "$mod" && go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name
		before=$(ls "$dir" 2>/dev/null | wc -l)
		if (cd "$mod" && go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg"); then
			continue
		fi
		# A crasher is always saved as a new input. A failure that saved
		# none is the fuzz engine itself running out of time on a loaded
		# machine ("context deadline exceeded"): run the target once more.
		if [ "$(ls "$dir" 2>/dev/null | wc -l)" -eq "$before" ]; then
			echo "no failing input saved: the fuzz engine, not the target; running $name once more"
			(cd "$mod" && go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg") && continue
		fi
		rc=1
		echo "FAILED: $name in $pkg (a failing input is saved under its testdata/fuzz/$name/)"
	done
	return $rc
}

start=$SECONDS
# Go needs HOME for its caches; a bare CI environment may lack it, or Go on PATH.
[ -n "${HOME:-}" ] || HOME=$(getent passwd "$(id -u)" | cut -d: -f6) && export HOME
command -v go >/dev/null || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null && PATH="$(go env GOPATH)/bin:$PATH"
export PATH="$PATH:$HOME/go/bin" # where go install puts staticcheck
stage "install" install_tools
stage "gofmt" gofmt_check
stage "go vet" in_modules go vet ./...
stage "staticcheck" in_modules staticcheck ./...
stage "go test -race" run_tests
stage "fuzz (${FUZZTIME} per target)" fuzz_smoke

section "summary"
printf '%s\n' "${results[@]}"
echo "total $((SECONDS - start))s"
echo "stages: $((${#results[@]} - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
