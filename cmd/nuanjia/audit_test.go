package main

import (
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/store"
)

// auditMember is the member whose data staff export.
const auditMember = "demo-openid-audit-member"

// auditedDB is a migrated schema holding auditMember and one other member,
// each with a case (which gives them a members row to export).
func auditedDB(t *testing.T) map[string]string {
	t.Helper()
	vars := migratedDB(t)
	st, err := store.Open(t.Context(), vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, openID := range []string{auditMember, "demo-openid-someone-else"} {
		openReportCase(t, st, bot.NewCase{OpenID: openID, BranchID: xinzhou, Category: bot.CategoryWages,
			Kind: bot.CaseHelp, Summary: "老板拖欠工资", At: time.Now()})
	}
	return vars
}

// auditLines are the lines `nuanjia audit args…` prints.
func auditLines(t *testing.T, vars map[string]string, args ...string) []string {
	t.Helper()
	out := mustRun(t, vars, "", append([]string{"audit"}, args...)...)
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// An auditor asking who saw a member's data finds each export, by whom,
// when in Beijing time, and nothing about other members.
func TestExportThenAuditShowsWhoExported(t *testing.T) {
	t.Parallel()
	vars := auditedDB(t)
	before := time.Now()
	mustRun(t, vars, "", "export", "--openid", auditMember, "--actor", "li")
	// Without --actor the login name is recorded.
	withUser := map[string]string{"DATABASE_URL": vars["DATABASE_URL"], "USER": "wang"}
	mustRun(t, withUser, "", "export", "--openid", auditMember)
	mustRun(t, vars, "", "export", "--openid", "demo-openid-someone-else", "--actor", "li")

	lines := auditLines(t, vars, "--openid", auditMember)
	if len(lines) != 2 {
		t.Fatalf("audit --openid printed %d lines, want the 2 exports:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, actor := range []string{"staff:li", "staff:wang"} {
		// "2026-12-04 19:05 staff:li export demo-openid-…"
		fields := strings.Fields(lines[i])
		if len(fields) != 5 || fields[2] != actor || fields[3] != bot.AuditExport || fields[4] != auditMember {
			t.Errorf("line %d = %q, want the time, %s export %s", i, lines[i], actor, auditMember)
			continue
		}
		at, err := time.ParseInLocation(tableTimeLayout, fields[0]+" "+fields[1], reportZone())
		if err != nil || at.Before(before.Truncate(time.Minute)) || at.After(time.Now()) {
			t.Errorf("line %d is dated %q, want now in Beijing time (%s)", i, fields[0]+" "+fields[1],
				before.In(reportZone()).Format(tableTimeLayout))
		}
	}
	if got := auditLines(t, vars, "--actor", "staff:wang"); len(got) != 1 || !strings.Contains(got[0], auditMember) {
		t.Errorf("audit --actor staff:wang = %q, want wang's one export", got)
	}
	if got := auditLines(t, vars, "--limit", "1"); len(got) != 1 || !strings.HasSuffix(got[0], "demo-openid-someone-else") {
		t.Errorf("audit --limit 1 = %q, want the latest export only", got)
	}
}

// A cases report names members by number: it is recorded with its filters,
// by staff:unknown when nobody is named. The summary's counts are not.
func TestCasesReportIsAudited(t *testing.T) {
	t.Parallel()
	vars := auditedDB(t)
	mustRun(t, vars, "", "cases", "--status", "open", "--branch", xinzhou, "--csv")
	mustRun(t, vars, "", "cases", "--summary")
	got := auditLines(t, vars)
	if len(got) != 1 || !strings.HasSuffix(got[0], " staff:unknown cases_report - status=open branch="+xinzhou+" csv") {
		t.Errorf("audit after a report and a summary = %q, want the report's one line", got)
	}
}

// A mistyped filter is refused before the database is reached, with a
// short error and nothing printed; so is an actor name that would break
// the log's one line per look.
func TestAuditBadFlagsPrintNothing(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"}
	for _, tc := range []struct {
		args []string
		want string // the error
	}{
		{[]string{"audit", "--since", "bad"}, `--since "bad": want a date like 2026-11-01 or a duration like 720h`},
		{[]string{"audit", "--limit", "-1"}, "--limit -1: want 0 or more"},
		{[]string{"audit", "demo-openid"}, auditUsage},
		{[]string{"export", "--openid", auditMember, "--actor", "li wang"}, `--actor "li wang": want a name without spaces, at most 64 bytes`},
		{[]string{"cases", "--actor", " "}, `--actor " " names nobody`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, err := nuanjia(t, vars, "", tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
			if out != "" || errOut != "" {
				t.Errorf("printed stdout %q, stderr %q; want nothing", out, errOut)
			}
		})
	}
}
