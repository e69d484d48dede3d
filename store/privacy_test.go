package store

import (
	"context"
	"testing"
	"time"

	"nuanjia/bot"
)

// The retention job, with a clock the test sets: message texts older than
// MESSAGE_RETENTION are blanked, newer ones kept; a case closed longer ago
// than CASE_RETENTION loses its texts but keeps its category and dates; a
// member who left longer ago than MEMBER_ERASE_AFTER is erased, one who
// left more recently, or came back, is not.
func TestPurgeWithAClock(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	day := 24 * time.Hour
	keepPush(t, s, textPush("o-old", 1, "去年的话 13912345678", now.Add(-400*day)))
	keepPush(t, s, textPush("o-old", 2, "上个月的话", now.Add(-30*day)))
	old := openTestCase(t, s, "o-case", "anlong", false)
	setCase(t, s, old.ID, `status = 'closed', closed_at = now() - interval '4 years'`)
	recent := openTestCase(t, s, "o-case2", "anlong", false)
	setCase(t, s, recent.ID, `status = 'closed', closed_at = now() - interval '2 years'`)
	for i, m := range []struct {
		openID string
		left   time.Duration
	}{{"o-gone", 31 * day}, {"o-leaving", 29 * day}, {"o-back", 40 * day}} {
		openID, left := m.openID, m.left
		keepPush(t, s, textPush(openID, int64(100+i), "我在者保", now.Add(-left-day)))
		if _, err := s.DB().Exec(`UPDATE members SET subscribed = $2, unsubscribed_at = $3 WHERE openid = $1`,
			openID, openID == "o-back", now.Add(-left)); err != nil {
			t.Fatal(err)
		}
	}
	r := Retention{Messages: 365 * day, Cases: 3 * 365 * day, EraseAfter: 30 * day}
	p, err := s.Purge(ctx, r, now)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Ran || p.Messages != 1 || p.Cases != 1 || p.Members != 1 {
		t.Errorf("purge did %+v, want 1 message, 1 case, 1 member", p)
	}
	if n := countRows(t, s, "messages", "openid = 'o-old' AND text <> ''"); n != 1 {
		t.Errorf("%d of o-old's texts left, want the month-old one only", n)
	}
	if n := countRows(t, s, "cases", "id = $1 AND summary = '' AND category = 'wages' AND closed_at IS NOT NULL", old.ID); n != 1 {
		t.Error("the 4-year-old case kept its words, or lost its category")
	}
	if n := countRows(t, s, "case_actions", "case_id = $1 AND text <> ''", old.ID); n != 0 {
		t.Errorf("%d of the old case's actions kept their text", n)
	}
	if n := countRows(t, s, "cases", "id = $1 AND summary <> ''", recent.ID); n != 1 {
		t.Error("a case closed 2 years ago lost its words")
	}
	if n := countRows(t, s, "members", "openid = 'o-gone' AND erased_at IS NOT NULL"); n != 1 {
		t.Error("a member who left 31 days ago was not erased")
	}
	if n := countRows(t, s, "messages", "openid = 'o-gone' AND text <> ''"); n != 0 {
		t.Error("the erased member's message text is still there")
	}
	if n := countRows(t, s, "members", "openid IN ('o-leaving', 'o-back') AND erased_at IS NULL"); n != 2 {
		t.Error("a member who left 29 days ago, or came back, was erased")
	}
	if n := countRows(t, s, "audit_log", "subject = 'o-gone' AND what = $1 AND actor = 'bot'", bot.AuditErase); n != 1 {
		t.Error("the retention erasure is not in the audit log")
	}
	// A second round finds nothing more to do.
	if p, err := s.Purge(ctx, r, now); err != nil || p.Messages+p.Cases+p.Members != 0 {
		t.Errorf("second round did %+v (%v), want nothing", p, err)
	}
}

// With several serve processes one does the round: a round started while
// another holds the lock does nothing and says so.
func TestPurgeRunsInOneProcessAtATime(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	keepPush(t, s, textPush("o-a", 1, "很久以前", time.Now().Add(-400*24*time.Hour)))
	other, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.Exec(sqlRetentionLock); err != nil {
		t.Fatal(err)
	}
	p, err := s.Purge(ctx, Retention{Messages: 365 * 24 * time.Hour}, time.Now())
	if err != nil || p.Ran || p.Messages != 0 {
		t.Fatalf("purge beside a running one did %+v (%v), want nothing", p, err)
	}
	if n := countRows(t, s, "messages", "text = '很久以前'"); n != 1 {
		t.Error("the text was blanked by the round that should have skipped")
	}
	_ = other.Rollback()
	if p, err := s.Purge(ctx, Retention{Messages: 365 * 24 * time.Hour}, time.Now()); err != nil || !p.Ran || p.Messages != 1 {
		t.Errorf("purge after the other finished did %+v (%v), want 1 message", p, err)
	}
}

// Staff erasure records who and why; an unknown openid changes nothing.
func TestEraseMemberByStaff(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	keepPush(t, s, textPush("o-a", 1, "我的电话是13912345678", time.Now()))
	openTestCase(t, s, "o-a", "anlong", false)
	e, found, err := s.EraseMember(ctx, "o-a", "staff:li", "asked by phone")
	if err != nil || !found || e.Messages != 1 || e.Cases != 1 {
		t.Fatalf("EraseMember = %+v, %v, %v; want 1 message and 1 case", e, found, err)
	}
	if n := countRows(t, s, "audit_log", "subject = 'o-a' AND actor = 'staff:li' AND what = 'erase' AND detail = 'asked by phone'"); n != 1 {
		t.Error("no audit row with the reason")
	}
	if n := countRows(t, s, "cases", "openid IS NULL AND status = 'closed' AND category = 'wages'"); n != 1 {
		t.Error("the case was not kept, closed and unlinked")
	}
	if _, found, err := s.EraseMember(ctx, "o-nobody", "staff:li", "typo"); err != nil || found {
		t.Errorf("erasing an unknown openid: found %v, %v", found, err)
	}
	if n := countRows(t, s, "audit_log", "subject = 'o-nobody'"); n != 0 {
		t.Error("an erasure of nobody was recorded")
	}
}
