package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis/v8"
	"github.com/silenceper/wechat/v2/officialaccount/message"

	"nuanjia/bot"
	"nuanjia/bot/wechat"
	"nuanjia/config"
	"nuanjia/store"
	"nuanjia/store/schema"
)

// benchTexts are typical member messages, so the full path does its real
// understanding work.
func benchTexts() []string {
	return []string{
		"老板拖欠工资三个月了怎么办", "新州计生协电话多少", "生三孩有补贴吗", "孩子在隆林上学要什么手续",
		"你好", "我在龙山煤矿受伤了", "想约个上门访视", "居住证怎么办", "計生協(xié)聯(lián)系電話",
		"longlin xinzhou dianhua", "嗯那个就是我想问一下育儿补贴怎么领", "免费孕检在哪里做",
	}
}

// bench measures the webhook: closed-loop throughput of the full path
// against a floor handler, then the full path's latency at a fixed rate.
func bench(ctx context.Context, e env) error {
	fs := e.flags("bench")
	total := fs.Int("n", 6000, "pushes per throughput run")
	concurrencies := fs.String("c", "16,64", "concurrent senders in the throughput runs, comma-separated")
	members := fs.Int("members", 500, "distinct members sending")
	rate := fs.Int("rate", 300, "pushes per second in the latency run")
	seconds := fs.Int("seconds", 10, "length of the latency run")
	kbFile := fs.String("kb", "kb/demo.yaml", "knowledge base to load")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the (last) full-path run to this file")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	var levels []int
	for _, f := range strings.Split(*concurrencies, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return fmt.Errorf("-c wants numbers such as 16,64, not %q", f)
		}
		levels = append(levels, c)
	}
	cfg, err := config.Load(e.getenv, config.NeedDatabase, config.NeedRedis)
	if err != nil {
		return err
	}
	// The bench writes into a schema and key prefix of its own, dropped at
	// the end, so it never touches the demo's or production's data.
	dsn, dropSchema, err := schema.Create(ctx, cfg.DatabaseURL, "bench_")
	if err != nil {
		return err
	}
	defer dropSchema()
	prefix := "bench:" + hex.EncodeToString(randomBytes(4)) + ":"
	cfg.DatabaseURL = dsn
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.WeChatAppID, cfg.WeChatAppSecret, cfg.WeChatToken = "wxbench000000000", "bench-secret", "benchtoken"
	cfg.WeChatAESKey = ""

	kb, err := loadKnowledge(ctx, e, *kbFile)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The knowledge base goes in before the server starts, so it serves from
	// it exactly as a deployed server does.
	if err := prepareBenchDB(ctx, cfg.DatabaseURL, kb); err != nil {
		return err
	}
	// Replies are passive here; the few that go by customer-service
	// message find no WeChat API (a closed local port) and wait in the
	// outbox, which is dropped with the schema.
	cfg.WeChatAPIBase = "http://127.0.0.1:9"
	if cfg.SpoolDir, err = os.MkdirTemp("", "nuanjia-bench-spool-"); err != nil {
		return err
	}
	defer os.RemoveAll(cfg.SpoolDir)
	full, err := start(ctx, cfg, options{redisPrefix: prefix}, quiet)
	if err != nil {
		return err
	}
	defer full.shutdown()
	defer cleanRedis(full.rd.Client(), prefix)

	floor, err := startFloor(ctx, full.st, full.rd.Client(), cfg.WeChatToken, prefix)
	if err != nil {
		return err
	}
	defer floor.Close()

	gen := &loadGen{
		signer:  wechat.PushSigner{Token: cfg.WeChatToken, AppID: cfg.WeChatAppID},
		members: *members,
		texts:   benchTexts(),
		runID:   time.Now().UnixNano() &^ 0xffffff,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256,
		}},
	}
	fullURL := "http://" + full.addr + "/wechat"
	floorURL := "http://" + floor.Addr + "/wechat"

	fmt.Fprintf(e.stdout, "nuanjia bench: %d pushes a run from %d members, plaintext mode, GOMAXPROCS=%d, one process serving both\n",
		*total, *members, runtimeProcs())
	gen.closedLoop(ctx, fullURL, levels[0], *total/10) // warm-up: connections, caches, plans
	gen.closedLoop(ctx, floorURL, levels[0], *total/10)
	fmt.Fprintf(e.stdout, "%-36s %10s %9s %9s %7s\n", "run", "msgs/s", "p50", "p99", "errors")
	failed := 0
	for _, c := range levels {
		floorRes := gen.closedLoop(ctx, floorURL, c, *total)
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		fullRes := gen.closedLoop(ctx, fullURL, c, *total)
		stopProfile()
		fmt.Fprintln(e.stdout, floorRes.row(fmt.Sprintf("floor, %d senders", c)))
		fmt.Fprintln(e.stdout, fullRes.row(fmt.Sprintf("full path, %d senders", c)))
		fmt.Fprintf(e.stdout, "  full / floor throughput at %d senders: %.0f %%\n", c, 100*fullRes.perSecond()/floorRes.perSecond())
		failed += fullRes.errors + floorRes.errors
	}
	fixed := gen.openLoop(ctx, fullURL, *rate, time.Duration(*seconds)*time.Second)
	fmt.Fprintln(e.stdout, fixed.row(fmt.Sprintf("full path at %d msgs/s for %ds", *rate, *seconds)))
	if failed+fixed.errors > 0 {
		return errors.New("some pushes failed")
	}
	return nil
}

// prepareBenchDB migrates the bench's schema and loads kb into it.
func prepareBenchDB(ctx context.Context, databaseURL string, kb bot.Knowledge) error {
	st, err := store.Open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	return st.ImportKnowledge(ctx, kb)
}

func cleanRedis(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

const (
	sqlCreateFloor = `CREATE TABLE IF NOT EXISTS floor_messages (
		dedupe_key text PRIMARY KEY, openid text NOT NULL, text text NOT NULL, at timestamptz NOT NULL)`
	sqlInsertFloor = `INSERT INTO floor_messages (dedupe_key, openid, text, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (dedupe_key) DO NOTHING`
)

// startFloor serves the least any correct webhook must do per push: check
// the signature, parse the XML, one Redis SET NX, one INSERT. The full
// path's throughput is read against it.
func startFloor(ctx context.Context, st *store.Store, rdb *redis.Client, token, prefix string) (*http.Server, error) {
	if _, err := st.DB().ExecContext(ctx, sqlCreateFloor); err != nil {
		return nil, err
	}
	// Prepared, as the full path's statements are, so the comparison is fair.
	insert, err := st.DB().PreparexContext(ctx, sqlInsertFloor)
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		parts := []string{token, q.Get("timestamp"), q.Get("nonce")}
		sort.Strings(parts)
		sum := sha1.Sum([]byte(parts[0] + parts[1] + parts[2]))
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(q.Get("signature"))) != 1 {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		var m message.MixMessage
		if err == nil {
			err = xml.Unmarshal(body, &m)
		}
		if err != nil {
			http.Error(w, "malformed XML", http.StatusBadRequest)
			return
		}
		key := "m:" + strconv.FormatInt(m.MsgID, 10)
		if err := rdb.SetNX(r.Context(), prefix+"floor:"+key, 1, 10*time.Minute).Err(); err != nil {
			http.Error(w, "redis", http.StatusServiceUnavailable)
			return
		}
		if _, err := insert.ExecContext(r.Context(), key, string(m.FromUserName), m.Content, time.Unix(m.CreateTime, 0)); err != nil {
			http.Error(w, "postgres", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "success")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, Addr: ln.Addr().String(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// loadGen posts signed text pushes with unique MsgIds.
type loadGen struct {
	signer  wechat.PushSigner
	members int
	texts   []string
	client  *http.Client
	runID   int64 // keeps MsgIds unique across runs sharing a database
	seq     atomic.Int64
}

// result is one run's outcome.
type result struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
}

func (r result) perSecond() float64 {
	return float64(len(r.latencies)) / r.elapsed.Seconds()
}

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func (r result) row(name string) string {
	return fmt.Sprintf("%-36s %10.0f %9s %9s %7d", name, r.perSecond(),
		r.percentile(0.50).Round(10*time.Microsecond), r.percentile(0.99).Round(10*time.Microsecond), r.errors)
}

// post sends one push and reports its latency.
func (g *loadGen) post(ctx context.Context, target string) (time.Duration, error) {
	n := g.seq.Add(1)
	now := time.Now().Unix()
	openID := fmt.Sprintf("bench-member-%03d", n%int64(g.members))
	xmlMsg := wechat.TextPush(openID, "gh_bench", g.texts[n%int64(len(g.texts))], g.runID+n, now)
	query, body, err := g.signer.Sign(xmlMsg, now, strconv.FormatInt(n, 36)+hex.EncodeToString(randomBytes(3)))
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"?"+query.Encode(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// tally collects the outcomes of posts made from many goroutines.
type tally struct {
	mu  sync.Mutex
	res result
}

// post sends one push and counts its outcome.
func (t *tally) post(ctx context.Context, g *loadGen, target string) {
	d, err := g.post(ctx, target)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.res.errors++
	} else {
		t.res.latencies = append(t.res.latencies, d)
	}
}

// closedLoop sends total pushes from c senders, each waiting for its answer.
func (g *loadGen) closedLoop(ctx context.Context, target string, c, total int) result {
	var t tally
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				t.post(ctx, g, target)
			}
		}()
	}
	wg.Wait()
	t.res.elapsed = time.Since(start)
	return t.res
}

// openLoop sends at a fixed rate regardless of answers, as WeChat does.
func (g *loadGen) openLoop(ctx context.Context, target string, rate int, length time.Duration) result {
	var t tally
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	for time.Since(start) < length {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.post(ctx, g, target)
		}()
	}
	wg.Wait()
	t.res.elapsed = time.Since(start)
	return t.res
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// startCPUProfile profiles the process (server and load generator) to file;
// the returned func stops it. An empty file name profiles nothing.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
