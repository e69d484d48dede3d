package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
)

// outboxRow is a row written the way the handling transaction writes it.
type outboxRow struct {
	openID, channel, fallback, status, text string
	due                                     string // SQL for next_attempt; "" is now()
	templateID, templateData                string
}

func addOutbox(t *testing.T, s *Store, r outboxRow) int64 {
	t.Helper()
	if r.channel == "" {
		r.channel = bot.ChannelCustomerService
	}
	if r.status == "" {
		r.status = bot.OutboxPending
	}
	if r.due == "" {
		r.due = "now()"
	}
	var data any
	if r.templateData != "" {
		data = r.templateData
	}
	var id int64
	err := s.DB().Get(&id, `INSERT INTO outbox (openid, kind, channel, fallback, text, template_id, template_data, status, next_attempt)
		VALUES ($1, 'reply', $2, $3, $4, $5, $6::jsonb, $7, `+r.due+`) RETURNING id`,
		r.openID, r.channel, r.fallback, r.text, r.templateID, data, r.status)
	if err != nil {
		t.Fatalf("insert outbox row: %v", err)
	}
	return id
}

// addMessage stores a member's push of the given type (and event) at at.
func addMessage(t *testing.T, s *Store, openID, typ, event string, at time.Time) {
	t.Helper()
	_, err := s.DB().Exec(`INSERT INTO messages (openid, direction, type, event, text, at) VALUES ($1, 'in', $2, $3, '', $4)`,
		openID, typ, event, at)
	if err != nil {
		t.Fatalf("insert message: %v", err)
	}
}

func ids(ms []bot.OutboxMessage) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func claim(t *testing.T, s *Store, limit int) []bot.OutboxMessage {
	t.Helper()
	ms, err := s.ClaimOutbox(context.Background(), limit, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func finishSent(t *testing.T, s *Store, m bot.OutboxMessage) {
	t.Helper()
	ok, err := s.FinishOutbox(context.Background(), m, bot.OutboxResult{Status: bot.OutboxSent})
	if err != nil || !ok {
		t.Fatalf("FinishOutbox(%d) = %v, %v", m.ID, ok, err)
	}
}

func TestClaimOutboxTakesAMembersRowsOneAtATimeInOrder(t *testing.T) {
	s := newStore(t)
	a1 := addOutbox(t, s, outboxRow{openID: "oA", text: "a1"})
	a2 := addOutbox(t, s, outboxRow{openID: "oA", text: "a2"})
	// B's first row is not due yet: the text after it waits too.
	addOutbox(t, s, outboxRow{openID: "oB", text: "b1", due: "now() + interval '30 seconds'"})
	addOutbox(t, s, outboxRow{openID: "oB", text: "b2"})
	// C's row came due a moment ago.
	c1 := addOutbox(t, s, outboxRow{openID: "oC", text: "c1", due: "now() - interval '1 second'"})
	// D's row is waiting for a retry.
	addOutbox(t, s, outboxRow{openID: "oD", text: "d1", due: "now() + interval '1 minute'"})

	got := claim(t, s, 10)
	if !slices.Equal(ids(got), []int64{a1, c1}) {
		t.Fatalf("claimed %v, want [%d %d]", ids(got), a1, c1)
	}
	for _, m := range got {
		if m.Attempts != 1 || m.Channel != bot.ChannelCustomerService {
			t.Errorf("row %d claimed with attempts %d channel %q", m.ID, m.Attempts, m.Channel)
		}
	}
	var status string
	var leased bool
	if err := s.DB().QueryRow(`SELECT status, lease_until > now() FROM outbox WHERE id = $1`, c1).Scan(&status, &leased); err != nil {
		t.Fatal(err)
	}
	if status != bot.OutboxSending || !leased {
		t.Errorf("claimed row is %s, leased %v", status, leased)
	}

	// While a1 is being sent, a2 waits.
	if more := claim(t, s, 10); len(more) != 0 {
		t.Fatalf("claimed %v while the members' earlier rows were sending", ids(more))
	}
	finishSent(t, s, got[0])
	if next := claim(t, s, 10); !slices.Equal(ids(next), []int64{a2}) {
		t.Fatalf("after a1 was sent: claimed %v, want [%d]", ids(next), a2)
	}
}

func TestConcurrentClaimsNeverShareARow(t *testing.T) {
	s := newStore(t)
	const members = 300
	if _, err := s.DB().Exec(`INSERT INTO outbox (openid, kind, channel, text, status)
		SELECT 'o' || (g % $1), 'reply', 'customer_service', 'm' || g, 'pending' FROM generate_series(1, $1 * 2) g`, members); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				ms, err := s.ClaimOutbox(context.Background(), 7, 30*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Every member's first row was claimed exactly once; their second rows
	// wait behind the first.
	if len(seen) != members {
		t.Errorf("claimed %d distinct rows, want %d", len(seen), members)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %d claimed %d times", id, n)
		}
	}
}

func TestFinishOutboxOnlyByTheClaimThatHoldsTheRow(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	addOutbox(t, s, outboxRow{openID: "oA", text: "hi"})
	first := claim(t, s, 1)[0]
	// Its sender stalls past the lease; the row is taken back and claimed again.
	if _, err := s.DB().Exec(`UPDATE outbox SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RequeueOutbox(ctx, 10); err != nil || n != 1 {
		t.Fatalf("RequeueOutbox = %d, %v", n, err)
	}
	second := claim(t, s, 1)[0]
	if second.Attempts != 2 {
		t.Fatalf("second claim has attempts %d", second.Attempts)
	}
	if ok, err := s.FinishOutbox(ctx, first, bot.OutboxResult{Status: bot.OutboxFailed, FailedReason: "x"}); err != nil || ok {
		t.Errorf("stale claim recorded its outcome: %v, %v", ok, err)
	}
	finishSent(t, s, second)
	var status, kind string
	if err := s.DB().QueryRow(`SELECT status, last_error_kind FROM outbox`).Scan(&status, &kind); err != nil {
		t.Fatal(err)
	}
	if status != bot.OutboxSent || kind != "lease_expired" {
		t.Errorf("row is %s (last error %q)", status, kind)
	}
}

func TestRetryReleaseAndRequeueOfTheLastAttempt(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id := addOutbox(t, s, outboxRow{openID: "oA", text: "hi", fallback: bot.ChannelTemplate})
	m := claim(t, s, 1)[0]
	ok, err := s.FinishOutbox(ctx, m, bot.OutboxResult{Status: bot.OutboxPending, Channel: bot.ChannelTemplate,
		RetryIn: time.Hour, ErrorKind: "outside_window", ErrorCode: 45015, Error: "response out of time limit"})
	if err != nil || !ok {
		t.Fatalf("FinishOutbox = %v, %v", ok, err)
	}
	var r struct {
		Status   string `db:"status"`
		Channel  string `db:"channel"`
		Fallback string `db:"fallback"`
		Later    bool   `db:"later"`
		Code     *int   `db:"last_error_code"`
		Err      string `db:"last_error"`
		Attempts int    `db:"attempts"`
		Reason   string `db:"failed_reason"`
	}
	read := func() {
		t.Helper()
		if err := s.DB().Get(&r, `SELECT status, channel, fallback, next_attempt > now() + interval '59 minutes' AS later,
			last_error_code, last_error, attempts, failed_reason FROM outbox WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if r.Status != bot.OutboxPending || r.Channel != bot.ChannelTemplate || r.Fallback != "" || !r.Later ||
		r.Code == nil || *r.Code != 45015 || r.Err != "response out of time limit" {
		t.Fatalf("after a retry: %+v", r)
	}

	// A row claimed but not attempted goes back as it was.
	if _, err := s.DB().Exec(`UPDATE outbox SET next_attempt = now()`); err != nil {
		t.Fatal(err)
	}
	m = claim(t, s, 1)[0]
	if err := s.ReleaseOutbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	read()
	if r.Status != bot.OutboxPending || r.Attempts != 1 {
		t.Fatalf("after a release: %+v", r)
	}

	// A sender that vanishes on the last attempt allowed leaves the row failed.
	claim(t, s, 1)
	if _, err := s.DB().Exec(`UPDATE outbox SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RequeueOutbox(ctx, 2); err != nil || n != 1 {
		t.Fatalf("RequeueOutbox = %d, %v", n, err)
	}
	read()
	if r.Status != bot.OutboxFailed || r.Reason != bot.FailedLeaseExpired {
		t.Fatalf("after the last lease expired: %+v", r)
	}
}

func TestClaimOutboxReadsTheCustomerServiceAllowance(t *testing.T) {
	s := newStore(t)
	now := time.Now()
	addMessage(t, s, "oA", bot.TypeText, "", now.Add(-3*time.Hour)) // an older message
	addMessage(t, s, "oA", bot.TypeText, "", now.Add(-time.Hour))
	addMessage(t, s, "oA", bot.TypeEvent, bot.EventLocation, now.Add(-time.Minute)) // not a message
	addMessage(t, s, "oA", bot.TypeEvent, bot.EventSubscribe, now.Add(-10*time.Second))
	// Sent to A: one before their last message, two after; one passive answer.
	if _, err := s.DB().Exec(`INSERT INTO outbox (openid, kind, channel, text, status, sent_at) VALUES
		('oA', 'reply', 'customer_service', 'x', 'sent', now() - interval '2 hours'),
		('oA', 'reply', 'customer_service', 'x', 'sent', now() - interval '30 minutes'),
		('oA', 'reply', 'customer_service', 'x', 'sent', now() - interval '5 seconds'),
		('oA', 'reply', 'passive', 'x', 'answered', now() - interval '5 seconds'),
		('oB', 'reply', 'customer_service', 'x', 'sent', now())`); err != nil {
		t.Fatal(err)
	}
	addOutbox(t, s, outboxRow{openID: "oA", text: "next"})
	addOutbox(t, s, outboxRow{openID: "oB", text: "for B, who never wrote"})
	addOutbox(t, s, outboxRow{openID: "oC", channel: bot.ChannelTemplate, templateID: "TPL", templateData: `{"first":"你好"}`})

	got := claim(t, s, 10)
	if len(got) != 3 {
		t.Fatalf("claimed %d rows", len(got))
	}
	a, b, c := got[0].Allowance, got[1].Allowance, got[2]
	if a.LastMessage == nil || a.LastMessage.Sub(now.Add(-time.Hour)).Abs() > time.Millisecond || a.SinceMessage != 2 ||
		a.LastTrigger == nil || a.SinceTrigger != 1 {
		t.Errorf("A's allowance: %+v", a)
	}
	if ok, _ := a.Allows(); !ok {
		t.Error("A may not get a third message")
	}
	if b.LastMessage != nil || b.LastTrigger != nil {
		t.Errorf("B's allowance: %+v", b)
	}
	if ok, reason := b.Allows(); ok || reason != bot.FailedOutsideWindow {
		t.Errorf("B: allowed %v, %q", ok, reason)
	}
	if c.Template == nil || c.Template.ID != "TPL" || c.Template.Data["first"] != "你好" || !c.Allowance.Now.IsZero() {
		t.Errorf("template row: %+v, template %+v", c, c.Template)
	}
}

func TestOutboxStats(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if st, err := s.OutboxStats(ctx); err != nil || st != (bot.OutboxStats{}) {
		t.Fatalf("empty outbox: %+v, %v", st, err)
	}
	addOutbox(t, s, outboxRow{openID: "oA", due: "now() - interval '90 seconds'"})
	addOutbox(t, s, outboxRow{openID: "oB", due: "now() - interval '1 second'"})
	addOutbox(t, s, outboxRow{openID: "oC", channel: bot.ChannelPassive, status: bot.OutboxAnswered})
	addOutbox(t, s, outboxRow{openID: "oD", due: "now() + interval '1 minute'"})
	addOutbox(t, s, outboxRow{openID: "oE", status: bot.OutboxFailed})
	addOutbox(t, s, outboxRow{openID: "oF", status: bot.OutboxSending})
	addOutbox(t, s, outboxRow{openID: "oG", status: bot.OutboxSent})
	st, err := s.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Due != 2 || st.Sending != 1 || st.Failed != 1 || st.OldestDue < 89*time.Second || st.OldestDue > 5*time.Minute {
		t.Errorf("stats = %+v", st)
	}
}

// An alert whose sender vanished mid-send may or may not have reached the
// director: it is given up as uncertain, never sent a second time, while
// an ordinary row is sent again.
func TestRequeueGivesUpAtMostOnceRows(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var alert, reply int64
	if err := s.DB().Get(&alert, `INSERT INTO outbox (openid, kind, channel, text, status, at_most_once, media_kind, media_id)
		VALUES ('oDirector', 'alert', 'customer_service', '', 'pending', true, 'image', 'MEDIA-1') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	reply = addOutbox(t, s, outboxRow{openID: "oMember", text: "hi"})

	got := claim(t, s, 10)
	if len(got) != 2 {
		t.Fatalf("claimed %v, want both rows", ids(got))
	}
	if a := got[0]; a.ID != alert || !a.AtMostOnce || a.MediaKind != bot.TypeImage || a.MediaID != "MEDIA-1" {
		t.Errorf("claimed alert = %+v, want at-most-once image MEDIA-1", a)
	}
	if r := got[1]; r.AtMostOnce || r.MediaKind != "" {
		t.Errorf("claimed reply = %+v", r)
	}
	if _, err := s.DB().Exec(`UPDATE outbox SET lease_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RequeueOutbox(ctx, 10); err != nil || n != 2 {
		t.Fatalf("RequeueOutbox = %d, %v", n, err)
	}
	status := func(id int64) (st, reason string) {
		t.Helper()
		if err := s.DB().QueryRow(`SELECT status, failed_reason FROM outbox WHERE id = $1`, id).Scan(&st, &reason); err != nil {
			t.Fatal(err)
		}
		return st, reason
	}
	if st, reason := status(alert); st != bot.OutboxFailed || reason != bot.FailedUncertain {
		t.Errorf("alert after its lease ended: %s %q, want failed %q", st, reason, bot.FailedUncertain)
	}
	if st, reason := status(reply); st != bot.OutboxPending || reason != "" {
		t.Errorf("reply after its lease ended: %s %q, want pending", st, reason)
	}
	if again := claim(t, s, 10); !slices.Equal(ids(again), []int64{reply}) {
		t.Errorf("claimed %v after the requeue, want only the reply %d", ids(again), reply)
	}
}
