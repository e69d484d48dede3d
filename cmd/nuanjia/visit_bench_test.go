package main

// The county's size: 35,000 members with a confirmed visit each, every
// visit's reminder falling due within one hour. It measures the visit
// scheduler's rounds (reminders written per second, memory) and then the
// outbox sender delivering them through the fake WeChat API with 45009
// (the API's rate limit) injected: sends are paced by the sender's
// workers, and every reminder arrives exactly once. Run it with
//
//	go test ./cmd/nuanjia/ -run '^$' -bench VisitReminders -benchtime 1x

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/outbox"
	"nuanjia/bot/wxapi"
	"nuanjia/config"
	"nuanjia/handlers"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

const (
	benchVisitMembers = 35000
	benchFailed45009  = 200 // calls the fake answers with 45009 before it lets sends through
)

// inflight counts the calls being served at once, and the most seen.
type inflight struct {
	next      http.Handler
	now, peak atomic.Int64
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.now.Add(1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer f.now.Add(-1)
	f.next.ServeHTTP(w, r)
}

func BenchmarkVisitReminders(b *testing.B) {
	ctx := context.Background()
	url := cfImportedDB(b)
	st := testkit.StoreAt(b, url)
	rd := testkit.Redis(b)
	zone := reportZone()
	// Members in the 48-hour window (a message each), each with a visit
	// two to three hours from now and its -2h reminder due within the hour.
	st.DB().MustExec(`INSERT INTO members (openid, first_seen, last_seen, subscribed, branch_id, last_inbound_at, member_no)
		SELECT 'o-bench-v' || i, now(), now(), true, 'longlin-xinzhou', now(), nextval('member_numbers')
		FROM generate_series(1, $1) i`, benchVisitMembers)
	st.DB().MustExec(`INSERT INTO messages (openid, direction, type, text, at)
		SELECT 'o-bench-v' || i, 'in', 'text', '你好', now() FROM generate_series(1, $1) i`, benchVisitMembers)
	st.DB().MustExec(`INSERT INTO visits (openid, member_no, branch_id, at, purpose, status, booked_by)
		SELECT m.openid, m.member_no, m.branch_id, now() + interval '2 hours' + (random() * interval '1 hour'),
			'上门访视', 'confirmed', 'member'
		FROM members m WHERE m.openid LIKE 'o-bench-v%'`)
	st.DB().MustExec(`INSERT INTO visit_reminders (visit_id, offset_label, due_at, status)
		SELECT id, '-2h', at - interval '2 hours', 'pending' FROM visits`)
	st.DB().MustExec(`ANALYZE`)

	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	kb, err := st.LoadKnowledge(ctx)
	if err != nil {
		b.Fatal(err)
	}
	desk := handlers.VisitDesk{
		Desk:     handlers.Desk{Knowledge: storedKnowledge{kb: kb}, Zone: zone},
		Settings: visitSettings(cfg),
	}
	// An hour on, every reminder is due. (A morning digest, if the hour
	// is one, goes in the last round only.)
	now := time.Now().Add(time.Hour)

	var before, after runtime.MemStats
	rounds, written := 0, 0
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	began := time.Now()
	for b.Loop() {
		for {
			var res handlers.RoundResult
			if err := st.WithVisits(ctx, func(book bot.VisitClock) (err error) {
				res, err = desk.Round(ctx, book, now)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			rounds++
			written += res.Reminders
			if !res.Full {
				break
			}
		}
	}
	took := time.Since(began)
	runtime.ReadMemStats(&after)
	b.StopTimer()
	if written != benchVisitMembers {
		b.Fatalf("the rounds wrote %d reminders, want %d", written, benchVisitMembers)
	}
	b.ReportMetric(float64(written)/took.Seconds(), "reminders/s")
	b.ReportMetric(float64(rounds), "rounds")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(written), "B/reminder")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(written), "allocs/reminder")

	// The sender delivers them; WeChat first refuses with 45009.
	fake := wxtest.NewFakeAPI()
	fake.FailNext("message/custom/send", 45009, benchFailed45009)
	count := &inflight{next: fake}
	srv := httptest.NewServer(count)
	b.Cleanup(srv.Close)
	client, err := wxapi.New(wxapi.Config{AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: srv.URL,
		Tokens: store.NewRedisTokens(rd.Client(), rd.Prefix())})
	if err != nil {
		b.Fatal(err)
	}
	sender := outbox.New(outbox.Config{BackoffBase: 200 * time.Millisecond, BackoffCap: time.Second}, st, client, nil, nil)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = sender.Run(runCtx) }()
	sendStart := time.Now()
	deadline := sendStart.Add(10 * time.Minute)
	for {
		var left int
		if err := st.DB().Get(&left, `SELECT count(*) FROM outbox WHERE kind = 'reminder' AND status <> 'sent'`); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d reminders not sent after 10 minutes", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sendTook := time.Since(sendStart)
	cancel()
	wg.Wait()
	calls := fake.Calls("message/custom/send")
	to := map[string]int{}
	for _, c := range calls {
		if c.Status == http.StatusOK && c.JSON != nil {
			if u, ok := c.JSON["touser"].(string); ok {
				to[u]++
			}
		}
	}
	if len(calls) != benchVisitMembers+benchFailed45009 {
		b.Errorf("%d send calls, want %d reminders + %d refused", len(calls), benchVisitMembers, benchFailed45009)
	}
	if len(to) != benchVisitMembers {
		b.Errorf("%d members got a call, want %d", len(to), benchVisitMembers)
	}
	b.ReportMetric(float64(benchVisitMembers)/sendTook.Seconds(), "sends/s")
	b.ReportMetric(float64(count.peak.Load()), "peak-inflight")
}
