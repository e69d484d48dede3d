package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"nuanjia/internal/testkit"
)

// Staff book a visit from the command line: it is listed, its reminders
// planned, the member told; a running serve's scheduler sends the
// reminder once it is due, and cancelling drops what is left.
func TestVisitFromTheCLIIsRemindedByServe(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, map[string]string{"VISIT_SCHEDULER_EVERY": "200ms", "USER": "li"})
	st := testkit.StoreAt(t, w.vars["DATABASE_URL"])
	var no int64
	if err := st.DB().Get(&no, `INSERT INTO members (openid, first_seen, last_seen, branch_id, last_inbound_at, member_no, subscribed)
		VALUES ('o-cli-visit', now(), now(), $1, now(), nextval('member_numbers'), true) RETURNING member_no`, cfXinzhou); err != nil {
		t.Fatal(err)
	}
	// Inside WeChat's window: the member wrote a moment ago.
	st.DB().MustExec(`INSERT INTO messages (openid, direction, type, text, at) VALUES ('o-cli-visit', 'in', 'text', '你好', now())`)
	at := time.Now().In(reportZone()).Add(72 * time.Hour)
	at = time.Date(at.Year(), at.Month(), at.Day(), 15, 0, 0, 0, at.Location())
	out := mustRun(t, w.vars, "", "visit", "add", "--member-no", strconv.FormatInt(no, 10), "--at", at.Format(visitAtLayout), "--purpose", "返乡走访")
	for _, want := range []string{"booked visit 5001", "返乡走访", "the member was told", "reminder -24h", "reminder -2h", "pending"} {
		if !strings.Contains(out, want) {
			t.Errorf("visit add printed %q, want %q in it", out, want)
		}
	}
	list := mustRun(t, w.vars, "", "visit", "list", "--day", at.Format("2006-01-02"))
	if !strings.Contains(list, "5001") || !strings.Contains(list, "confirmed") || !strings.Contains(list, "staff:li") {
		t.Errorf("visit list --day printed %q, want visit 5001 confirmed, booked by staff:li", list)
	}
	if _, _, err := nuanjia(t, w.vars, "", "visit", "add", "--member-no", "999999", "--at", at.Format(visitAtLayout)); err == nil {
		t.Error("visit add for an unknown member number succeeded")
	}
	if _, _, err := nuanjia(t, w.vars, "", "visit", "add", "--member-no", strconv.FormatInt(no, 10), "--at", "明天"); err == nil {
		t.Error("visit add with --at 明天 succeeded")
	}

	// The day-before reminder falls due; serve's scheduler writes it and
	// the sender delivers it.
	s := w.serve("a", "")
	s.a.st.DB().MustExec(`UPDATE visit_reminders SET due_at = now() WHERE offset_label = '-24h'`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var sent int
		if err := st.DB().Get(&sent, `SELECT count(*) FROM outbox WHERE kind = 'reminder' AND openid = 'o-cli-visit' AND status = 'sent'`); err != nil {
			t.Fatal(err)
		}
		if sent == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reminder was not sent within 10 s (%d sent)", sent)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out = mustRun(t, w.vars, "", "visit", "cancel", "--number", "5001")
	if !strings.Contains(out, "cancelled visit 5001") {
		t.Errorf("visit cancel printed %q", out)
	}
	rs, err := st.VisitReminders(context.Background(), 5001)
	if err != nil || len(rs) != 2 || rs[0].Status != "sent" || rs[1].Status != "cancelled" {
		t.Errorf("reminders after cancel: %+v, %v; want the sent one kept and the other cancelled", rs, err)
	}
	if _, _, err := nuanjia(t, w.vars, "", "visit", "cancel", "--number", "5001"); err == nil {
		t.Error("cancelling a cancelled visit succeeded")
	}
}
