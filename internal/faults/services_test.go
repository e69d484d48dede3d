//go:build faults

package faults

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq"
)

// ---------------------------------------------------------------- helpers

// freePort returns a TCP port on 127.0.0.1 that nobody listened on a
// moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// moduleRoot is the directory holding go.mod, found upwards from here.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// run runs a command to completion with a bound, returning its combined
// output in the error.
func run(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ---------------------------------------------------------------- PostgreSQL

// pgServer is a private PostgreSQL: its own data folder, a free port on
// 127.0.0.1, trust authentication for the user postgres.
type pgServer struct {
	bin, data, logFile string
	port               int
	user               string // runs the server; "" when it is us
	cleanupDir         string // removed at the end (the /var/tmp fallback)
}

// pgBin finds the directory with initdb and pg_ctl, as .ci/services does.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if isExec(filepath.Join(dirs[i], "initdb")) && isExec(filepath.Join(dirs[i], "pg_ctl")) {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("initdb/pg_ctl not found (install the Debian package postgresql)")
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// pgUser is who runs the server: PostgreSQL refuses to run as root, so as
// root it is the user postgres (made by the Debian package) or nuanjia.
func pgUser() (string, error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	for _, u := range []string{"postgres", "nuanjia"} {
		if _, err := user.Lookup(u); err == nil {
			return u, nil
		}
	}
	if _, err := run(context.Background(), 30*time.Second, "/", nil,
		"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "nuanjia"); err != nil {
		return "", err
	}
	return "nuanjia", nil
}

// asUser runs name as u (runuser from /, which u can always enter).
func asUser(u, name string, args ...string) (string, []string) {
	if u == "" {
		return name, args
	}
	return "runuser", append([]string{"-u", u, "--", name}, args...)
}

func chownTo(path, u string) error {
	if u == "" {
		return nil
	}
	usr, err := user.Lookup(u)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(usr.Uid)
	gid, _ := strconv.Atoi(usr.Gid)
	return os.Chown(path, uid, gid)
}

// startPG runs initdb in base/pg (or, when the server's user cannot reach
// base, under /var/tmp) and starts the server on a free port.
func startPG(ctx context.Context, base string) (*pgServer, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	u, err := pgUser()
	if err != nil {
		return nil, err
	}
	pg := &pgServer{bin: bin, user: u}
	name, args := asUser(u, "test", "-x", base)
	if _, err := run(ctx, 10*time.Second, "/", nil, name, args...); err == nil {
		pg.data = filepath.Join(base, "pg")
	} else {
		parent, err := os.MkdirTemp("/var/tmp", "nuanjia-faults-")
		if err != nil {
			return nil, err
		}
		pg.cleanupDir = parent
		if err := chownTo(parent, u); err != nil {
			return nil, err
		}
		pg.data = filepath.Join(parent, "pg")
	}
	if err := os.MkdirAll(pg.data, 0o700); err != nil {
		return nil, err
	}
	if err := chownTo(pg.data, u); err != nil {
		return nil, err
	}
	pg.logFile = filepath.Join(filepath.Dir(pg.data), "postgres.log")
	if f, err := os.Create(pg.logFile); err == nil {
		f.Close()
		_ = chownTo(pg.logFile, u)
	}
	name, args = asUser(u, filepath.Join(bin, "initdb"), "-D", pg.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	if _, err := run(ctx, 2*time.Minute, "/", nil, name, args...); err != nil {
		return nil, err
	}
	conf := "\n# nuanjia fault harness: loopback only, speed over durability (no fault here crashes the OS)\n" +
		"listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\nfull_page_writes = off\n" +
		"max_connections = 200\n"
	f, err := os.OpenFile(filepath.Join(pg.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		return nil, err
	}
	if pg.port, err = freePort(); err != nil {
		return nil, err
	}
	return pg, pg.start(ctx)
}

func (pg *pgServer) pgctl(ctx context.Context, args ...string) error {
	name, a := asUser(pg.user, filepath.Join(pg.bin, "pg_ctl"), append([]string{"-D", pg.data}, args...)...)
	_, err := run(ctx, 90*time.Second, "/", nil, name, a...)
	return err
}

// start starts the server (again) on its port and waits until it answers.
func (pg *pgServer) start(ctx context.Context) error {
	err := pg.pgctl(ctx, "-l", pg.logFile, "-o", "-p "+strconv.Itoa(pg.port), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tailFile(pg.logFile, 20))
	}
	return pg.waitUp(ctx, 30*time.Second)
}

// stop is pg_ctl stop -m fast: clients are disconnected at once.
func (pg *pgServer) stop(ctx context.Context) error {
	return pg.pgctl(ctx, "-m", "fast", "-w", "-t", "60", "stop")
}

func (pg *pgServer) running(ctx context.Context) bool {
	return pg.pgctl(ctx, "status") == nil
}

func (pg *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=3", pg.port, db)
}

func (pg *pgServer) waitUp(ctx context.Context, bound time.Duration) error {
	db, err := sql.Open("postgres", pg.url("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(bound)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(c)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createDB makes a fresh, empty database (dropping one of that name).
func (pg *pgServer) createDB(ctx context.Context, name string) error {
	db, err := sql.Open("postgres", pg.url("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`)
	return err
}

// close stops the server and removes its data.
func (pg *pgServer) close(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if pg.running(ctx) {
		_ = pg.pgctl(ctx, "-m", "immediate", "-w", "-t", "60", "stop")
	}
	if !keep && pg.cleanupDir != "" {
		_ = os.RemoveAll(pg.cleanupDir)
	}
}

// ---------------------------------------------------------------- Redis

// redisServer is a private redis-server run in the foreground as our
// child, so it can be stopped (SIGSTOP), killed and started again.
type redisServer struct {
	port    int
	dir     string
	logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(ctx context.Context, base string) (*redisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found (install the Debian package redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{port: port, dir: filepath.Join(base, "redis"), logFile: filepath.Join(base, "redis.log")}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, err
	}
	return r, r.start(ctx)
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// start starts a new, empty redis-server on the same port.
func (r *redisServer) start(ctx context.Context) error {
	logf, err := os.OpenFile(r.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", r.dir, "--logfile", "")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if redisPing(r.port) == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited at start\n%s", tailFile(r.logFile, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis-server on port %d does not answer\n%s", r.port, tailFile(r.logFile, 20))
}

func (r *redisServer) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New("redis-server is not running")
	}
	return r.cmd.Process.Signal(sig)
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *redisServer) kill() error {
	_ = r.signal(syscall.SIGCONT) // a stopped process dies only once continued
	if err := r.signal(syscall.SIGKILL); err != nil {
		return err
	}
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("redis-server did not die after SIGKILL")
	}
}

// restart gives a fresh, empty Redis on the same port.
func (r *redisServer) restart(ctx context.Context) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		default:
			if err := r.kill(); err != nil {
				return err
			}
		}
	}
	return r.start(ctx)
}

func (r *redisServer) close() { _ = r.kill() }

// redisPing speaks RESP by hand: PING must answer +PONG.
func redisPing(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// ---------------------------------------------------------------- nuanjia serve

// serveProc is `nuanjia serve` as a child process: it can be SIGKILLed
// and started again on the same address. Its output (JSON logs) goes to
// one file across restarts, with a marker line per start.
type serveProc struct {
	bin, dir, addr, logFile string
	env                     []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// buildEnv is our environment without anything nuanjia reads, plus vars.
func buildEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DATABASE_URL", k == "REDIS_URL", k == "HTTP_ADDR", strings.HasPrefix(k, "WECHAT_"),
			strings.HasPrefix(k, "SPOOL_"), strings.HasPrefix(k, "SWEEP_"), k == "SHUTDOWN_TIMEOUT":
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env
}

func (s *serveProc) marker(format string, args ...any) {
	f, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== harness %s: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// start starts serve and waits until it is ready.
func (s *serveProc) start(ctx context.Context, bound time.Duration) error {
	s.mu.Lock()
	s.starts++
	n := s.starts
	s.mu.Unlock()
	s.marker("start serve #%d", n)
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve")
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.marker("serve #%d exited: %v", n, err)
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return s.waitReady(ctx, done, bound)
}

// waitReady polls GET /readyz until 200; a 404 there (no such endpoint
// yet) falls back to /healthz.
func (s *serveProc) waitReady(ctx context.Context, done chan struct{}, bound time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	path := "/readyz"
	deadline := time.Now().Add(bound)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + s.addr + path)
		if err == nil {
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return nil
			case resp.StatusCode == http.StatusNotFound && path == "/readyz":
				path = "/healthz"
				continue
			}
			last = path + " " + resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-done:
			return fmt.Errorf("nuanjia serve exited before it was ready (log %s)\n%s", s.logFile, tailFile(s.logFile, 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nuanjia serve not ready after %s (%s; log %s)", bound, last, s.logFile)
}

// kill9 SIGKILLs serve and waits until it is gone.
func (s *serveProc) kill9() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("serve is not running")
	}
	s.marker("SIGKILL serve")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("serve did not die after SIGKILL")
	}
}

// stop sends SIGTERM and waits up to bound, then SIGKILLs. It reports
// whether serve stopped by itself and its exit.
func (s *serveProc) stop(bound time.Duration) (graceful bool, exit string) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return true, "not running"
	}
	select {
	case <-done:
		return false, "had exited already: " + cmd.ProcessState.String()
	default:
	}
	s.marker("SIGTERM serve")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return true, cmd.ProcessState.String()
	case <-time.After(bound):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return false, "still running after SIGTERM + " + bound.String() + "; SIGKILLed"
	}
}

// alive says whether the current serve process is running.
func (s *serveProc) alive() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// ---------------------------------------------------------------- logs

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logSummary counts serve's JSON log lines by level and message, worst
// first, and returns the lines that are not JSON (panics, harness markers).
type logCount struct {
	level, msg string
	n          int
	example    string
}

func summarizeLog(path string) (counts []logCount, other []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	byKey := map[string]*logCount{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			if strings.TrimSpace(line) != "" && len(other) < 200 {
				other = append(other, line)
			}
			continue
		}
		level, _ := rec["level"].(string)
		msg, _ := rec["msg"].(string)
		key := level + "\x00" + msg
		c := byKey[key]
		if c == nil {
			c = &logCount{level: level, msg: msg, example: line}
			byKey[key] = c
		}
		c.n++
	}
	rank := map[string]int{"ERROR": 0, "WARN": 1, "INFO": 2, "DEBUG": 3}
	for _, c := range byKey {
		counts = append(counts, *c)
	}
	sort.Slice(counts, func(i, j int) bool {
		ri, rj := rank[counts[i].level], rank[counts[j].level]
		if ri != rj {
			return ri < rj
		}
		return counts[i].n > counts[j].n
	})
	return counts, other
}
