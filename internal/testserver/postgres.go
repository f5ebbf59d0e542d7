package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgMissing = "PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: install them (apt-get install postgresql) or set DATABASE_URL"

var sharedPG struct {
	once  sync.Once
	base  string // DSN of the database schemas are made in
	admin *admin // creates and drops the schemas
	out   outcome
}

// admin is one connection to the shared server, used in turn.
type admin struct {
	mu   sync.Mutex
	dsn  string
	conn *pgx.Conn
}

// exec runs sql, reconnecting first if the connection was lost.
func (a *admin) exec(sql string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if a.conn == nil || a.conn.IsClosed() {
		c, err := pgx.Connect(ctx, a.dsn)
		if err != nil {
			return err
		}
		a.conn = c
	}
	_, err := a.conn.Exec(ctx, sql)
	return err
}

func (a *admin) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.conn.Close(ctx)
		a.conn = nil
	}
}

// Postgres returns a DSN for pgx (or database/sql with pgx's "pgx" driver)
// ("postgres://...?sslmode=disable&search_path=t_..."), whose search_path
// is a fresh, empty schema created for t in a shared PostgreSQL and dropped
// (CASCADE) at t's cleanup. Tables the test creates without a schema name
// land in it.
//
// The server is DATABASE_URL's when it is a postgres:// or postgresql://
// URL, else one started once per test process (initdb, then postgres on a
// free port of 127.0.0.1, fsync off; as the postgres user when running as
// root).
func Postgres(t testing.TB) string {
	t.Helper()
	s := &sharedPG
	startOnce(t, &s.once, &s.out, startSharedPG)
	s.out.check(t)

	schema := "t_" + tag() + "_" + strconv.FormatUint(prefixN.Add(1), 36)
	ident := pgx.Identifier{schema}.Sanitize()
	if err := s.admin.exec("CREATE SCHEMA " + ident); err != nil {
		t.Fatalf("testserver: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// lock_timeout: give up after 10 s if the test left a transaction
		// holding locks in the schema.
		if err := s.admin.exec("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS " + ident + " CASCADE; RESET lock_timeout"); err != nil {
			t.Logf("testserver: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := withSearchPath(s.base, schema)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	return dsn
}

// withSearchPath sets the search_path parameter of a postgres:// DSN (pgx
// sends it to the server at connection start).
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("bad postgres DSN: %v", err)
	}
	q := u.Query()
	q.Del("search_path")
	raw := q.Encode()
	if raw != "" {
		raw += "&"
	}
	u.RawQuery = raw + "search_path=" + url.QueryEscape(schema)
	return u.String(), nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func startSharedPG() outcome {
	s := &sharedPG
	if env := os.Getenv("DATABASE_URL"); isPostgresURL(env) {
		u, err := url.Parse(env)
		if err != nil {
			return outcome{err: errors.New("DATABASE_URL is not a valid URL")}
		}
		a := &admin{dsn: env}
		if err := a.exec("SELECT 1"); err != nil {
			return outcome{skip: fmt.Sprintf("DATABASE_URL (%s) cannot be used: %v", u.Redacted(), err)}
		}
		s.base, s.admin = env, a
		atShutdown(a.close)
		return outcome{msg: "using DATABASE_URL's server " + u.Redacted()}
	}
	pp, skip, err := startPostgresProc("pg-shared")
	if skip != "" || err != nil {
		return outcome{skip: skip, err: err}
	}
	a := &admin{dsn: pp.DSN}
	s.base, s.admin = pp.DSN, a
	atShutdown(func() {
		a.close()
		pp.close()
	})
	return outcome{msg: fmt.Sprintf("started shared PostgreSQL %s, pid %d, in %s", pp.addr, pp.p.pid(), pp.spec.dir)}
}

// PostgresProc is a PostgreSQL server owned by one test, for fault
// injection. Its methods fail the test (t.Fatalf) on error, so call them
// from the test's goroutine.
type PostgresProc struct {
	// DSN connects as the superuser "postgres" to database "postgres"
	// ("postgres://postgres:...@127.0.0.1:port/postgres?sslmode=disable").
	// It stays valid across Stop and Start.
	DSN string

	t       testing.TB
	mu      sync.Mutex
	spec    procSpec
	dataDir string
	addr    string
	p       *proc
}

// StartPostgres starts a PostgreSQL server owned by t on a free port (in
// about half a second after the first, which runs initdb), stopped and
// removed at t's cleanup.
func StartPostgres(t testing.TB) *PostgresProc {
	t.Helper()
	t0 := time.Now()
	pp, skip, err := startPostgresProc("pg")
	if skip != "" {
		Unavailable(t, "%s", skip)
	}
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	pp.t = t
	t.Cleanup(pp.close)
	t.Logf("testserver: started PostgreSQL %s, pid %d, in %v", pp.addr, pp.p.pid(), time.Since(t0).Round(time.Millisecond))
	return pp
}

// Pid returns the process id of the running postmaster (of the latest start).
func (pp *PostgresProc) Pid() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.p.pid()
}

// Stop shuts the server down in "fast" mode (SIGINT: open transactions are
// rolled back, clients disconnected) and waits until it has exited and its
// port refuses connections.
func (pp *PostgresProc) Stop() {
	pp.t.Helper()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err := pp.p.stop(syscall.SIGINT); err != nil {
		pp.t.Fatalf("testserver: stop: %v", err)
	}
	if err := waitRefused(pp.addr); err != nil {
		pp.t.Fatalf("testserver: stop: %v", err)
	}
}

// Start starts a stopped server again on the same port, with its data, and
// waits until it accepts queries. It does nothing if the server runs.
func (pp *PostgresProc) Start() {
	pp.t.Helper()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.p.running() {
		return
	}
	_ = os.Remove(filepath.Join(pp.dataDir, "postmaster.pid")) // stale after a crash
	p, err := startProc(pp.spec)
	if err != nil {
		pp.t.Fatalf("testserver: start: %v", err)
	}
	pp.p = p
	if err := p.waitReady(pgReady(pp.DSN, pp.dataDir)); err != nil {
		_ = p.stop(syscall.SIGQUIT)
		pp.t.Fatalf("testserver: start: %v", err)
	}
}

// close stops the server (immediate shutdown: its data is thrown away)
// and removes its directory.
func (pp *PostgresProc) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if err := pp.p.stop(syscall.SIGQUIT); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
	}
	_ = os.RemoveAll(pp.spec.dir)
}

// pgSetup is what every cluster of this process is copied from: one initdb
// per process, then a copy of its data directory per server, which is much
// faster than initdb each time.
var pgSetup struct {
	once     sync.Once
	bin      string // the postgres binary
	template string // an initdb'ed data directory
	password string // of the superuser "postgres"
	cred     *syscall.Credential
	owner    [2]int // uid, gid that must own the data
	skip     string
	err      error
}

func preparePG() {
	s := &pgSetup
	initdb, ok := lookBinary("initdb", pgBinDirs()...)
	if !ok {
		s.skip = pgMissing
		return
	}
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real // /usr/local/bin/initdb may link to /usr/lib/postgresql/15/bin
	}
	s.bin = filepath.Join(filepath.Dir(initdb), "postgres")
	if _, err := os.Stat(s.bin); err != nil {
		s.skip = pgMissing
		return
	}
	s.owner = [2]int{os.Getuid(), os.Getgid()}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			s.skip = "running as root, PostgreSQL needs a \"postgres\" user to run as (apt-get install postgresql creates it), or set DATABASE_URL"
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		s.owner = [2]int{uid, gid}
	}
	dir, err := subDir("pg-template")
	if err != nil {
		s.err = err
		return
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s.password = hex.EncodeToString(pw)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		s.err = err
		return
	}
	if err := chownTree(dir, s.owner); err != nil {
		s.err = err
		return
	}
	s.template = filepath.Join(dir, "data")
	p, err := startProc(procSpec{
		name: "initdb",
		argv: []string{initdb, "-D", s.template, "-U", "postgres",
			"-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
			"--pwfile=" + pwfile, "--no-sync"},
		dir:     dir, // root's working directory may be unreadable for postgres
		cred:    s.cred,
		quitSig: syscall.SIGKILL,
	})
	if err != nil {
		s.err = err
		return
	}
	if !p.waitExit(2 * waitTimeout) {
		_ = p.stop(syscall.SIGKILL)
		s.err = fmt.Errorf("initdb did not finish in %v%s", 2*waitTimeout, p.logTail())
		return
	}
	if p.waitErr != nil {
		s.err = fmt.Errorf("initdb: %v%s", p.waitErr, p.logTail())
		return
	}
	_ = os.Remove(pwfile)
}

// pgBinDirs lists /usr/lib/postgresql/*/bin, newest version first.
func pgBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	ver := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return ver(dirs[i]) > ver(dirs[j]) })
	return append(dirs, "/usr/local/pgsql/bin")
}

func chownTree(dir string, owner [2]int) error {
	if owner[0] == os.Getuid() && owner[1] == os.Getgid() {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, owner[0], owner[1])
	})
}

// startPostgresProc copies the template cluster into a new directory and
// starts postgres on a free port. skip is set when PostgreSQL is missing.
func startPostgresProc(name string) (pp *PostgresProc, skip string, err error) {
	s := &pgSetup
	s.once.Do(preparePG)
	if s.skip != "" || s.err != nil {
		return nil, s.skip, s.err
	}
	dir, err := subDir(name)
	if err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", s.template, data).CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", fmt.Errorf("copy PostgreSQL template: %v: %s", err, out)
	}
	if err := chownTree(dir, s.owner); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	pp = &PostgresProc{dataDir: data}
	p, port, err := startOnPort(false, func(port int) (*proc, error) {
		pp.spec = procSpec{
			name: fmt.Sprintf("postgres 127.0.0.1:%d", port),
			argv: []string{s.bin, "-D", data, "-p", strconv.Itoa(port),
				"-c", "listen_addresses=127.0.0.1",
				"-c", "unix_socket_directories=", // TCP only: no socket lock files to go stale
				"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
				"-c", "max_connections=200",
			},
			dir:     dir,
			cred:    s.cred,
			quitSig: syscall.SIGQUIT, // immediate shutdown, which still cleans up shared memory
		}
		pp.DSN = fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", s.password, port)
		p, err := startProc(pp.spec)
		if err != nil {
			return nil, err
		}
		return p, readyOrRetry(p, pgReady(pp.DSN, data))
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	pp.p, pp.addr = p, localAddr(port)
	return pp, "", nil
}

// pgReady checks that the server on dsn accepts a query and is ours (its
// data directory is dataDir), not another server holding the port.
func pgReady(dsn, dataDir string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		var dd string
		if err := c.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dd); err != nil {
			return err
		}
		if filepath.Clean(dd) != filepath.Clean(dataDir) {
			return fmt.Errorf("the server on the port is another one (data directory %s)", dd)
		}
		return nil
	}
}
