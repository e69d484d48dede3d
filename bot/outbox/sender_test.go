package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/metrics"
	"nuanjia/bot/outbox"
	"nuanjia/bot/wxapi"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// The parts serve wires together fit the sender's interfaces.
var (
	_ outbox.Queue  = (*store.Store)(nil)
	_ outbox.Client = (*wxapi.Client)(nil)
	_ outbox.Meter  = bot.Meter(nil)
	_ outbox.Meter  = (*metrics.Metrics)(nil)
)

const (
	csSend       = "message/custom/send"
	templateSend = "message/template/send"
)

// env is one database, one fake WeChat and one Redis token cache; every
// sender made from it acts like a separate serve process.
type env struct {
	st   *store.Store
	url  string // the database, for more processes
	rd   *store.Redis
	fake *wxtest.FakeAPI
	api  string
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	url := pgtest.URL(tb)
	e := &env{url: url, fake: wxtest.NewFakeAPI()}
	e.st = e.openStore(tb)
	e.rd = testkit.Redis(tb)
	srv := httptest.NewServer(e.fake)
	tb.Cleanup(srv.Close)
	e.api = srv.URL
	return e
}

// openStore is a connection pool of its own to the env's database.
func (e *env) openStore(tb testing.TB) *store.Store { return testkit.StoreAt(tb, e.url) }

func (e *env) client(tb testing.TB) *wxapi.Client {
	tb.Helper()
	c, err := wxapi.New(wxapi.Config{
		AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: e.api,
		Tokens: store.NewRedisTokens(e.rd.Client(), e.rd.Prefix()),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// sender is a sender on the env's store with test timings: backoff long
// enough that a retry is never due by itself during a test (tests make it
// due with makeDue, as time passing would).
func (e *env) sender(tb testing.TB, cfg outbox.Config, meter outbox.Meter) *outbox.Sender {
	tb.Helper()
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffCap = time.Minute, 2*time.Minute
	}
	return outbox.New(cfg, e.st, e.client(tb), meter, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// wrote stores a member's text message sent ago.
func (e *env) wrote(tb testing.TB, openID string, ago time.Duration) {
	tb.Helper()
	e.exec(tb, `INSERT INTO messages (openid, direction, type, text, at) VALUES ($1, 'in', 'text', '你好', now() - make_interval(secs => $2))`,
		openID, ago.Seconds())
}

// row writes an outbox row as the handling transaction does.
type row struct {
	openID, channel, fallback, status, text string
	template                                *bot.Template
	dueIn                                   time.Duration // not due before then
	mediaKind, mediaID                      string
	atMostOnce                              bool
}

func (e *env) add(tb testing.TB, r row) int64 {
	tb.Helper()
	if r.channel == "" {
		r.channel = bot.ChannelCustomerService
	}
	if r.status == "" {
		r.status = bot.OutboxPending
	}
	var tplID, tplURL string
	var tplData any
	if r.template != nil {
		tplID, tplURL = r.template.ID, r.template.URL
		var kv []string
		for k, v := range r.template.Data {
			kv = append(kv, fmt.Sprintf("%q:%q", k, v))
		}
		tplData = "{" + strings.Join(kv, ",") + "}"
	}
	var id int64
	err := e.st.DB().Get(&id, `INSERT INTO outbox (openid, kind, channel, fallback, text, template_id, template_url,
			template_data, status, next_attempt, media_kind, media_id, at_most_once)
		VALUES ($1, 'reply', $2, $3, $4, $5, $6, $7::jsonb, $8, now() + make_interval(secs => $9), $10, $11, $12) RETURNING id`,
		r.openID, r.channel, r.fallback, r.text, tplID, tplURL, tplData, r.status, r.dueIn.Seconds(),
		r.mediaKind, r.mediaID, r.atMostOnce)
	if err != nil {
		tb.Fatalf("insert outbox row: %v", err)
	}
	return id
}

func (e *env) exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	if _, err := e.st.DB().Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// makeDue makes every waiting row due now, as time passing would.
func (e *env) makeDue(tb testing.TB) {
	tb.Helper()
	e.exec(tb, `UPDATE outbox SET next_attempt = now() WHERE status = 'pending'`)
}

// state is a row as a director looking at the database sees it.
type state struct {
	Status   string     `db:"status"`
	Channel  string     `db:"channel"`
	Attempts int        `db:"attempts"`
	Kind     string     `db:"last_error_kind"`
	Code     *int       `db:"last_error_code"`
	Error    string     `db:"last_error"`
	Reason   string     `db:"failed_reason"`
	SentAt   *time.Time `db:"sent_at"`
	MsgID    *int64     `db:"wechat_msg_id"`
	Waits    bool       `db:"waits"` // next_attempt is in the future
}

func (e *env) state(tb testing.TB, id int64) state {
	tb.Helper()
	var s state
	if err := e.st.DB().Get(&s, `SELECT status, channel, attempts, last_error_kind, last_error_code, last_error,
			failed_reason, sent_at, wechat_msg_id, next_attempt > now() AS waits
		FROM outbox WHERE id = $1`, id); err != nil {
		tb.Fatal(err)
	}
	return s
}

// texts are the customer-service texts WeChat took for openID, in order.
func (e *env) texts(openID string) []string {
	var out []string
	for _, c := range e.fake.Calls(csSend) {
		if c.Errcode == 0 && c.Status == 200 && c.JSON["touser"] == openID {
			text, _ := c.JSON["text"].(map[string]any)
			s, _ := text["content"].(string)
			out = append(out, s)
		}
	}
	return out
}

func sendDue(tb testing.TB, s *outbox.Sender) int {
	tb.Helper()
	n, err := s.SendDue(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// drain runs rounds until nothing is claimed.
func drain(tb testing.TB, s *outbox.Sender) {
	tb.Helper()
	for range 100 {
		if sendDue(tb, s) == 0 {
			return
		}
	}
	tb.Fatal("the outbox never emptied")
}

func TestPendingRowIsSentOnce(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oWang", time.Minute)
	id := e.add(t, row{openID: "oWang", text: "您好，龙山分会电话 0859-0000001"})

	if n := sendDue(t, s); n != 1 {
		t.Fatalf("SendDue claimed %d rows", n)
	}
	drain(t, s)
	if got := e.texts("oWang"); !slices.Equal(got, []string{"您好，龙山分会电话 0859-0000001"}) {
		t.Fatalf("WeChat got %q", got)
	}
	st := e.state(t, id)
	if st.Status != bot.OutboxSent || st.Attempts != 1 || st.SentAt == nil || st.Channel != bot.ChannelCustomerService {
		t.Errorf("row: %+v", st)
	}
	if n := len(e.fake.Calls(csSend)); n != 1 {
		t.Errorf("custom/send called %d times", n)
	}
}

// A member's row that is not due yet (a reply waiting a moment behind its
// passive answer, or a retry's backoff) holds back the rows after it.
func TestRowNotYetDueHoldsBackTheMembersLaterRows(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oLi", time.Second)
	first := e.add(t, row{openID: "oLi", text: "回复", dueIn: 30 * time.Second})
	more := e.add(t, row{openID: "oLi", text: "还有一条"})

	drain(t, s)
	if n := len(e.fake.Calls(csSend)); n != 0 {
		t.Fatalf("sent %d messages before the member's first row was due", n)
	}
	e.makeDue(t)
	drain(t, s)
	if got := e.texts("oLi"); !slices.Equal(got, []string{"回复", "还有一条"}) {
		t.Fatalf("WeChat got %q", got)
	}
	for _, id := range []int64{first, more} {
		if st := e.state(t, id); st.Status != bot.OutboxSent || st.Channel != bot.ChannelCustomerService || st.Attempts != 1 {
			t.Errorf("row %d: %+v", id, st)
		}
	}
}

func TestRetryLaterBacksOffThenSucceeds(t *testing.T) {
	e := newEnv(t)
	m := metrics.New(slog.New(slog.DiscardHandler))
	s := e.sender(t, outbox.Config{}, m)
	e.wrote(t, "oZhang", time.Minute)
	id := e.add(t, row{openID: "oZhang", text: "工资的事我们记下了"})
	e.fake.Status5xx(csSend, 1)
	e.fake.FailNext(csSend, 45009, 1)

	for attempt := 1; attempt <= 2; attempt++ {
		drain(t, s)
		st := e.state(t, id)
		if st.Status != bot.OutboxPending || !st.Waits || st.Attempts != attempt || st.Kind != "retry_later" {
			t.Fatalf("after failure %d: %+v", attempt, st)
		}
		if len(e.texts("oZhang")) != 0 {
			t.Fatal("delivered while failing")
		}
		e.makeDue(t)
	}
	drain(t, s)
	st := e.state(t, id)
	if st.Status != bot.OutboxSent || st.Attempts != 3 || st.Code == nil || *st.Code != 45009 ||
		st.Error != "message/custom/send: errcode 45009: injected by wxtest.FakeAPI" {
		t.Fatalf("after the retries: %+v", st)
	}
	if got := e.texts("oZhang"); len(got) != 1 {
		t.Fatalf("WeChat took %d copies", len(got))
	}
	body := scrape(t, m)
	for _, want := range []string{
		`nuanjia_outbox_sends_total{channel="customer_service",result="retry_later"} 2`,
		`nuanjia_outbox_sends_total{channel="customer_service",result="sent"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestRetriesAreBounded(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{MaxAttempts: 3}, nil)
	e.wrote(t, "oZhao", time.Minute)
	id := e.add(t, row{openID: "oZhao", text: "您的求助已转给主任"})
	next := e.add(t, row{openID: "oZhao", text: "下一条"})
	e.fake.FailNext(csSend, -1, 3) // WeChat's system error, three times

	for range 5 {
		drain(t, s)
		if st := e.state(t, id); st.Status == bot.OutboxFailed {
			break
		}
		e.makeDue(t)
	}
	st := e.state(t, id)
	if st.Status != bot.OutboxFailed || st.Reason != bot.FailedMaxAttempts || st.Attempts != 3 ||
		st.Kind != "retry_later" || st.Code == nil || *st.Code != -1 {
		t.Fatalf("row: %+v", st)
	}
	// The member's next message goes once the failed one is given up.
	drain(t, s)
	if got := e.texts("oZhao"); !slices.Equal(got, []string{"下一条"}) {
		t.Errorf("WeChat took %q", got)
	}
	if st := e.state(t, next); st.Status != bot.OutboxSent {
		t.Errorf("next row: %+v", st)
	}
	if n := len(e.fake.Calls(csSend)); n != 4 {
		t.Errorf("custom/send called %d times, want 3 failures and 1 success", n)
	}
}

func TestBadTokenIsRetried(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oSun", time.Minute)
	id := e.add(t, row{openID: "oSun", text: "hi"})
	e.fake.SetCredentials(wxtest.FakeAppID, "rotated-secret") // the account's secret was changed

	drain(t, s)
	st := e.state(t, id)
	if st.Status != bot.OutboxPending || !st.Waits || st.Kind != "bad_token" || st.Code == nil || *st.Code != 40125 ||
		!strings.HasPrefix(st.Error, "stable_token: ") {
		t.Fatalf("row: %+v", st)
	}
	e.fake.SetCredentials(wxtest.FakeAppID, wxtest.FakeSecret)
	e.makeDue(t)
	drain(t, s)
	if st := e.state(t, id); st.Status != bot.OutboxSent || st.Attempts != 2 {
		t.Fatalf("row: %+v", st)
	}
}

func TestWindowClosedFallsBackToTemplate(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oDirector", time.Minute)
	const text = "新求助：龙山泓发煤矿 工伤"
	tpl := &bot.Template{ID: "TPL_ALERT", URL: "https://example.org/case/1", Data: map[string]string{"first": "新求助", "keyword1": "#1"}}
	id := e.add(t, row{openID: "oDirector", text: text, fallback: bot.ChannelTemplate, template: tpl})
	e.fake.FailNext(csSend, 45015, 1) // WeChat says the window is closed

	drain(t, s)
	st := e.state(t, id)
	if st.Status != bot.OutboxSent || st.Channel != bot.ChannelTemplate || st.Attempts != 2 || st.MsgID == nil || *st.MsgID == 0 ||
		st.Kind != "outside_window" || st.Code == nil || *st.Code != 45015 {
		t.Fatalf("row: %+v", st)
	}
	if strings.Contains(st.Error, text) || strings.Contains(st.Error, "煤矿") {
		t.Errorf("last_error holds the message text: %q", st.Error)
	}
	calls := e.fake.Calls(templateSend)
	if len(calls) != 1 {
		t.Fatalf("template/send called %d times", len(calls))
	}
	c := calls[0].JSON
	data, _ := c["data"].(map[string]any)
	first, _ := data["first"].(map[string]any)
	if c["touser"] != "oDirector" || c["template_id"] != "TPL_ALERT" || c["url"] != tpl.URL || first["value"] != "新求助" {
		t.Errorf("template/send body: %s", calls[0].Body)
	}
}

func TestFinalRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		reason string
	}{
		{"window closed, no fallback", 45015, bot.FailedOutsideWindow},
		{"quota used up at WeChat", 45047, bot.FailedCSLimit},
		{"unfollowed", 43004, bot.FailedUnsubscribed},
		{"invalid openid", 40003, bot.FailedPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.sender(t, outbox.Config{}, nil)
			e.wrote(t, "oQian", time.Minute)
			const text = "秘密的求助内容"
			id := e.add(t, row{openID: "oQian", text: text})
			e.fake.FailNext(csSend, tc.code, 1)
			drain(t, s)
			st := e.state(t, id)
			if st.Status != bot.OutboxFailed || st.Reason != tc.reason || st.Attempts != 1 || st.Code == nil || *st.Code != tc.code {
				t.Fatalf("row: %+v", st)
			}
			if strings.Contains(st.Error, text) {
				t.Errorf("last_error holds the message text: %q", st.Error)
			}
			if n := len(e.fake.Calls(csSend)); n != 1 {
				t.Errorf("custom/send called %d times", n)
			}
		})
	}
}

func TestSixthCustomerServiceMessageIsNotSent(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oZhou", 10*time.Minute)
	var rows []int64
	for i := range 6 {
		rows = append(rows, e.add(t, row{openID: "oZhou", text: fmt.Sprintf("第%d条", i+1)}))
	}
	alert := e.add(t, row{openID: "oZhou", text: "第7条", fallback: bot.ChannelTemplate,
		template: &bot.Template{ID: "TPL", Data: map[string]string{"first": "提醒"}}})

	drain(t, s)
	if got := e.texts("oZhou"); len(got) != 5 {
		t.Fatalf("WeChat took %d customer-service messages after one member message: %q", len(got), got)
	}
	if n := len(e.fake.Calls(csSend)); n != 5 {
		t.Fatalf("custom/send called %d times", n)
	}
	if st := e.state(t, rows[5]); st.Status != bot.OutboxFailed || st.Reason != bot.FailedCSLimit || st.Code != nil {
		t.Errorf("6th row: %+v", st)
	}
	if st := e.state(t, alert); st.Status != bot.OutboxSent || st.Channel != bot.ChannelTemplate {
		t.Errorf("7th row, with a template fallback: %+v", st)
	}

	// The member writes again: five more are allowed.
	e.wrote(t, "oZhou", 0)
	e.add(t, row{openID: "oZhou", text: "新的回复"})
	drain(t, s)
	if got := e.texts("oZhou"); len(got) != 6 || got[5] != "新的回复" {
		t.Errorf("after the member wrote again WeChat took %q", got)
	}
}

func TestOutsideTheWindowWithoutCallingWeChat(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oWu", 49*time.Hour)
	old := e.add(t, row{openID: "oWu", text: "迟到的回复"})
	// A director who never wrote to the account gets the template.
	alert := e.add(t, row{openID: "oDirector", text: "新求助", fallback: bot.ChannelTemplate,
		template: &bot.Template{ID: "TPL", Data: map[string]string{"first": "新求助"}}})
	// A new follower's welcome may follow by customer service for a minute.
	e.exec(t, `INSERT INTO messages (openid, direction, type, event, at) VALUES ('oNew', 'in', 'event', 'subscribe', now())`)
	welcome := e.add(t, row{openID: "oNew", text: "欢迎关注"})

	drain(t, s)
	if st := e.state(t, old); st.Status != bot.OutboxFailed || st.Reason != bot.FailedOutsideWindow {
		t.Errorf("row 49 h after the member's message: %+v", st)
	}
	if st := e.state(t, alert); st.Status != bot.OutboxSent || st.Channel != bot.ChannelTemplate {
		t.Errorf("alert: %+v", st)
	}
	if st := e.state(t, welcome); st.Status != bot.OutboxSent {
		t.Errorf("welcome: %+v", st)
	}
	for _, c := range e.fake.Calls(csSend) {
		if c.JSON["touser"] != "oNew" {
			t.Errorf("custom/send called for %v", c.JSON["touser"])
		}
	}
}

func TestMembersRowsArriveInOrder(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{Workers: 4, PollInterval: 20 * time.Millisecond}, nil)
	e.wrote(t, "oSlow", time.Minute)
	e.wrote(t, "oOther", time.Minute)
	for i := 1; i <= 3; i++ {
		e.add(t, row{openID: "oSlow", text: fmt.Sprintf("slow-%d", i)})
	}
	e.add(t, row{openID: "oOther", text: "other-1"})
	e.fake.Delay(csSend, 300*time.Millisecond) // the first sends are slow

	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, s)
	waitFor(t, "the first sends to reach WeChat", func() bool { return len(e.fake.Calls(csSend)) >= 2 })
	e.fake.Delay(csSend, 0)
	waitFor(t, "every row sent", func() bool { return countStatus(t, e, bot.OutboxSent) == 4 })
	cancel()
	stopped(t, done)

	if got := e.texts("oSlow"); !slices.Equal(got, []string{"slow-1", "slow-2", "slow-3"}) {
		t.Errorf("the member got %q", got)
	}
	if got := e.texts("oOther"); !slices.Equal(got, []string{"other-1"}) {
		t.Errorf("the other member got %q", got)
	}
}

func TestWakeSendsAtOnce(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{PollInterval: time.Hour}, nil)
	e.wrote(t, "oHe", time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, s)
	// Let Run's first look at the empty outbox happen, then write and wake.
	time.Sleep(50 * time.Millisecond)
	e.add(t, row{openID: "oHe", text: "马上到"})
	s.Wake()
	waitFor(t, "the woken sender to send", func() bool { return len(e.texts("oHe")) == 1 })
	cancel()
	stopped(t, done)
}

func TestRowOfASenderThatDiedIsSentAgain(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oMa", time.Minute)
	// A sender claimed these and was killed: one lease has run out, the
	// other sender may still be working on its row.
	dead := e.add(t, row{openID: "oMa", text: "没发出去的回复"})
	e.exec(t, `UPDATE outbox SET status = 'sending', attempts = 1, lease_until = now() - interval '1 second' WHERE id = $1`, dead)
	e.wrote(t, "oNiu", time.Minute)
	alive := e.add(t, row{openID: "oNiu", text: "正在发"})
	e.exec(t, `UPDATE outbox SET status = 'sending', attempts = 1, lease_until = now() + interval '1 minute' WHERE id = $1`, alive)

	drain(t, s)
	if got := e.texts("oMa"); !slices.Equal(got, []string{"没发出去的回复"}) {
		t.Fatalf("WeChat got %q", got)
	}
	if st := e.state(t, dead); st.Status != bot.OutboxSent || st.Attempts != 2 {
		t.Errorf("requeued row: %+v", st)
	}
	if st := e.state(t, alive); st.Status != bot.OutboxSending {
		t.Errorf("row still leased: %+v", st)
	}
	if got := e.texts("oNiu"); len(got) != 0 {
		t.Errorf("a row under a live lease was sent: %q", got)
	}
}

func TestTwoSendersSendEachRowExactlyOnce(t *testing.T) {
	e := newEnv(t)
	const members, perMember = 500, 4
	e.exec(t, `INSERT INTO messages (openid, direction, type, text, at)
		SELECT 'o' || m, 'in', 'text', '你好', now() FROM generate_series(1, $1) m`, members)
	// Rows in the order the pipeline writes them: members interleaved.
	e.exec(t, `INSERT INTO outbox (openid, kind, channel, text, status)
		SELECT 'o' || m, 'reply', 'customer_service', 'o' || m || '/' || k, 'pending'
		FROM generate_series(1, $2) k, generate_series(1, $1) m ORDER BY k, m`, members, perMember)
	// WeChat stumbles now and then.
	e.fake.Status5xx(csSend, 15)
	e.fake.FailNext(csSend, 45009, 15)

	ctx, cancel := context.WithCancel(context.Background())
	var dones []<-chan error
	for range 2 {
		// Each sender is a process of its own: its own pool and client.
		st := e.openStore(t)
		s := outbox.New(outbox.Config{PollInterval: 20 * time.Millisecond, BackoffBase: 5 * time.Millisecond, BackoffCap: 20 * time.Millisecond},
			st, e.client(t), nil, nil)
		dones = append(dones, run(ctx, s))
	}
	waitFor(t, "every row sent", func() bool { return countStatus(t, e, bot.OutboxSent) == members*perMember })
	cancel()
	for _, d := range dones {
		stopped(t, d)
	}

	got := map[string]int{}
	order := map[string][]string{}
	for _, c := range e.fake.Calls(csSend) {
		if c.Errcode != 0 || c.Status != 200 {
			continue
		}
		text, _ := c.JSON["text"].(map[string]any)
		s, _ := text["content"].(string)
		got[s]++
		to, _ := c.JSON["touser"].(string)
		order[to] = append(order[to], s)
	}
	if len(got) != members*perMember {
		t.Errorf("WeChat took %d distinct rows, want %d", len(got), members*perMember)
	}
	dups := 0
	for text, n := range got {
		if n != 1 {
			dups++
			t.Errorf("%s sent %d times", text, n)
		}
	}
	for m := 1; m <= members; m++ {
		to := fmt.Sprintf("o%d", m)
		var want []string
		for k := 1; k <= perMember; k++ {
			want = append(want, fmt.Sprintf("%s/%d", to, k))
		}
		if !slices.Equal(order[to], want) {
			t.Errorf("%s got %q, want %q", to, order[to], want)
		}
	}
	t.Logf("%d rows, %d duplicates, %d calls in all", len(got), dups, len(e.fake.Calls(csSend)))
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{PollInterval: 10 * time.Millisecond, DrainTimeout: 50 * time.Millisecond}, nil)
	e.wrote(t, "oLu", time.Minute)
	id := e.add(t, row{openID: "oLu", text: "卡住的发送"})
	e.fake.Delay(csSend, time.Minute) // WeChat hangs

	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, s)
	waitFor(t, "the send to start", func() bool { return len(e.fake.Calls(csSend)) == 1 })
	cancel()
	stopped(t, done)
	// The cut-off send is due again at once, for a process still running.
	if st := e.state(t, id); st.Status != bot.OutboxPending || st.Waits || st.Attempts != 1 {
		t.Errorf("row after shutdown: %+v", st)
	}
}

func run(ctx context.Context, s *outbox.Sender) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return done
}

// stopped fails the test if Run did not return after its context ended.
// The bound is generous: it catches a hang, not slowness.
func stopped(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// waitFor polls cond until it holds; the bound catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countStatus(t *testing.T, e *env, status string) int {
	t.Helper()
	var n int
	if err := e.st.DB().Get(&n, `SELECT count(*) FROM outbox WHERE status = $1`, status); err != nil {
		t.Fatal(err)
	}
	return n
}

// Evidence passed to a director goes as customer-service image and voice
// messages of the member's media ids.
func TestMediaRowsGoAsMediaMessages(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{}, nil)
	e.wrote(t, "oDirector", time.Minute)
	photo := e.add(t, row{openID: "oDirector", mediaKind: wxapi.MediaImage, mediaID: "MEDIA_PHOTO"})
	voice := e.add(t, row{openID: "oDirector", mediaKind: wxapi.MediaVoice, mediaID: "MEDIA_VOICE"})

	drain(t, s)
	for _, id := range []int64{photo, voice} {
		if st := e.state(t, id); st.Status != bot.OutboxSent || st.Attempts != 1 {
			t.Errorf("row %d: %+v", id, st)
		}
	}
	calls := e.fake.Calls(csSend)
	if len(calls) != 2 {
		t.Fatalf("custom/send called %d times, want 2", len(calls))
	}
	for i, want := range [][2]string{{"image", "MEDIA_PHOTO"}, {"voice", "MEDIA_VOICE"}} {
		c := calls[i].JSON
		media, _ := c[want[0]].(map[string]any)
		if c["touser"] != "oDirector" || c["msgtype"] != want[0] || media["media_id"] != want[1] || c["text"] != nil {
			t.Errorf("call %d: %s", i, calls[i].Body)
		}
	}
}

// An at-most-once row (an alert) whose attempt may have reached WeChat is
// failed, not sent again; one WeChat answered definitely is retried.
func TestAtMostOnceRowIsNotSentTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(f *wxtest.FakeAPI)
		// uncertain: failed after its first attempt; otherwise retried
		// and sent on the second.
		uncertain bool
		calls     int // to custom/send in all
	}{
		{"timeout", func(f *wxtest.FakeAPI) { f.Delay(csSend, time.Minute) }, true, 1},
		{"5xx", func(f *wxtest.FakeAPI) { f.Status5xx(csSend, 1) }, true, 1},
		{"system error", func(f *wxtest.FakeAPI) { f.FailNext(csSend, -1, 1) }, false, 2},
		{"quota", func(f *wxtest.FakeAPI) { f.FailNext(csSend, 45009, 1) }, false, 2},
		// No token, no call: nothing can have reached WeChat.
		{"token endpoint 5xx", func(f *wxtest.FakeAPI) { f.Status5xx("stable_token", 1) }, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.sender(t, outbox.Config{SendTimeout: 300 * time.Millisecond}, nil)
			e.wrote(t, "oDirector", time.Minute)
			id := e.add(t, row{openID: "oDirector", text: "新求助 #101", atMostOnce: true})
			tc.inject(e.fake)

			drain(t, s)
			e.fake.Delay(csSend, 0)
			st := e.state(t, id)
			if tc.uncertain {
				if st.Status != bot.OutboxFailed || st.Reason != bot.FailedUncertain || st.Attempts != 1 || st.Kind != "retry_later" {
					t.Fatalf("row: %+v", st)
				}
			} else if st.Status != bot.OutboxPending || !st.Waits || st.Attempts != 1 {
				t.Fatalf("row after a definite failure: %+v", st)
			}
			e.makeDue(t)
			drain(t, s)
			if n := len(e.fake.Calls(csSend)); n != tc.calls {
				t.Errorf("custom/send called %d times, want %d", n, tc.calls)
			}
			if st := e.state(t, id); !tc.uncertain && (st.Status != bot.OutboxSent || st.Attempts != 2) {
				t.Errorf("row after the retry: %+v", st)
			}
		})
	}
}

// A row that may be sent twice is retried after a timeout, as before.
func TestTimedOutRowIsRetried(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{SendTimeout: 300 * time.Millisecond}, nil)
	e.wrote(t, "oHe", time.Minute)
	id := e.add(t, row{openID: "oHe", text: "您的求助已收到"})
	e.fake.Delay(csSend, time.Minute)

	drain(t, s)
	if st := e.state(t, id); st.Status != bot.OutboxPending || !st.Waits || st.Attempts != 1 || st.Kind != "retry_later" {
		t.Fatalf("row after the timeout: %+v", st)
	}
	e.fake.Delay(csSend, 0)
	e.makeDue(t)
	drain(t, s)
	if st := e.state(t, id); st.Status != bot.OutboxSent || st.Attempts != 2 {
		t.Fatalf("row after the retry: %+v", st)
	}
	if n := len(e.fake.Calls(csSend)); n != 2 {
		t.Errorf("custom/send called %d times, want 2", n)
	}
}

// A sender stopping mid-send cannot tell whether WeChat took the message:
// an at-most-once row is failed rather than left for another process.
func TestAtMostOnceRowCutOffAtShutdownIsFailed(t *testing.T) {
	e := newEnv(t)
	s := e.sender(t, outbox.Config{PollInterval: 10 * time.Millisecond, DrainTimeout: 50 * time.Millisecond}, nil)
	e.wrote(t, "oDirector", time.Minute)
	id := e.add(t, row{openID: "oDirector", text: "新求助 #102", atMostOnce: true})
	e.fake.Delay(csSend, time.Minute) // WeChat hangs

	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, s)
	waitFor(t, "the send to start", func() bool { return len(e.fake.Calls(csSend)) == 1 })
	cancel()
	stopped(t, done)
	if st := e.state(t, id); st.Status != bot.OutboxFailed || st.Reason != bot.FailedUncertain || st.Attempts != 1 {
		t.Errorf("row after shutdown: %+v", st)
	}
}
