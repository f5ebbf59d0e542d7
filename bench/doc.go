// Package bench measures this module's session layer side by side with the
// peers a team would otherwise pick, on the same Gin routes against the same
// real redis-server:
//
//	ours         ginsession + redisstore: Login, then the platform fields
//	ours-plain   ginsession + redisstore, all nine seed fields as plain values
//	ours-sqlite  ginsession + dbstore on an SQLite file (no Redis)
//	gin-contrib  github.com/gin-contrib/sessions with its redis store (redistore, redigo)
//	scs          github.com/alexedwards/scs/v2 + goredisstore, idle timeout 2h (as ours)
//	scs-noidle   scs with its defaults: no idle timeout, so reads never write
//	none         no session middleware at all: the ceiling
//	floor        one plain go-redis GET (SET for writes) of a fixed key: the
//	             cheapest possible Redis-backed session
//
// Every implementation serves the same routes with the same meaning (see
// [Routes]) and is checked by [Verify] to really store and read its session
// before anything is timed. The in-process benchmarks live in this package's
// tests (go test . -run '^$' -bench .); the load driver, which runs
// each implementation as its own server process over loopback HTTP, is
// bench/cmd/load. README.md has the commands and the latest figures.
package bench
