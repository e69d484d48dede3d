package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/internal/pgtest"
)

// shanghai is the association's zone, fixed so the tests need no tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

// cst is a time in Shanghai on a day of December 2026.
func cst(day, hour, minute int) time.Time {
	return time.Date(2026, 12, day, hour, minute, 0, 0, shanghai)
}

// defaultPlan is VISIT_REMINDERS and VISIT_QUIET_HOURS at their defaults.
func defaultPlan() bot.ReminderPlan {
	return bot.ReminderPlan{Offsets: []time.Duration{-24 * time.Hour, -2 * time.Hour},
		QuietFrom: 21 * time.Hour, QuietTo: 8 * time.Hour, Zone: shanghai}
}

// bookWithReminders books a confirmed visit for openID at at, its
// reminders planned at now, and returns it.
func bookWithReminders(t *testing.T, s *Store, openID string, at, now time.Time, plan bot.ReminderPlan) bot.Visit {
	t.Helper()
	var v bot.Visit
	err := s.WithVisits(context.Background(), func(c bot.VisitClock) (err error) {
		v, err = c.BookVisit(context.Background(), bot.NewVisit{OpenID: openID, BranchID: "longlin-xinzhou", At: at,
			Purpose: "上门访视", Status: bot.VisitConfirmed, BookedBy: "demo-openid-xinzhou-1"})
		if err != nil {
			return err
		}
		return c.SetReminders(context.Background(), v.ID, plan.Plan(at, now))
	})
	if err != nil {
		t.Fatalf("book visit: %v", err)
	}
	return v
}

// reminderLine is a reminder as the tests compare it: offset, local due
// time, status and reason.
func reminderLines(t *testing.T, s *Store, number int64) []string {
	t.Helper()
	rs, err := s.VisitReminders(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s %s %s %s", r.Offset, r.Due.In(shanghai).Format("01-02 15:04"), r.Status, r.Reason)
	}
	return out
}

// remind runs one scheduler round at now that sends every reminder it
// claims (up to limit), and returns how many it sent.
func remind(ctx context.Context, s *Store, now time.Time, limit int) (int, error) {
	sent := 0
	err := s.WithVisits(ctx, func(c bot.VisitClock) error {
		due, err := c.DueReminders(ctx, now, limit)
		if err != nil {
			return err
		}
		ids := make([]int64, len(due))
		sends := make([]bot.Send, len(due))
		for i, r := range due {
			ids[i] = r.ID
			sends[i] = bot.Send{OpenID: r.Visit.OpenID, Kind: bot.KindVisitReminder,
				Channel: bot.ChannelCustomerService, Text: fmt.Sprintf("提醒 %d %s", r.Visit.Number, r.Offset)}
		}
		sent = len(ids)
		return c.SendReminders(ctx, ids, sends)
	})
	return sent, err
}

func TestReminderOffsetsQuietHoursAndPastOnes(t *testing.T) {
	s := newStore(t)
	plan := defaultPlan()
	early := plan
	early.Offsets = []time.Duration{-3 * time.Hour, -2 * time.Hour}
	tests := []struct {
		name    string
		at, now time.Time
		plan    bot.ReminderPlan
		want    []string
	}{
		{"the day before and two hours before", cst(5, 15, 0), cst(1, 10, 0), plan,
			[]string{"-24h 12-04 15:00 pending ", "-2h 12-05 13:00 pending "}},
		{"two hours before 09:00 is in the quiet night: moved to 08:00", cst(5, 9, 0), cst(1, 10, 0), plan,
			[]string{"-24h 12-04 09:00 pending ", "-2h 12-05 08:00 pending "}},
		{"the day before a 20:00 visit falls outside quiet hours", cst(5, 20, 0), cst(1, 10, 0), plan,
			[]string{"-24h 12-04 20:00 pending ", "-2h 12-05 18:00 pending "}},
		{"a morning that comes after the visit: the evening before instead", cst(5, 7, 30), cst(1, 10, 0), plan,
			[]string{"-24h 12-04 08:00 pending ", "-2h 12-04 21:00 pending "}},
		{"booked the afternoon before: the day-before reminder is skipped, not sent late", cst(5, 15, 0), cst(4, 16, 0), plan,
			[]string{"-24h 12-04 15:00 skipped past_at_booking", "-2h 12-05 13:00 pending "}},
		{"booked an hour before: both skipped", cst(5, 15, 0), cst(5, 14, 0), plan,
			[]string{"-24h 12-04 15:00 skipped past_at_booking", "-2h 12-05 13:00 skipped past_at_booking"}},
		{"two reminders moved onto one morning: the second is skipped", cst(5, 10, 0), cst(1, 10, 0), early,
			[]string{"-3h 12-05 08:00 pending ", "-2h 12-05 08:00 skipped same_time"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := bookWithReminders(t, s, fmt.Sprintf("o-plan-%d", i), tt.at, tt.now, tt.plan)
			got := reminderLines(t, s, v.Number)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("reminders\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestVisitNumbersStartAt5001(t *testing.T) {
	s := newStore(t)
	v := bookWithReminders(t, s, "o-first", cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	if v.Number != 5001 || v.MemberNo == 0 || v.Status != bot.VisitConfirmed {
		t.Errorf("first visit: number %d, member no %d, status %s; want 5001, a member number, confirmed", v.Number, v.MemberNo, v.Status)
	}
}

func TestDueRemindersFollowTheClock(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v := bookWithReminders(t, s, "o-clock", cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	for _, step := range []struct {
		now  time.Time
		want int
	}{
		{cst(4, 14, 59), 0}, {cst(4, 15, 0), 1}, {cst(4, 15, 30), 0}, {cst(5, 12, 59), 0}, {cst(5, 13, 0), 1}, {cst(6, 0, 0), 0},
	} {
		n, err := remind(ctx, s, step.now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n != step.want {
			t.Errorf("round at %s sent %d reminders, want %d", step.now.Format("01-02 15:04"), n, step.want)
		}
	}
	if got := countRows(t, s, "outbox", "kind = 'reminder' AND openid = $1", "o-clock"); got != 2 {
		t.Errorf("%d reminder rows in the outbox, want 2", got)
	}
	want := []string{"-24h 12-04 15:00 sent ", "-2h 12-05 13:00 sent "}
	if got := reminderLines(t, s, v.Number); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reminders %q, want %q", got, want)
	}
}

func TestReschedulingRewritesOnlyPendingReminders(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v := bookWithReminders(t, s, "o-move", cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	if n, err := remind(ctx, s, cst(4, 15, 0), 10); err != nil || n != 1 {
		t.Fatalf("the day-before round sent %d (%v), want 1", n, err)
	}
	// Moved to the 7th at 10:00, decided on the 4th at 16:00.
	err := s.WithVisits(ctx, func(c bot.VisitClock) error {
		v.At = cst(7, 10, 0)
		if err := c.SaveVisit(ctx, v); err != nil {
			return err
		}
		return c.SetReminders(ctx, v.ID, defaultPlan().Plan(v.At, cst(4, 16, 0)))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-24h 12-04 15:00 sent ", "-2h 12-05 13:00 cancelled rescheduled",
		"-24h 12-06 10:00 pending ", "-2h 12-07 08:00 pending ",
	}
	if got := reminderLines(t, s, v.Number); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after moving the visit\n got %q\nwant %q", got, want)
	}
	// The old time passes without a reminder; the new ones come.
	if n, _ := remind(ctx, s, cst(5, 13, 0), 10); n != 0 {
		t.Errorf("at the old visit's -2h, %d reminders sent, want 0", n)
	}
	if n, _ := remind(ctx, s, cst(7, 8, 0), 10); n != 2 {
		t.Errorf("by the new visit's morning, %d reminders sent, want 2", n)
	}
	// Cancelled: nothing is left to send.
	w := bookWithReminders(t, s, "o-cancel", cst(9, 15, 0), cst(1, 10, 0), defaultPlan())
	var dropped int
	err = s.WithVisits(ctx, func(c bot.VisitClock) (err error) {
		dropped, err = c.DropReminders(ctx, w.ID, bot.ReasonVisitCancel)
		return err
	})
	if err != nil || dropped != 2 {
		t.Fatalf("DropReminders = %d, %v; want 2", dropped, err)
	}
	if n, _ := remind(ctx, s, cst(10, 0, 0), 10); n != 0 {
		t.Errorf("%d reminders of a cancelled visit sent, want 0", n)
	}
}

// Two serve processes' schedulers on one database, racing over the same
// due reminders in small rounds: each reminder becomes one outbox row.
func TestTwoSchedulersSendEachReminderOnce(t *testing.T) {
	url := pgtest.URL(t)
	var stores [2]*Store
	for i := range stores {
		s, err := Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	if _, err := stores[0].Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	const visits = 150
	for i := range visits {
		bookWithReminders(t, stores[0], fmt.Sprintf("o-race-%d", i), cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	}
	now := cst(5, 14, 0) // both reminders of every visit are due
	var wg sync.WaitGroup
	sent := [2]int{}
	errs := [2]error{}
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := remind(context.Background(), s, now, 7)
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 {
					return
				}
				sent[i] += n
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	if sent[0]+sent[1] != 2*visits {
		t.Errorf("the schedulers sent %d + %d reminders, want %d in all", sent[0], sent[1], 2*visits)
	}
	if sent[0] == 0 || sent[1] == 0 {
		t.Logf("one scheduler did all the work (%v): the race was not exercised this time", sent)
	}
	s := stores[0]
	if n := countRows(t, s, "outbox", "kind = 'reminder'"); n != 2*visits {
		t.Errorf("%d reminder rows in the outbox, want %d", n, 2*visits)
	}
	if n := countRows(t, s, "visit_reminders", "status = 'sent' AND outbox_id IS NOT NULL"); n != 2*visits {
		t.Errorf("%d reminders marked sent with their outbox row, want %d", n, 2*visits)
	}
	if n := countRows(t, s, "(SELECT outbox_id FROM visit_reminders GROUP BY outbox_id HAVING count(*) > 1) d", "true"); n != 0 {
		t.Errorf("%d outbox rows stand for more than one reminder", n)
	}
}

// A round that dies before its commit (here: an error after writing)
// leaves every reminder it claimed pending and no outbox row; the next
// round sends them.
func TestRoundFailingBeforeCommitLeavesRemindersPending(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := range 5 {
		bookWithReminders(t, s, fmt.Sprintf("o-crash-%d", i), cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	}
	crash := errors.New("the process was killed")
	err := s.WithVisits(ctx, func(c bot.VisitClock) error {
		due, err := c.DueReminders(ctx, cst(4, 15, 0), 100)
		if err != nil {
			return err
		}
		ids, sends := make([]int64, len(due)), make([]bot.Send, len(due))
		for i, r := range due {
			ids[i], sends[i] = r.ID, bot.Send{OpenID: r.Visit.OpenID, Kind: bot.KindVisitReminder, Text: "提醒"}
		}
		if err := c.SendReminders(ctx, ids, sends); err != nil {
			return err
		}
		return crash
	})
	if !errors.Is(err, crash) {
		t.Fatalf("the round returned %v, want the crash", err)
	}
	if n := countRows(t, s, "outbox", "kind = 'reminder'"); n != 0 {
		t.Errorf("%d reminder rows in the outbox after the crash, want 0", n)
	}
	if n := countRows(t, s, "visit_reminders", "status = 'pending'"); n != 10 {
		t.Errorf("%d reminders pending after the crash, want all 10", n)
	}
	if n, err := remind(ctx, s, cst(4, 15, 0), 100); err != nil || n != 5 {
		t.Errorf("the round after the restart sent %d (%v), want the 5 due", n, err)
	}
}

// A reminder cancelled by another transaction between the claim and the
// write is never written: SendReminders refuses the whole batch.
func TestSendRemindersRefusesOneNotPending(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v := bookWithReminders(t, s, "o-refuse", cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	err := s.WithVisits(ctx, func(c bot.VisitClock) error {
		due, err := c.DueReminders(ctx, cst(4, 15, 0), 10)
		if err != nil || len(due) != 1 {
			return fmt.Errorf("due: %v, %v", due, err)
		}
		if err := c.SkipReminder(ctx, due[0].ID, bot.ReminderCancelled, bot.ReasonVisitCancel); err != nil {
			return err
		}
		return c.SendReminders(ctx, []int64{due[0].ID}, []bot.Send{{OpenID: v.OpenID, Kind: bot.KindVisitReminder, Text: "提醒"}})
	})
	if err == nil {
		t.Fatal("SendReminders wrote a reminder that was no longer pending")
	}
}

func TestDigestIsClaimedOncePerDirectorAndDay(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	claims := func(director string, day time.Time) bool {
		var ok bool
		if err := s.WithVisits(ctx, func(c bot.VisitClock) (err error) {
			ok, err = c.ClaimDigest(ctx, director, day)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claims("d1", cst(5, 0, 0)) || claims("d1", cst(5, 0, 0)) {
		t.Error("the first claim of d1's digest for the 5th must succeed and the second fail")
	}
	if !claims("d2", cst(5, 0, 0)) || !claims("d1", cst(6, 0, 0)) {
		t.Error("another director's digest, or another day's, must be claimable")
	}
}

// Erasing a member cancels their open visits and reminders, and keeps
// the visits without the link to them.
func TestErasingAMemberUnlinksTheirVisits(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v := bookWithReminders(t, s, "o-erase", cst(5, 15, 0), cst(1, 10, 0), defaultPlan())
	inCases(t, s, func(c bot.CaseClock) error { _, err := c.Erase(ctx, "o-erase"); return err })
	if n := countRows(t, s, "visits", "id = $1 AND openid IS NULL AND member_no IS NULL AND status = 'cancelled'", v.ID); n != 1 {
		t.Error("the erased member's visit still names them, or is still open")
	}
	if n := countRows(t, s, "visit_reminders", "visit_id = $1 AND status = 'cancelled' AND reason = 'erased'", v.ID); n != 2 {
		t.Errorf("%d of the visit's 2 reminders cancelled as erased", n)
	}
}

// WeChat's TEMPLATESENDJOBFINISH report on a reminder sent as a template
// shows on that reminder, and only there.
func TestTemplateReportReachesItsReminder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := cst(4, 10, 0)
	v := bookWithReminders(t, s, "o-tpl", cst(6, 15, 0), now, defaultPlan())
	other := bookWithReminders(t, s, "o-tpl-2", cst(6, 15, 0), now, defaultPlan())
	if n, err := remind(ctx, s, cst(6, 13, 0), 10); err != nil || n != 4 {
		t.Fatalf("round sent %d (%v), want the 4 reminders", n, err)
	}
	// The outbox sent o-tpl's last reminder as a template: WeChat's msg_id.
	if _, err := s.DB().Exec(`UPDATE outbox SET status = 'sent', channel = 'template', wechat_msg_id = 200163836
		WHERE id = (SELECT max(r.outbox_id) FROM visit_reminders r JOIN visits v ON v.id = r.visit_id WHERE v.number = $1)`, v.Number); err != nil {
		t.Fatal(err)
	}
	in := bot.Inbound{OpenID: "o-tpl", Type: bot.TypeEvent, Event: bot.EventTemplSendDone, MsgID: 200163836,
		At: now, DedupeKey: "j:TEMPLATESENDJOBFINISH:200163836", Job: bot.JobReport{Status: "failed:user block"}}
	if _, err := s.RecordJob(ctx, in); err != nil {
		t.Fatal(err)
	}
	rs, err := s.VisitReminders(ctx, v.Number)
	if err != nil || len(rs) != 2 {
		t.Fatalf("reminders %+v, %v", rs, err)
	}
	if rs[1].Report != "failed:user block" || rs[1].Delivery != "sent" || rs[0].Report != "" {
		t.Errorf("reports = %q %q, want WeChat's on the second reminder only", rs[0].Report, rs[1].Report)
	}
	if rs, _ := s.VisitReminders(ctx, other.Number); rs[0].Report != "" || rs[1].Report != "" {
		t.Errorf("another visit's reminders got the report: %+v", rs)
	}
}
