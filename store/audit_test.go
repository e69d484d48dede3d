package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
)

// auditLines are the rows' "actor what subject" lines, in the order given.
func auditLines(rows []AuditRecord) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Actor + " " + r.What + " " + r.Subject
	}
	return out
}

// An auditor asks who looked at one member, what one person looked at,
// and what happened since a day; each answer is oldest first.
func TestAuditLogFilters(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// Three days of looks, dated as they happened (the log cannot be
	// re-dated afterwards, so the rows are written with their time).
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []bot.AuditEntry{
		{Actor: "staff:li", Subject: "o-a", What: bot.AuditExport},
		{Actor: "o-dir", Subject: "o-b", What: bot.AuditCaseView, Detail: "case 101"},
		{Actor: "o-dir", What: bot.AuditCaseList, Detail: "status=open branch=all"},
	} {
		if _, err := s.DB().ExecContext(ctx, `INSERT INTO audit_log (at, actor, subject, what, detail) VALUES ($1, $2, $3, $4, $5)`,
			day.AddDate(0, 0, i), e.Actor, e.Subject, e.What, e.Detail); err != nil {
			t.Fatal(err)
		}
	}
	// Today's: one by the command line, one in a handling transaction.
	if err := s.Audit(ctx, bot.AuditEntry{Actor: "staff:wang", Subject: "o-a", What: bot.AuditExport}); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	inCases(t, s, func(c bot.CaseClock) error {
		return c.Audit(ctx, bot.AuditEntry{Actor: "o-dir", Subject: "o-a", What: bot.AuditCaseView, Detail: "case 102"})
	})
	// A look whose reply was never sent (the transaction rolled back)
	// leaves no row: nothing was shown.
	rollback := errors.New("reply failed")
	if err := s.WithCases(ctx, func(c bot.CaseClock) error {
		if err := c.Audit(ctx, bot.AuditEntry{Actor: "o-dir", Subject: "o-c", What: bot.AuditCaseView}); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatalf("WithCases = %v, want the rollback", err)
	}

	for _, c := range []struct {
		name string
		q    AuditQuery
		want []string
	}{
		{"all", AuditQuery{}, []string{"staff:li export o-a", "o-dir case_view o-b", "o-dir case_list ",
			"staff:wang export o-a", "o-dir case_view o-a"}},
		{"member", AuditQuery{Subject: "o-a"}, []string{"staff:li export o-a", "staff:wang export o-a", "o-dir case_view o-a"}},
		{"actor", AuditQuery{Actor: "o-dir"}, []string{"o-dir case_view o-b", "o-dir case_list ", "o-dir case_view o-a"}},
		{"since", AuditQuery{Since: day.AddDate(0, 0, 1)}, []string{"o-dir case_view o-b", "o-dir case_list ",
			"staff:wang export o-a", "o-dir case_view o-a"}},
		{"member and actor", AuditQuery{Subject: "o-a", Actor: "staff:li"}, []string{"staff:li export o-a"}},
		// The latest two, still oldest first.
		{"limit", AuditQuery{Limit: 2}, []string{"staff:wang export o-a", "o-dir case_view o-a"}},
		{"nobody", AuditQuery{Subject: "o-c"}, []string{}},
	} {
		rows, err := s.AuditLog(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: AuditLog: %v", c.name, err)
		}
		if got := auditLines(rows); !slices.Equal(got, c.want) {
			t.Errorf("%s: AuditLog = %q\nwant %q", c.name, got, c.want)
		}
	}
	rows, _ := s.AuditLog(ctx, AuditQuery{Actor: "o-dir", Subject: "o-a"})
	if len(rows) != 1 || rows[0].Detail != "case 102" || time.Since(rows[0].At) > time.Minute {
		t.Errorf("the director's look at o-a = %+v, want case 102 dated now", rows)
	}
}

// Nobody, not even with the database's password, can rewrite or remove
// the record of who looked.
func TestAuditLogIsAppendOnly(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Audit(ctx, bot.AuditEntry{Actor: "staff:li", Subject: "o-a", What: bot.AuditExport}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'staff:someone-else'`,
		`UPDATE audit_log SET at = at - interval '1 year'`,
		`DELETE FROM audit_log`,
		`DELETE FROM audit_log WHERE actor = 'staff:li'`,
		`TRUNCATE audit_log`,
	} {
		_, err := s.DB().ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the database's append-only refusal", stmt, err)
		}
	}
	rows, err := s.AuditLog(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := auditLines(rows); !slices.Equal(got, []string{"staff:li export o-a"}) {
		t.Errorf("after the refused changes the log is %q, want the one row unchanged", got)
	}
}

// An entry that does not say who looked, or at what, is refused and
// writes nothing.
func TestAuditNeedsActorAndWhat(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, e := range []bot.AuditEntry{
		{Subject: "o-a", What: bot.AuditExport},
		{Actor: "staff:li", Subject: "o-a"},
		{Actor: "staff:li", Subject: "o-a", What: "Export Everything"},
	} {
		if err := s.Audit(ctx, e); err == nil {
			t.Errorf("Audit(%+v) succeeded", e)
		}
	}
	if rows, _ := s.AuditLog(ctx, AuditQuery{}); len(rows) != 0 {
		t.Errorf("refused entries wrote %q", auditLines(rows))
	}
}
