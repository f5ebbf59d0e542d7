package testserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

const mysqlMissing = "MariaDB server (mariadbd or mysqld, and mariadb-install-db) not found on PATH or in /usr/sbin: install it (apt-get install mariadb-server) or set MYSQL_URL"

var sharedMySQL struct {
	once  sync.Once
	base  *mysql.Config // connects to the server; DBName is set per test
	admin *sql.DB       // creates and drops the databases
	out   outcome
}

// MySQL returns a mysql:// URL ("mysql://user:pass@127.0.0.1:port/t_...",
// the form dbstore.Open takes) naming a fresh, empty database created for
// t in a shared MariaDB (or MySQL) server and dropped at t's cleanup.
// [MySQLDSN] is the same for database/sql with go-sql-driver/mysql.
//
// The server is MYSQL_URL's, or DATABASE_URL's when it is a mysql:// URL
// (its user needs CREATE and DROP on databases), else one started once
// per test process: mariadb-install-db, then mariadbd on a free port of
// 127.0.0.1 in a temporary directory (durability off: no doublewrite, no
// flush at commit, no binary log), as the mysql user when running as root.
func MySQL(t testing.TB) string {
	t.Helper()
	cfg := newMySQLDB(t)
	u := url.URL{Scheme: "mysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/" + cfg.DBName}
	return u.String()
}

// MySQLDSN is [MySQL] in go-sql-driver/mysql's DSN form
// ("user:pass@tcp(127.0.0.1:port)/t_..."), with parseTime and
// multiStatements off (their defaults).
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return newMySQLDB(t).FormatDSN()
}

func newMySQLDB(t testing.TB) *mysql.Config {
	t.Helper()
	s := &sharedMySQL
	startOnce(t, &s.once, &s.out, startSharedMySQL)
	s.out.check(t)

	name := "t_" + tag() + "_" + strconv.FormatUint(prefixN.Add(1), 36)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("testserver: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Logf("testserver: drop database %s: %v", name, err)
		}
	})
	cfg := s.base.Clone()
	cfg.DBName = name
	return cfg
}

// mysqlEnvURL is the configured server's URL, if any.
func mysqlEnvURL() string {
	if v := strings.TrimSpace(os.Getenv("MYSQL_URL")); v != "" {
		return v
	}
	if v := strings.TrimSpace(os.Getenv("DATABASE_URL")); strings.HasPrefix(strings.ToLower(v), "mysql://") {
		return v
	}
	return ""
}

// mysqlConfig reads mysql://user:pass@host:port/db into a driver config.
func mysqlConfig(raw string) (*mysql.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "mysql") {
		return nil, errors.New("not a valid mysql:// URL")
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.Timeout = 10 * time.Second
	return cfg, nil
}

func startSharedMySQL() outcome {
	s := &sharedMySQL
	if env := mysqlEnvURL(); env != "" {
		cfg, err := mysqlConfig(env)
		if err != nil {
			return outcome{err: fmt.Errorf("MYSQL_URL or DATABASE_URL: %v", err)}
		}
		redacted := cfg.User + "@" + cfg.Addr
		db, err := openAdmin(cfg)
		if err != nil {
			return outcome{skip: fmt.Sprintf("the configured MySQL server (%s) cannot be used: %v", redacted, err)}
		}
		s.base, s.admin = cfg, db
		atShutdown(func() { _ = db.Close() })
		return outcome{msg: "using the configured MySQL server " + redacted}
	}
	mp, skip, err := startMySQLProc("mysql-shared")
	if skip != "" || err != nil {
		return outcome{skip: skip, err: err}
	}
	db, err := openAdmin(mp.cfg)
	if err != nil {
		mp.close()
		return outcome{err: err}
	}
	s.base, s.admin = mp.cfg, db
	atShutdown(func() {
		_ = db.Close()
		mp.close()
	})
	return outcome{msg: fmt.Sprintf("started shared MariaDB %s, pid %d, in %s", mp.cfg.Addr, mp.p.pid(), mp.dir)}
}

// openAdmin opens a pool on cfg without a database and checks it answers.
func openAdmin(cfg *mysql.Config) (*sql.DB, error) {
	c := cfg.Clone()
	c.DBName = ""
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// mysqlProc is a MariaDB server this process started.
type mysqlProc struct {
	cfg *mysql.Config
	dir string
	p   *proc
}

func (mp *mysqlProc) close() {
	if err := mp.p.stop(syscall.SIGKILL); err != nil { // its data is thrown away
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
	}
	_ = os.RemoveAll(mp.dir)
}

// mysqlDirs are searched after PATH for the MariaDB binaries.
var mysqlDirs = []string{"/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/usr/local/mysql/scripts"}

// mysqlBinaries finds the server and the install tool.
func mysqlBinaries() (server, install string, ok bool) {
	for _, name := range []string{"mariadbd", "mysqld"} {
		if server, ok = lookBinary(name, mysqlDirs...); ok {
			break
		}
	}
	if !ok {
		return "", "", false
	}
	for _, name := range []string{"mariadb-install-db", "mysql_install_db"} {
		if install, ok = lookBinary(name, mysqlDirs...); ok {
			return server, install, true
		}
	}
	return "", "", false
}

// startMySQLProc initialises a data directory and starts mariadbd on a
// free port. It connects as a user made by an init file, with a random
// password, over TCP only. skip is set when MariaDB is missing.
func startMySQLProc(name string) (mp *mysqlProc, skip string, err error) {
	server, install, ok := mysqlBinaries()
	if !ok {
		return nil, mysqlMissing, nil
	}
	var cred *syscall.Credential
	owner := [2]int{os.Getuid(), os.Getgid()}
	if os.Geteuid() == 0 { // mariadbd refuses root without --user=root
		u, err := user.Lookup("mysql")
		if err != nil {
			return nil, "running as root, MariaDB needs a \"mysql\" user to run as (apt-get install mariadb-server creates it), or set MYSQL_URL", nil
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		owner = [2]int{uid, gid}
	}
	dir, err := subDir(name)
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (*mysqlProc, string, error) {
		_ = os.RemoveAll(dir)
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	initFile := filepath.Join(dir, "init.sql")
	initSQL := "CREATE USER IF NOT EXISTS 'sessions'@'%' IDENTIFIED BY '" + password + "';\n" +
		"GRANT ALL PRIVILEGES ON *.* TO 'sessions'@'%' WITH GRANT OPTION;\n"
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(data, 0o700); err != nil {
		return fail(err)
	}
	if err := chownTree(dir, owner); err != nil {
		return fail(err)
	}
	ip, err := startProc(procSpec{
		name: "mariadb-install-db",
		argv: []string{install, "--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
			"--skip-test-db", "--skip-name-resolve"},
		dir:     dir,
		cred:    cred,
		quitSig: syscall.SIGKILL,
	})
	if err != nil {
		return fail(err)
	}
	if !ip.waitExit(2 * waitTimeout) {
		_ = ip.stop(syscall.SIGKILL)
		return fail(fmt.Errorf("mariadb-install-db did not finish in %v%s", 2*waitTimeout, ip.logTail()))
	}
	if ip.waitErr != nil {
		return fail(fmt.Errorf("mariadb-install-db: %v%s", ip.waitErr, ip.logTail()))
	}
	mp = &mysqlProc{dir: dir}
	p, _, err := startOnPort(false, func(port int) (*proc, error) {
		spec := procSpec{
			name: fmt.Sprintf("mariadbd 127.0.0.1:%d", port),
			argv: []string{server, "--no-defaults", "--datadir=" + data,
				"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1",
				"--socket=" + filepath.Join(data, "mysqld.sock"), "--pid-file=" + filepath.Join(data, "mysqld.pid"),
				"--skip-name-resolve", "--init-file=" + initFile, "--skip-log-bin",
				"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
				"--innodb-buffer-pool-size=64M", "--innodb-use-native-aio=0", "--innodb-flush-method=fsync",
				"--max-connections=300",
			},
			dir:     dir,
			cred:    cred,
			quitSig: syscall.SIGKILL,
		}
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "sessions", password, "tcp", localAddr(port)
		cfg.Timeout = 10 * time.Second
		mp.cfg = cfg
		p, err := startProc(spec)
		if err != nil {
			return nil, err
		}
		return p, readyOrRetry(p, mysqlReady(cfg, data))
	})
	if err != nil {
		return fail(err)
	}
	mp.p = p
	return mp, "", nil
}

// mysqlReady checks that the server on cfg's address accepts a query and
// is ours (its data directory is dataDir).
func mysqlReady(cfg *mysql.Config, dataDir string) func() error {
	return func() error {
		c := cfg.Clone()
		c.Timeout = 2 * time.Second
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return err
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var dd string
		if err := db.QueryRowContext(ctx, "SELECT @@datadir").Scan(&dd); err != nil {
			return err
		}
		if filepath.Clean(dd) != filepath.Clean(dataDir) {
			return fmt.Errorf("the server on the port is another one (data directory %s)", dd)
		}
		return nil
	}
}
