package broadcast_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/broadcast"
	"nuanjia/bot/tagsync"
	"nuanjia/bot/wxapi"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// The parts serve wires together fit the scheduler's interfaces.
var (
	_ broadcast.Store  = (*store.Store)(nil)
	_ broadcast.Client = (*wxapi.Client)(nil)
)

const (
	sendall = "message/mass/sendall"
	preview = "message/mass/preview"

	xinzhou       = "longlin-xinzhou"
	zhebao        = "longlin-zhebao"
	tianshengqiao = "longlin-tianshengqiao"
	park          = "industrial-park"
)

// world is one database with the demo branches, one fake WeChat, one
// Redis token cache and a clock the test moves; each scheduler made from
// it is a serve process of its own.
type world struct {
	url  string
	st   *store.Store
	rd   *store.Redis
	fake *wxtest.FakeAPI
	api  string
	logs *testkit.LogBuffer
	zone *time.Location

	mu  sync.Mutex
	now time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{url: pgtest.URL(t), fake: wxtest.NewFakeAPI(), logs: &testkit.LogBuffer{}, now: time.Now().Truncate(time.Second)}
	w.zone = shanghai(t)
	w.st = testkit.StoreAt(t, w.url)
	w.rd = testkit.Redis(t)
	srv := httptest.NewServer(w.fake)
	t.Cleanup(srv.Close)
	w.api = srv.URL
	if err := w.st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", w.logs.String())
		}
	})
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func (w *world) logger() *slog.Logger { return slog.New(slog.NewTextHandler(w.logs, nil)) }

func (w *world) client(t *testing.T, timeout time.Duration) *wxapi.Client {
	t.Helper()
	cfg := wxapi.Config{AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: w.api,
		Tokens: store.NewRedisTokens(w.rd.Client(), w.rd.Prefix()), Logger: w.logger()}
	if timeout > 0 {
		cfg.HTTPClient = &http.Client{Timeout: timeout}
	}
	c, err := wxapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scheduler is a scheduler of its own process: its own pool and client.
func (w *world) scheduler(t *testing.T, st broadcast.Store, wx broadcast.Client, limit int) *broadcast.Scheduler {
	t.Helper()
	if st == nil {
		st = testkit.StoreAt(t, w.url)
	}
	if wx == nil {
		wx = w.client(t, 0)
	}
	return broadcast.NewScheduler(broadcast.Config{Limit: limit, Zone: w.zone, Now: w.clock, RetryAfter: time.Minute},
		st, wx, w.logger())
}

func (w *world) round(t *testing.T, s *broadcast.Scheduler) broadcast.Result {
	t.Helper()
	res, err := s.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// members adds followers of a branch, as a QR code scan does.
func (w *world) members(t *testing.T, branch string, openIDs ...string) {
	t.Helper()
	for _, id := range openIDs {
		if _, err := w.st.DB().Exec(`INSERT INTO members (openid, first_seen, last_seen, branch_id) VALUES ($1, now(), now(), $2)`,
			id, branch); err != nil {
			t.Fatal(err)
		}
	}
}

// syncTags runs a tag sync round, as serve does every TAG_SYNC_EVERY.
func (w *world) syncTags(t *testing.T) {
	t.Helper()
	if _, err := tagsync.New(tagsync.Config{}, w.st, w.client(t, 0), w.logger()).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// add schedules a broadcast as `broadcast add` does, with the quota of
// limit 4.
func (w *world) add(t *testing.T, b broadcast.Broadcast) int64 {
	t.Helper()
	if b.CreatedBy == "" {
		b.CreatedBy = "staff:test"
	}
	months := broadcast.Months(b, w.zone)
	id, err := w.st.AddBroadcast(context.Background(), b, months, func(q broadcast.QuotaState) error {
		return broadcast.CheckQuota(b, 4, months, q, w.zone)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (w *world) broadcast(t *testing.T, id int64) broadcast.Broadcast {
	t.Helper()
	b, err := w.st.Broadcast(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *world) tagOf(t *testing.T, branch string) int64 {
	t.Helper()
	var id int64
	if err := w.st.DB().Get(&id, `SELECT COALESCE(tag_id, 0) FROM branches WHERE id = $1`, branch); err != nil {
		t.Fatal(err)
	}
	return id
}

// reached is every openid the fake's mass sends went to, one entry per
// delivery.
func reached(sends []wxtest.MassSend) []string {
	var out []string
	for _, s := range sends {
		out = append(out, s.Recipients...)
	}
	slices.Sort(out)
	return out
}

// A broadcast for the three Longlin branches goes once, at its time, to
// their three tags only; the preview goes first to --preview-to; its
// figures show once WeChat's MASSSENDJOBFINISH reports come.
func TestLonglinBroadcastGoesOnceAtItsTimeToTheirTags(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-xz-1", "o-xz-2")
	w.members(t, zhebao, "o-zb-1")
	w.members(t, tianshengqiao, "o-tsq-1")
	w.members(t, park, "o-park-1")
	w.syncTags(t)
	s := w.scheduler(t, nil, nil, 4)

	text := "春节返乡人员请到分会领取“五个一”服务卡。"
	id := w.add(t, broadcast.Broadcast{Text: text, At: w.clock().Add(30 * time.Minute), PreviewTo: "o-staff",
		Branches: []string{xinzhou, zhebao, tianshengqiao}})

	w.round(t, s)
	if p := w.fake.Previews(); len(p) != 1 || p[0].ToUser != "o-staff" || p[0].Text != text {
		t.Fatalf("previews before its time: %+v, want one to o-staff with the text", p)
	}
	if n := len(w.fake.MassSends()); n != 0 {
		t.Fatalf("%d mass sends before its time", n)
	}
	if b := w.broadcast(t, id); b.Status != broadcast.StatusPreviewed {
		t.Errorf("after its preview: %s, want previewed", b.Status)
	}

	w.advance(30 * time.Minute)
	res := w.round(t, s)
	w.round(t, s)
	w.advance(time.Hour)
	w.round(t, s)
	sends := w.fake.MassSends()
	if res.Sent != 1 || len(sends) != 3 {
		t.Fatalf("at its time: %+v, %d mass sends; want 1 broadcast in 3 sends", res, len(sends))
	}
	var tags []int64
	for _, m := range sends {
		tags = append(tags, m.TagID)
		if m.ToAll || m.Text != text || m.ClientMsgID == "" {
			t.Errorf("mass send %+v: want the text by tag with a clientmsgid", m)
		}
	}
	slices.Sort(tags)
	want := []int64{w.tagOf(t, xinzhou), w.tagOf(t, zhebao), w.tagOf(t, tianshengqiao)}
	slices.Sort(want)
	if !slices.Equal(tags, want) {
		t.Errorf("sent to tags %v, want the Longlin branches' %v", tags, want)
	}
	if got := reached(sends); !slices.Equal(got, []string{"o-tsq-1", "o-xz-1", "o-xz-2", "o-zb-1"}) {
		t.Errorf("reached %v, want the four Longlin members once each", got)
	}
	if n := len(w.fake.Previews()); n != 1 {
		t.Errorf("%d previews in all, want 1", n)
	}

	b := w.broadcast(t, id)
	if b.Status != broadcast.StatusSent || len(b.Sends) != 3 || b.Totals.Reports != 0 {
		t.Fatalf("after sending: %s, %d sends, %d reports", b.Status, len(b.Sends), b.Totals.Reports)
	}
	// WeChat's reports on two of the three jobs (and one on another
	// account's job) arrive through the webhook.
	var xinzhouMsg, zhebaoMsg int64
	for _, sd := range b.Sends {
		switch sd.BranchID {
		case xinzhou:
			xinzhouMsg = sd.MsgID
		case zhebao:
			zhebaoMsg = sd.MsgID
		}
	}
	report := func(msgID int64, total, filtered, sent, errs int) {
		t.Helper()
		in := bot.Inbound{OpenID: "gh_demo", Type: bot.TypeEvent, Event: bot.EventMassSendDone, MsgID: msgID, At: time.Now(),
			DedupeKey: fmt.Sprintf("j:%s:%d", bot.EventMassSendDone, msgID),
			Job:       bot.JobReport{Status: "send success", Total: total, Filtered: filtered, Sent: sent, Errors: errs}}
		if _, err := w.st.RecordJob(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	report(xinzhouMsg, 2, 2, 2, 0)
	report(zhebaoMsg, 1, 1, 0, 1)
	report(987654321, 500, 480, 470, 10)
	list, err := w.st.ListBroadcasts(context.Background(), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListBroadcasts = %v, %v", list, err)
	}
	if got, want := list[0].Totals, (broadcast.Totals{Total: 3, Filtered: 3, Sent: 2, Errors: 1, Reports: 2}); got != want {
		t.Errorf("figures %+v, want %+v: the two reports of its own jobs", got, want)
	}
}

// A member who wrote 不要推送 is not reached, even by a broadcast due before
// the tag sync took their tag off: it waits for the sync.
func TestOptedOutMemberIsNotReached(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-in", "o-out")
	w.syncTags(t)
	if err := w.st.SetNoBroadcasts(context.Background(), "o-out", true); err != nil {
		t.Fatal(err)
	}
	s := w.scheduler(t, nil, nil, 4)
	id := w.add(t, broadcast.Broadcast{Text: "政策提醒", At: w.clock(), Branches: []string{xinzhou}})

	if res := w.round(t, s); res.Waiting != 1 || len(w.fake.MassSends()) != 0 {
		t.Fatalf("with an opted-out member still on the tag: %+v, %d sends; want it to wait", res, len(w.fake.MassSends()))
	}
	w.syncTags(t)
	if on := w.fake.TagMembers(w.tagOf(t, xinzhou)); !slices.Equal(on, []string{"o-in"}) {
		t.Fatalf("the tag holds %v after the sync, want only o-in", on)
	}
	w.advance(time.Minute)
	w.round(t, s)
	if got := reached(w.fake.MassSends()); !slices.Equal(got, []string{"o-in"}) {
		t.Errorf("reached %v, want only o-in", got)
	}
	if b := w.broadcast(t, id); b.Status != broadcast.StatusSent {
		t.Errorf("status %s, want sent", b.Status)
	}
	// Only o-in's delivery counts towards the quota.
	var n int
	if err := w.st.DB().Get(&n, `SELECT count(*) FROM broadcast_deliveries WHERE openid = 'o-out'`); err != nil || n != 0 {
		t.Errorf("o-out has %d deliveries (%v)", n, err)
	}
}

// Two serve processes' schedulers racing on one database send each
// broadcast once: WeChat sees one call per branch tag, no repeat.
func TestTwoSchedulersSendOnce(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-1", "o-2")
	w.members(t, zhebao, "o-3")
	w.syncTags(t)
	for i := range 3 {
		w.add(t, broadcast.Broadcast{Text: "通知" + string(rune('一'+i)), At: w.clock().Add(-time.Duration(i) * time.Second)})
	}
	a, b := w.scheduler(t, nil, nil, 4), w.scheduler(t, nil, nil, 4)
	var wg sync.WaitGroup
	for _, s := range []*broadcast.Scheduler{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Round(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := len(w.fake.Calls(sendall)); n != 6 {
		t.Errorf("%d sendall calls, want 6 (3 broadcasts × 2 branch tags)", n)
	}
	ids := map[string]bool{}
	for _, m := range w.fake.MassSends() {
		if ids[m.ClientMsgID] {
			t.Errorf("clientmsgid %s sent twice", m.ClientMsgID)
		}
		ids[m.ClientMsgID] = true
	}
	if got := reached(w.fake.MassSends()); len(got) != 9 {
		t.Errorf("%d deliveries, want 9 (3 members × 3 broadcasts)", len(got))
	}
}

// failingStore is a process that dies between WeChat taking a job and the
// job being written down: its RecordSent fails.
type failingStore struct {
	*store.Store
}

func (failingStore) RecordSent(context.Context, int64, string, int64, broadcast.Month) error {
	return errors.New("process killed")
}

// A broadcast claimed and sent but not recorded (the process died) is sent
// again by the next process once the claim runs out, with the same
// clientmsgid: WeChat answers with the first job, and nobody gets it twice.
func TestRestartMidSendSendsOnce(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-1", "o-2")
	w.syncTags(t)
	id := w.add(t, broadcast.Broadcast{Text: "政策提醒", At: w.clock(), Branches: []string{xinzhou}})

	dying := w.scheduler(t, failingStore{testkit.StoreAt(t, w.url)}, nil, 4)
	if _, err := dying.Round(context.Background()); err == nil {
		t.Fatal("the dying process's round reported no error")
	}
	if n := len(w.fake.MassSends()); n != 1 {
		t.Fatalf("%d jobs after the first process, want 1", n)
	}
	next := w.scheduler(t, nil, nil, 4)
	w.round(t, next) // its claim still holds: nothing
	if n := len(w.fake.Calls(sendall)); n != 1 {
		t.Fatalf("%d sendall calls while the claim holds, want 1", n)
	}
	w.advance(broadcast.DefaultLease + time.Second)
	w.round(t, next)
	calls := w.fake.Calls(sendall)
	if len(calls) != 2 || calls[1].Errcode != wxapi.ErrDuplicateClientMsgID || calls[0].JSON["clientmsgid"] != calls[1].JSON["clientmsgid"] {
		t.Fatalf("calls %+v: want a second call with the same clientmsgid, answered 45065", calls)
	}
	sends := w.fake.MassSends()
	if len(sends) != 1 {
		t.Fatalf("%d jobs, want 1", len(sends))
	}
	b := w.broadcast(t, id)
	if b.Status != broadcast.StatusSent || len(b.Sends) != 1 || b.Sends[0].MsgID != sends[0].MsgID {
		t.Errorf("broadcast %s with sends %+v, want sent with the first job's msg_id %d", b.Status, b.Sends, sends[0].MsgID)
	}
}

// What the fake WeChat answers on sendall decides what happens: 45009 (the
// API's quota) and a timeout after WeChat took the job are tried again
// later and go once; 45015 and 43004 are refusals, not tried again, and
// the broadcast is marked skipped with the reason.
func TestSendallFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		inject  func(f *wxtest.FakeAPI)
		timeout time.Duration
		sent    bool
		calls   int
	}{
		{name: "45009", inject: func(f *wxtest.FakeAPI) { f.FailNext(sendall, 45009, 1) }, sent: true, calls: 2},
		{name: "45015", inject: func(f *wxtest.FakeAPI) { f.FailNext(sendall, 45015, 1) }, calls: 1},
		{name: "43004", inject: func(f *wxtest.FakeAPI) { f.FailNext(sendall, 43004, 1) }, calls: 1},
		{name: "timeout", inject: func(f *wxtest.FakeAPI) { f.AnswerLate(sendall, 2*time.Second) }, timeout: 300 * time.Millisecond, sent: true, calls: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			w.members(t, xinzhou, "o-1", "o-2")
			w.syncTags(t)
			id := w.add(t, broadcast.Broadcast{Text: "政策提醒", At: w.clock(), Branches: []string{xinzhou}})
			s := w.scheduler(t, nil, w.client(t, c.timeout), 4)
			c.inject(w.fake)
			w.round(t, s)
			w.fake.AnswerLate(sendall, 0)
			w.advance(10 * time.Minute)
			w.round(t, s)
			w.advance(time.Hour)
			w.round(t, s)

			b := w.broadcast(t, id)
			if n := len(w.fake.Calls(sendall)); n != c.calls {
				t.Errorf("%d sendall calls, want %d", n, c.calls)
			}
			jobs := len(w.fake.MassSends())
			if c.sent {
				if b.Status != broadcast.StatusSent || jobs != 1 {
					t.Errorf("%s with %d jobs, want sent once", b.Status, jobs)
				}
				return
			}
			if b.Status != broadcast.StatusSkipped || jobs != 0 || !strings.Contains(b.SkipReason, c.name) {
				t.Errorf("%s (%q) with %d jobs, want skipped naming %s", b.Status, b.SkipReason, jobs, c.name)
			}
		})
	}
}

// A preview to someone who unfollowed (43004) does not hold the broadcast.
func TestPreviewRefusedStillSends(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-1", "o-2")
	w.syncTags(t)
	w.fake.FailNext(preview, 43004, 1)
	id := w.add(t, broadcast.Broadcast{Text: "政策提醒", At: w.clock(), PreviewTo: "o-gone", Branches: []string{xinzhou}})
	w.round(t, w.scheduler(t, nil, nil, 4))
	b := w.broadcast(t, id)
	if b.Status != broadcast.StatusSent || !strings.Contains(b.PreviewError, "43004") {
		t.Errorf("%s, preview error %q; want sent, with the preview's 43004 kept", b.Status, b.PreviewError)
	}
}

// Just before sending, the scheduler checks the quota again: a broadcast
// that would be some member's fifth this month is skipped, with the reason,
// rather than sent. A recurring one schedules its next time all the same.
func TestSchedulerSkipsOverTheQuota(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-1", "o-2")
	w.members(t, zhebao, "o-3")
	w.syncTags(t)
	s := w.scheduler(t, nil, nil, 1)
	first := w.add(t, broadcast.Broadcast{Text: "第一条", At: w.clock(), Branches: []string{xinzhou}})
	w.round(t, s)
	// Added past `broadcast add`'s check (a limit lowered since, another
	// staff member's add): the scheduler must still refuse it.
	second := w.add(t, broadcast.Broadcast{Text: "第二条", At: w.clock(), Every: "0 9 1 * *", Branches: []string{xinzhou, zhebao}})
	w.round(t, s)

	if b := w.broadcast(t, first); b.Status != broadcast.StatusSent {
		t.Fatalf("first: %s", b.Status)
	}
	b := w.broadcast(t, second)
	month := broadcast.MonthOf(w.clock(), w.zone)
	if want := month.String() + " 新州镇计生协的会员已有1条群发，上限1条"; b.Status != broadcast.StatusSkipped || b.SkipReason != want {
		t.Errorf("second: %s %q, want skipped: %q", b.Status, b.SkipReason, want)
	}
	if n := len(w.fake.MassSends()); n != 1 {
		t.Errorf("%d jobs, want only the first", n)
	}
	if !strings.Contains(w.logs.String(), "over the monthly quota") {
		t.Error("the skip was not logged")
	}
	list, err := w.st.ListBroadcasts(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var next *broadcast.Broadcast
	for i := range list {
		if list[i].SeriesID == second && list[i].ID != second {
			next = &list[i]
		}
	}
	if next == nil || next.Status != broadcast.StatusScheduled || !next.At.After(w.clock()) ||
		next.At.In(w.zone).Day() != 1 || next.At.In(w.zone).Hour() != 9 {
		t.Errorf("next occurrence %+v, want one scheduled on a coming 1st at 09:00 Beijing time", next)
	}
}

// Sending a recurring broadcast schedules its next occurrence, and
// cancelling that one ends the series.
func TestRecurringBroadcastSchedulesItsNext(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-1", "o-2")
	w.syncTags(t)
	s := w.scheduler(t, nil, nil, 4)
	id := w.add(t, broadcast.Broadcast{Text: "每月政策", At: w.clock(), Every: "0 9 1 * *", Branches: []string{xinzhou}})
	w.round(t, s)
	w.round(t, s)
	list, err := w.st.ListBroadcasts(context.Background(), 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("%d broadcasts (%v), want the sent one and its next", len(list), err)
	}
	next := list[0]
	if next.Status != broadcast.StatusScheduled || next.SeriesID != id || next.At.In(w.zone).Day() != 1 || !next.At.After(w.clock()) {
		t.Errorf("next %+v: want scheduled on a coming 1st", next)
	}
	if err := w.st.CancelBroadcast(context.Background(), next.ID); err != nil {
		t.Fatal(err)
	}
	w.advance(40 * 24 * time.Hour)
	w.round(t, s)
	if n := len(w.fake.MassSends()); n != 1 {
		t.Errorf("%d jobs after cancelling the series, want 1", n)
	}
}

// A broadcast due before the tag sync has reached its members (a new
// branch, members who just joined) waits for it instead of being skipped
// or missing them; one WeChat keeps refusing to tag does not hold it back
// for ever.
func TestBroadcastWaitsForMembersNotTaggedYet(t *testing.T) {
	w := newWorld(t)
	w.members(t, xinzhou, "o-xz-1")
	w.syncTags(t)
	w.members(t, xinzhou, "o-xz-new") // joined after the last sync
	s := w.scheduler(t, nil, nil, 4)
	w.add(t, broadcast.Broadcast{Text: "返乡服务开始了", At: w.clock(), Branches: []string{xinzhou}})

	if res := w.round(t, s); res.Sent != 0 || res.Waiting != 1 || len(w.fake.MassSends()) != 0 {
		t.Fatalf("with a member not tagged yet: %+v and %d sends, want it waiting", res, len(w.fake.MassSends()))
	}
	w.syncTags(t)
	w.advance(time.Minute)
	w.round(t, s)
	if got := reached(w.fake.MassSends()); !slices.Equal(got, []string{"o-xz-1", "o-xz-new"}) {
		t.Errorf("reached %v, want both members once", got)
	}

	// A member the sync never reaches: the broadcast goes after a while.
	w.members(t, zhebao, "o-zb-1")
	w.syncTags(t)
	w.members(t, zhebao, "o-zb-stuck")
	w.add(t, broadcast.Broadcast{Text: "政策宣传", At: w.clock(), Branches: []string{zhebao}})
	w.round(t, s)
	if n := len(w.fake.MassSends()); n != 1 {
		t.Fatalf("%d sends, want the 者保 one still waiting", n)
	}
	w.advance(11 * time.Minute)
	w.round(t, s)
	if got := reached(w.fake.MassSends()); !slices.Contains(got, "o-zb-1") || slices.Contains(got, "o-zb-stuck") {
		t.Errorf("reached %v, want o-zb-1 after the wait, without the member never tagged", got)
	}
}
