//go:build faults

// The fault-injection run: make faults, or
//
//	go test -tags faults -count=1 -v -timeout 45m ./internal/faults/
//	FAULTS_SCALE=0.2 go test -tags faults -count=1 -v ./internal/faults/ -run 'TestFaults/kill-9'
//
// It starts a private PostgreSQL and redis-server (never the shared ones),
// builds cmd/nuanjia, and for each fault, on a fresh database and a fresh
// fake WeChat API: migrates, imports kb/demo.yaml, runs `nuanjia serve` as
// a child process, streams greetings ("你好", one reply each) from a new
// member per push the way WeChat delivers them (5 s timeout, retried 5 s
// after an attempt began, four attempts), injects the fault, waits for the
// backlog to drain and counts what every member got back: the passive
// answers WeChat saw and the customer-service texts the fake API took.
//
// Knobs (flags after -args, or the environment):
//
//	-faults.scale   FAULTS_SCALE   multiplies stream lengths and fault timings (1)
//	-faults.rate    FAULTS_RATE    multiplies the push rates (1)
//	-faults.backlog FAULTS_BACKLOG_WAIT  how long the backlog may take to drain (3m)
//	-faults.keep    FAULTS_KEEP=1  keep the temp folder (logs, spool, PostgreSQL) even on success
//	-faults.report  FAULTS_REPORT  also write the Markdown table to this file
//	                FAULTS_BIN     run this nuanjia binary instead of building ./cmd/nuanjia
package faults

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nuanjia/internal/wxtest"
)

const (
	appID     = "wx5823bf96d3bd56c7"
	appSecret = "secret"
	token     = "nuanjiatoken"
)

var (
	flagScale   = flag.Float64("faults.scale", envFloat("FAULTS_SCALE", 1), "multiplies stream lengths and fault timings")
	flagRate    = flag.Float64("faults.rate", envFloat("FAULTS_RATE", 1), "multiplies the push rates")
	flagBacklog = flag.Duration("faults.backlog", envDuration("FAULTS_BACKLOG_WAIT", 3*time.Minute), "bound on the backlog draining after a fault")
	flagKeep    = flag.Bool("faults.keep", os.Getenv("FAULTS_KEEP") == "1", "keep the temp folder even on success")
	flagReport  = flag.String("faults.report", os.Getenv("FAULTS_REPORT"), "also write the Markdown table to this file")
)

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// faultSpec is one fault: a stream of pushes and what is done to the
// system while it runs. inject returns when the fault is over and the
// system is whole again ("recovery"); nil inject means recovery is the end
// of the stream.
type faultSpec struct {
	name           string
	code           string // two letters, in openids
	rate           float64
	dur            time.Duration
	malformedEvery int
	inject         func(ctx context.Context, f *faultRun) error
}

var faultSpecs = []faultSpec{
	{name: "pg-down-60s", code: "pd", rate: 50, dur: 90 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		f.sleepUntil(ctx, 15*time.Second)
		f.event("pg_ctl stop -m fast")
		if err := f.h.pg.stop(ctx); err != nil {
			return err
		}
		f.event("PostgreSQL stopped")
		f.sleep(ctx, 60*time.Second)
		f.event("pg_ctl start")
		if err := f.h.pg.start(ctx); err != nil {
			return err
		}
		f.event("PostgreSQL up")
		return nil
	}},
	{name: "redis-down-10s", code: "rd", rate: 100, dur: 30 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		f.sleepUntil(ctx, 10*time.Second)
		if err := f.h.rd.kill(); err != nil {
			return err
		}
		f.event("redis-server SIGKILLed")
		f.sleep(ctx, 10*time.Second)
		if err := f.h.rd.start(ctx); err != nil {
			return err
		}
		f.event("redis-server up again (empty, same port)")
		return nil
	}},
	{name: "redis-stall-8s", code: "rs", rate: 100, dur: 30 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		f.sleepUntil(ctx, 10*time.Second)
		if err := f.h.rd.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		f.event("redis-server SIGSTOPped")
		f.sleep(ctx, 8*time.Second)
		if err := f.h.rd.signal(syscall.SIGCONT); err != nil {
			return err
		}
		f.event("redis-server SIGCONTed")
		return nil
	}},
	{name: "kill-9", code: "k9", rate: 300, dur: 40 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		for i := 1; i <= 4; i++ {
			f.sleepUntil(ctx, time.Duration(i)*8*time.Second)
			if err := f.serve.kill9(); err != nil {
				return err
			}
			f.event("serve SIGKILLed (%d of 4)", i)
			if err := f.serve.start(ctx, 60*time.Second); err != nil {
				return err
			}
			f.event("serve ready again (%d of 4)", i)
		}
		return nil
	}},
	{name: "pg-lock-8s", code: "pl", rate: 100, dur: 30 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		f.sleepUntil(ctx, 10*time.Second)
		unlock, err := f.lockTable(ctx, "messages")
		if err != nil {
			return err
		}
		f.sleep(ctx, 8*time.Second)
		return unlock()
	}},
	// Handling stalled (the outbox table locked, so every handling
	// transaction waits on its INSERT), then serve is killed: pushes kept
	// and answered "success" at the deadline are left unhandled with nobody
	// waiting, so only the restarted process's sweeper can answer them, and
	// pushes still waiting get no answer, so WeChat's retries must.
	{name: "kill-9-mid-handling", code: "kh", rate: 100, dur: 40 * time.Second, inject: func(ctx context.Context, f *faultRun) error {
		f.sleepUntil(ctx, 10*time.Second)
		unlock, err := f.lockTable(ctx, "outbox")
		if err != nil {
			return err
		}
		f.sleep(ctx, 6*time.Second)
		if err := f.serve.kill9(); err != nil {
			return err
		}
		f.event("serve SIGKILLed with handlings stalled")
		if err := f.serve.start(ctx, 60*time.Second); err != nil {
			return err
		}
		f.event("serve ready again")
		f.sleep(ctx, 2*time.Second)
		return unlock()
	}},
	{name: "malformed-1000", code: "mf", rate: 1000, dur: 10 * time.Second, malformedEvery: 10},
}

// harness is what every fault shares: the private servers and the binary.
type harness struct {
	root, base, bin string
	pg              *pgServer
	rd              *redisServer
	signer          wxtest.Signer
}

// faultRun is one fault being run.
type faultRun struct {
	h      *harness
	spec   faultSpec
	t      *testing.T
	t0     time.Time
	serve  *serveProc
	db     *sql.DB
	events []string
}

// lockTable takes an ACCESS EXCLUSIVE lock on table from a connection of
// its own, in an open transaction: every statement of serve's that touches
// the table waits. unlock commits and closes the connection.
func (f *faultRun) lockTable(ctx context.Context, table string) (unlock func() error, err error) {
	conn, err := f.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		conn.Close()
		return nil, err
	}
	// table is one of this file's constants, never input.
	if _, err := conn.ExecContext(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		conn.Close()
		return nil, err
	}
	f.event("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", table)
	return func() error {
		defer conn.Close()
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
			return err
		}
		f.event("COMMIT: %s lock released", table)
		return nil
	}, nil
}

func (f *faultRun) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * *flagScale)
}

func (f *faultRun) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(f.scaled(d)):
	case <-ctx.Done():
	}
}

func (f *faultRun) sleepUntil(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(time.Until(f.t0.Add(f.scaled(d)))):
	case <-ctx.Done():
	}
}

func (f *faultRun) event(format string, args ...any) {
	line := fmt.Sprintf("t+%5.1fs  %s", time.Since(f.t0).Seconds(), fmt.Sprintf(format, args...))
	f.events = append(f.events, line)
	f.t.Log(line)
	f.serve.marker("%s", line)
}

// row is one line of the table.
type row struct {
	name         string
	rate         float64 // asked for (all pushes)
	achieved     float64
	tally        tally
	stored       int
	foreign      int           // rows of members no valid push had (malformed ones)
	backlog      time.Duration // from recovery to the first moment the backlog was empty
	backlogDone  bool
	afterStream  time.Duration // from the last attempt to the backlog empty
	logFile      string
	harnessError string
	notes        []string
}

func (r row) problems() []string {
	var p []string
	if r.harnessError != "" {
		p = append(p, "harness: "+r.harnessError)
	}
	if r.tally.lost > 0 {
		p = append(p, fmt.Sprintf("%d lost", r.tally.lost))
	}
	if r.tally.duplicated > 0 {
		p = append(p, fmt.Sprintf("%d duplicated", r.tally.duplicated))
	}
	if r.tally.slowest >= attemptTimeout {
		p = append(p, fmt.Sprintf("slowest answer %.2f s ≥ 5 s", r.tally.slowest.Seconds()))
	}
	if len(r.tally.malformedBad) > 0 {
		p = append(p, fmt.Sprintf("%d of %d malformed pushes got no 4xx", len(r.tally.malformedBad), r.tally.malformed))
	}
	if r.foreign > 0 {
		p = append(p, fmt.Sprintf("%d rows stored for malformed pushes", r.foreign))
	}
	return p
}

func TestFaults(t *testing.T) {
	if *flagScale <= 0 || *flagRate <= 0 {
		t.Fatal("FAULTS_SCALE and FAULTS_RATE must be positive")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	h := setup(ctx, t)

	var rows []row
	for _, spec := range faultSpecs {
		t.Run(spec.name, func(t *testing.T) {
			r := runFault(ctx, t, h, spec)
			rows = append(rows, r)
		})
	}
	if len(rows) == 0 {
		return
	}
	table := markdownTable(rows)
	fmt.Printf("\n%s\n", table)
	if *flagReport != "" {
		if err := os.WriteFile(*flagReport, []byte(table), 0o644); err != nil {
			t.Errorf("writing %s: %v", *flagReport, err)
		}
	}
	for _, r := range rows {
		if p := r.problems(); len(p) > 0 {
			t.Logf("FAILED %s: %s (serve's log: %s)", r.name, strings.Join(p, "; "), r.logFile)
		}
	}
	if t.Failed() || *flagKeep {
		t.Logf("kept %s (and PostgreSQL's data %s)", h.base, h.pg.data)
	}
}

// setup builds the binary and starts the private servers, cleaned up at
// the end (kept when the test failed or -faults.keep).
func setup(ctx context.Context, t *testing.T) *harness {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp("", "nuanjia-faults-")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{root: root, base: base, signer: wxtest.Signer{Token: token, AppID: appID}}
	t.Cleanup(func() {
		if !t.Failed() && !*flagKeep {
			_ = os.RemoveAll(base)
		}
	})
	t.Logf("scale %.2g (durations), rate ×%.2g; temp folder %s", *flagScale, *flagRate, base)

	if h.bin = os.Getenv("FAULTS_BIN"); h.bin != "" {
		t.Logf("using FAULTS_BIN=%s instead of building ./cmd/nuanjia", h.bin)
	} else {
		h.bin = filepath.Join(base, "nuanjia")
		if _, err := run(ctx, 5*time.Minute, root, nil, "go", "build", "-o", h.bin, "./cmd/nuanjia"); err != nil {
			t.Fatalf("go build ./cmd/nuanjia: %v", err)
		}
	}
	if h.pg, err = startPG(ctx, base); err != nil {
		t.Fatalf("private PostgreSQL: %v", err)
	}
	t.Cleanup(func() { h.pg.close(t.Failed() || *flagKeep) })
	t.Logf("private PostgreSQL on 127.0.0.1:%d (data %s)", h.pg.port, h.pg.data)
	if h.rd, err = startRedis(ctx, base); err != nil {
		t.Fatalf("private Redis: %v", err)
	}
	t.Cleanup(h.rd.close)
	t.Logf("private Redis on 127.0.0.1:%d", h.rd.port)
	return h
}

// runFault runs one fault from a fresh database to its row.
func runFault(ctx context.Context, t *testing.T, h *harness, spec faultSpec) (r row) {
	dir := filepath.Join(h.base, spec.name)
	r = row{name: spec.name, rate: spec.rate * *flagRate, logFile: filepath.Join(dir, "serve.log")}
	fail := func(format string, args ...any) {
		r.harnessError = fmt.Sprintf(format, args...)
		t.Errorf("%s (serve's log: %s)", r.harnessError, r.logFile)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		fail("%v", err)
		return r
	}

	// A fresh database, Redis and fake WeChat API.
	if !h.pg.running(ctx) {
		if err := h.pg.start(ctx); err != nil {
			fail("PostgreSQL: %v", err)
			return r
		}
	}
	dbName := "faults_" + strings.ReplaceAll(spec.name, "-", "_")
	if err := h.pg.createDB(ctx, dbName); err != nil {
		fail("create database: %v", err)
		return r
	}
	if err := h.rd.restart(ctx); err != nil {
		fail("Redis: %v", err)
		return r
	}
	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(appID, appSecret)
	api := httptest.NewServer(fake)
	defer api.Close()

	port, err := freePort()
	if err != nil {
		fail("%v", err)
		return r
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dbURL := h.pg.url(dbName)
	env := buildEnv(map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": h.rd.url(), "HTTP_ADDR": addr,
		"WECHAT_APP_ID": appID, "WECHAT_APP_SECRET": appSecret, "WECHAT_TOKEN": token,
		"WECHAT_API_BASE": api.URL, "SPOOL_DIR": spool,
		"SHUTDOWN_TIMEOUT": "5s", "SWEEP_EVERY": "2s", "SWEEP_GRACE": "10s", "SPOOL_REPLAY_EVERY": "1s",
	})
	for _, args := range [][]string{{"migrate"}, {"import", filepath.Join(h.root, "kb", "demo.yaml")}} {
		if _, err := run(ctx, 2*time.Minute, dir, env, h.bin, args...); err != nil {
			fail("nuanjia %s: %v", args[0], err)
			return r
		}
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		fail("%v", err)
		return r
	}
	defer db.Close()
	db.SetMaxOpenConns(4)

	sp := &serveProc{bin: h.bin, dir: dir, addr: addr, logFile: r.logFile, env: env}
	if err := sp.start(ctx, 60*time.Second); err != nil {
		fail("%v", err)
		return r
	}
	defer func() {
		if sp.alive() {
			sp.stop(20 * time.Second)
		}
	}()
	sim, err := newWechatSim("http://"+addr+"/wechat", h.signer)
	if err != nil {
		fail("%v", err)
		return r
	}
	defer sim.close()

	// The stream and the fault, side by side.
	f := &faultRun{h: h, spec: spec, t: t, serve: sp, db: db}
	st := stream{
		code: spec.code, rate: r.rate, dur: f.scaled(spec.dur),
		malformedEvery: spec.malformedEvery, maxPushes: 100_000,
	}
	t.Logf("%s: %.0f pushes/s for %.1f s (%d pushes)", spec.name, st.rate, st.dur.Seconds(), int(st.rate*st.dur.Seconds()))
	streamCtx, cancelStream := context.WithTimeout(ctx, st.dur+3*time.Minute)
	defer cancelStream()
	f.t0 = time.Now()
	sp.marker("stream begins: %.0f pushes/s for %.1f s", st.rate, st.dur.Seconds())
	var recovery time.Time // written before recovered is closed
	recovered := make(chan struct{})
	injectErr := make(chan error, 1)
	if spec.inject != nil {
		go func() {
			err := spec.inject(streamCtx, f)
			recovery = time.Now()
			close(recovered)
			injectErr <- err
		}()
	} else {
		injectErr <- nil
	}

	// From recovery on, watch for the first moment the backlog is empty.
	firstEmpty := make(chan time.Time, 1)
	watchCtx, stopWatch := context.WithCancel(streamCtx)
	defer stopWatch()
	go func() {
		select {
		case <-recovered:
		case <-watchCtx.Done():
			return
		}
		for watchCtx.Err() == nil {
			if b, err := backlog(watchCtx, db, spool); err == nil && b.empty() {
				firstEmpty <- time.Now()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	res := sim.runStream(streamCtx, st, f.t0)
	r.achieved = res.achievedRate
	sp.marker("stream: every attempt finished")
	if err := <-injectErr; err != nil {
		fail("injecting %s: %v", spec.name, err)
	}
	if spec.inject == nil {
		recovery = res.t0.Add(res.sendDur)
		close(recovered)
	}
	f.event("recovery counted from t+%.1fs", recovery.Sub(f.t0).Seconds())
	if !sp.alive() {
		t.Logf("serve is not running after the stream; starting it to drain the backlog")
		r.notes = append(r.notes, "serve had exited by the end of the stream")
		if err := sp.start(ctx, 60*time.Second); err != nil {
			fail("%v", err)
		}
	}

	// Wait for the backlog: kept pushes handled, nothing due in the
	// outbox, the spool empty.
	deadline := time.Now().Add(*flagBacklog)
	var last backlogState
	for {
		b, err := backlog(ctx, db, spool)
		if err == nil && b.empty() {
			r.backlogDone = true
			r.afterStream = time.Since(res.done)
			break
		}
		last, last.err = b, err
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.backlogDone {
		empty := time.Now()
		select {
		case empty = <-firstEmpty:
		default: // the watcher had not seen it empty yet
		}
		r.backlog = empty.Sub(recovery)
		if r.backlog < 0 {
			r.backlog = 0
		}
	} else {
		r.notes = append(r.notes, fmt.Sprintf("backlog not drained after %s: %s", *flagBacklog, last))
	}
	stopWatch()

	// Stop serve (so no send is in flight), then count.
	graceful, exit := sp.stop(20 * time.Second)
	if !graceful {
		r.notes = append(r.notes, "serve did not stop gracefully on SIGTERM: "+exit)
	}
	cs, csFailed := csDelivered(fake.Calls("/cgi-bin/message/custom/send"))
	r.tally = count(res.results, cs)
	prefix := sim.openidPrefix(spec.code)
	qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
	defer qcancel()
	if err := db.QueryRowContext(qctx, `SELECT count(*) FROM messages WHERE openid LIKE $1`, prefix+"%").Scan(&r.stored); err != nil {
		fail("counting stored pushes: %v", err)
	}
	if err := db.QueryRowContext(qctx, `SELECT count(*) FROM messages WHERE openid NOT LIKE $1`, prefix+"%").Scan(&r.foreign); err != nil {
		fail("counting foreign rows: %v", err)
	}

	// What happened, in the verbose log.
	tl := r.tally
	t.Logf("%s: %d valid pushes (%.0f/s achieved, all kinds), %d attempts (%d retries, %d timeouts); p50 %s p99 %s max %s",
		spec.name, tl.sent, r.achieved, tl.attempts, tl.retried, tl.timeouts,
		tl.percentile(0.5).Round(time.Millisecond), tl.percentile(0.99).Round(time.Millisecond), tl.slowest.Round(time.Millisecond))
	t.Logf("  attempts: %s", tl.statusLine())
	t.Logf("  replies: %d passive only, %d by customer service only, %d both; %d customer-service calls failed, %d to other openids",
		tl.passiveOnly, tl.csOnly, tl.both, csFailed, tl.strayCS)
	t.Logf("  stored %d rows for %d valid pushes; %d rows for anything else", r.stored, tl.sent, r.foreign)
	if sum, err := outboxSummary(qctx, db); err == nil {
		t.Logf("  outbox rows by channel/status: %s", sum)
	}
	if tl.malformed > 0 {
		t.Logf("  malformed: %d sent, %d got a 4xx %v; slowest %s", tl.malformed, tl.malformed4xx, tl.malformedByKind, tl.malformedSlowest.Round(time.Millisecond))
	}
	if r.backlogDone {
		t.Logf("  backlog empty %.1f s after recovery, %.1f s after the last attempt", r.backlog.Seconds(), r.afterStream.Seconds())
	}
	for _, n := range r.notes {
		t.Logf("  note: %s", n)
	}
	explain(qctx, t, db, "lost", tl.lostList, cs)
	explain(qctx, t, db, "duplicated", tl.dupList, cs)
	explain(qctx, t, db, "refused valid", tl.refusedList, cs)
	explain(qctx, t, db, "malformed without 4xx", tl.malformedBad, cs)
	counts, other := summarizeLog(r.logFile)
	t.Logf("  serve's log %s:", r.logFile)
	for i, c := range counts {
		if i == 15 {
			t.Logf("    … %d more kinds", len(counts)-i)
			break
		}
		t.Logf("    %6d× %-5s %s", c.n, c.level, c.msg)
	}
	for _, l := range other {
		if !strings.HasPrefix(l, "=== harness") {
			t.Logf("    not JSON: %.200s", l)
		}
	}
	if p := r.problems(); len(p) > 0 {
		for _, c := range counts {
			if c.level == "ERROR" || c.level == "WARN" {
				t.Logf("    e.g. %.400s", c.example)
			}
		}
		if r.harnessError == "" { // already reported
			t.Errorf("%s: %s (serve's log: %s)", spec.name, strings.Join(p, "; "), r.logFile)
		}
	}
	return r
}

// explain prints a few pushes of a kind with their attempts and what the
// database holds for their member.
func explain(ctx context.Context, t *testing.T, db *sql.DB, what string, list []*pushResult, cs map[string]int) {
	if len(list) == 0 {
		return
	}
	t.Logf("  %d %s pushes, e.g.:", len(list), what)
	for i, r := range list {
		if i == 6 {
			break
		}
		id := r.p.openid
		if len(id) > 40 {
			id = id[:40] + "…"
		}
		t.Logf("    #%d %s (%s): %s; customer-service texts %d", r.p.n, id, r.p.kind, r.history(), cs[r.p.openid])
		if r.p.openid == "" || !r.p.valid() {
			continue
		}
		rows, err := db.QueryContext(ctx, `SELECT id, coalesce(dedupe_key,''), handled_at IS NOT NULL, stored_at FROM messages WHERE openid = $1 ORDER BY id`, r.p.openid)
		if err == nil {
			for rows.Next() {
				var mid int64
				var key string
				var handled bool
				var stored time.Time
				if rows.Scan(&mid, &key, &handled, &stored) == nil {
					t.Logf("      message %d %s handled=%v stored %s", mid, key, handled, stored.Format("15:04:05.000"))
				}
			}
			rows.Close()
		}
		rows, err = db.QueryContext(ctx, `SELECT id, channel, status, attempts, last_error_kind, left(last_error, 120), coalesce(cause_message_id, 0) FROM outbox WHERE openid = $1 ORDER BY id`, r.p.openid)
		if err == nil {
			for rows.Next() {
				var oid, cause int64
				var channel, status, kind, lastErr string
				var attempts int
				if rows.Scan(&oid, &channel, &status, &attempts, &kind, &lastErr, &cause) == nil {
					t.Logf("      outbox %d for message %d: %s %s attempts=%d %s %s", oid, cause, channel, status, attempts, kind, lastErr)
				}
			}
			rows.Close()
		}
	}
}

// outboxSummary counts outbox rows by channel and status.
func outboxSummary(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT channel, status, count(*) FROM outbox GROUP BY 1, 2 ORDER BY 3 DESC`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var channel, status string
		var n int
		if err := rows.Scan(&channel, &status, &n); err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s/%s×%d", channel, status, n))
	}
	return strings.Join(parts, ", "), rows.Err()
}

// backlogState is what is still to do after a fault.
type backlogState struct {
	unhandled, due, spooled int
	err                     error
}

func (b backlogState) empty() bool {
	return b.err == nil && b.unhandled == 0 && b.due == 0 && b.spooled == 0
}

func (b backlogState) String() string {
	if b.err != nil {
		return b.err.Error()
	}
	return fmt.Sprintf("%d kept pushes unhandled, %d outbox rows due, %d spool files", b.unhandled, b.due, b.spooled)
}

func backlog(ctx context.Context, db *sql.DB, spool string) (b backlogState, err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err = db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE direction = 'in' AND handled_at IS NULL`).Scan(&b.unhandled); err != nil {
		return b, err
	}
	if err = db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status IN ('held', 'pending', 'sending')`).Scan(&b.due); err != nil {
		return b, err
	}
	err = filepath.WalkDir(spool, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".jsonl") {
			b.spooled++
		}
		return nil
	})
	return b, err
}

// markdownTable is the table for README.
func markdownTable(rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fault run: FAULTS_SCALE=%g (stream lengths and fault timings), FAULTS_RATE=%g; %s.\n\n",
		*flagScale, *flagRate, time.Now().Format("2006-01-02 15:04"))
	b.WriteString("| fault | sent | stored | answered | lost | duplicated | refused valid pushes | slowest answer WeChat saw | backlog handled after recovery |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		name := r.name
		if r.tally.malformed > 0 {
			name += fmt.Sprintf(" (%.0f/s achieved of %.0f/s; %d malformed, %d got 4xx)", r.achieved, r.rate, r.tally.malformed, r.tally.malformed4xx)
		} else if r.achieved > 0 && r.achieved < 0.95*r.rate {
			name += fmt.Sprintf(" (%.0f/s achieved of %.0f/s)", r.achieved, r.rate)
		}
		if r.harnessError != "" {
			name += " (harness error)"
		}
		bl := "not drained"
		if r.backlogDone {
			bl = fmt.Sprintf("%.1f s", r.backlog.Seconds())
		} else if r.harnessError == "" {
			bl = fmt.Sprintf("not drained in %s", *flagBacklog)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %.2f s | %s |\n", name, r.tally.sent, r.stored,
			r.tally.answered, r.tally.lost, r.tally.duplicated, r.tally.refusedValid, r.tally.slowest.Seconds(), bl)
	}
	b.WriteString("\nsent: valid pushes, each from a new member saying 你好 (one reply expected); stored: their rows in `messages`; " +
		"answered: pushes whose member got ≥1 reply (passive, or a customer-service text the fake API took); lost = sent − answered; " +
		"duplicated: members who got >1 reply (a passive reply counts once however many attempts got it); " +
		"refused valid pushes: valid pushes that got a 4xx; slowest answer: the longest attempt WeChat waited for (5 s is its limit); " +
		"backlog handled: from the fault's end to the first moment no kept push was unhandled, no outbox row was due and the spool was empty.\n")
	return b.String()
}
