// Package pgtest runs a private PostgreSQL 15 cluster for tests: its own
// data directory (initdb), a loopback TCP port and its own socket
// directory, fsync on (what Plumb's figures measure), a fresh database
// per test. It is not a _test package so that e2e/ and bench/ can use it.
//
// The cluster is Debian's postgresql-15 binaries from BinDir, run
// directly, or as the postgres user when the test runs as root
// (PostgreSQL refuses to run as root). No system cluster is needed or
// touched.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir holds initdb, pg_ctl and postgres.
const BinDir = "/usr/lib/postgresql/15/bin"

// User is the cluster's superuser; it connects without a password
// (trust, loopback only).
const User = "plumb"

// Cluster is one running (or stopped) PostgreSQL cluster.
type Cluster struct {
	dir     string // root of everything: data/, sock/, log
	port    int
	cred    *syscall.Credential // nil: run as ourselves
	mu      sync.Mutex
	running bool
}

var dbSeq atomic.Uint64

// Start creates and starts a cluster; t's cleanup stops it and removes its
// files. A missing PostgreSQL is a test failure naming scripts/ci-deps.sh.
func Start(t testing.TB) *Cluster {
	t.Helper()
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			t.Fatalf("PostgreSQL 15 is not installed (%v): run scripts/ci-deps.sh", err)
		}
	}
	c, err := start()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
		_ = os.RemoveAll(c.dir)
	})
	return c
}

func start() (*Cluster, error) {
	dir, err := os.MkdirTemp("", "plumb-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres user (scripts/ci-deps.sh installs postgresql): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	for _, sub := range []string{"data", "sock"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if c.cred != nil {
		// The postgres user must reach its own directories.
		if err := os.Chmod(dir, 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		for _, p := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "sock")} {
			if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				_ = os.RemoveAll(dir)
				return nil, err
			}
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := c.startServer(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of the PostgreSQL binaries, as the postgres user if set.
func (c *Cluster) run(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(BinDir, bin), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func (c *Cluster) startServer() error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", filepath.Join(c.dir, "sock"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=200",
	}, " ")
	out, err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "120", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	c.running = true
	return nil
}

// Stop stops the server (fast shutdown: sessions are cut) and keeps its
// data, for fault tests; Start (or Restart) brings it back on the same
// port.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatalf("pgtest: stop: %v", err)
	}
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "120", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	c.running = false
	return nil
}

// Restart starts a stopped server again; it is Start.
func (c *Cluster) Restart(t testing.TB) { t.Helper(); c.Start(t) }

// Start starts a stopped server again, on the same port and data; a
// running one is left alone.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	if err := c.startServer(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Port is the server's loopback TCP port.
func (c *Cluster) Port() int { return c.port }

// DSN is the URL of database db on the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, c.port, db)
}

// NewDatabase creates a fresh, empty database and returns its DSN.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("plumb_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return c.DSN(name)
}

// Exec runs SQL on database db as the superuser (for tests that break
// things: terminate sessions, corrupt rows).
func (c *Cluster) Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
