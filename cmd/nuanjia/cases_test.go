package main

import (
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/store"
)

// Branch ids of the demo knowledge base; cases do not need it imported.
const (
	xinzhou   = "longlin-xinzhou"
	fenghuang = "dushan-fenghuang"
)

// reportFixture is a month of cases, as county staff would report them.
type reportFixture struct {
	vars map[string]string
	// old was opened 40 days ago and is still open; urgent is open too.
	// accepted was accepted after 30 minutes; happy was accepted after
	// 90 minutes and closed after 4 hours, rated 满意; unhappy was accepted
	// after 10 minutes and closed after 2 hours, rated 不满意.
	old, urgent, accepted, happy, unhappy bot.Case
	// What must never reach a report: the members' words and openids,
	// and the assignee's openid.
	personal []string
}

func newReportFixture(t *testing.T) reportFixture {
	t.Helper()
	f := reportFixture{vars: migratedDB(t)}
	st, err := store.Open(t.Context(), f.vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const assignee = "oDirectorSecret9"
	open := func(openID, branch, category, kind string, urgent bool, summary string) bot.Case {
		t.Helper()
		f.personal = append(f.personal, openID, summary)
		return openReportCase(t, st, bot.NewCase{OpenID: openID, BranchID: branch, Category: category,
			Urgent: urgent, Kind: kind, Summary: summary, At: time.Now()})
	}
	f.personal = append(f.personal, assignee)

	f.old = open("oMemberSecretOld", xinzhou, bot.CategoryOther, bot.CaseHelp, false, "房东不退押金")
	// The store dates a case when it opens it and nothing moves that date;
	// a case from last month needs its row changed.
	if _, err := st.DB().ExecContext(t.Context(),
		`UPDATE cases SET created_at = created_at - interval '40 days' WHERE id = $1`, f.old.ID); err != nil {
		t.Fatal(err)
	}
	f.old = changeCase(t, st, f.old.Number, func(*bot.Case) {}) // rereads the new date

	f.urgent = open("oMemberSecretUrgent", xinzhou, bot.CategoryRights, bot.CaseHelp, true, "工头打人了")
	f.accepted = changeCase(t, st, open("oMemberSecretAcc", xinzhou, bot.CategoryInjury, bot.CaseQuestion, false,
		"手指被机器压伤").Number, func(k *bot.Case) {
		k.Status, k.Assignee, k.AcceptedAt = bot.CaseAccepted, assignee, after(k.CreatedAt, 30*time.Minute)
	})
	f.happy = changeCase(t, st, open("oMemberSecretHappy", fenghuang, bot.CategoryWages, bot.CaseHelp, false,
		"老板拖欠工资").Number, func(k *bot.Case) {
		k.Status, k.Assignee, k.Rating = bot.CaseClosed, assignee, 1
		k.AcceptedAt, k.ClosedAt = after(k.CreatedAt, 90*time.Minute), after(k.CreatedAt, 4*time.Hour)
	})
	f.unhappy = changeCase(t, st, open("oMemberSecretSad", fenghuang, bot.CategorySchool, bot.CaseHelp, false,
		"孩子转学没人管").Number, func(k *bot.Case) {
		k.Status, k.Assignee, k.Rating = bot.CaseClosed, assignee, 2
		k.AcceptedAt, k.ClosedAt = after(k.CreatedAt, 10*time.Minute), after(k.CreatedAt, 2*time.Hour)
	})
	return f
}

func openReportCase(t *testing.T, st *store.Store, nc bot.NewCase) bot.Case {
	t.Helper()
	var k bot.Case
	if err := st.WithCases(t.Context(), func(c bot.CaseClock) (err error) {
		k, err = c.OpenCase(t.Context(), nc)
		return err
	}); err != nil {
		t.Fatalf("open case for %s: %v", nc.OpenID, err)
	}
	return k
}

// changeCase saves what change makes of case number and returns it as
// the store then holds it.
func changeCase(t *testing.T, st *store.Store, number int64, change func(*bot.Case)) bot.Case {
	t.Helper()
	var k bot.Case
	if err := st.WithCases(t.Context(), func(c bot.CaseClock) error {
		var found bool
		var err error
		if k, found, err = c.CaseByNumber(t.Context(), number); err != nil || !found {
			t.Fatalf("case %d: found %v, %v", number, found, err)
		}
		change(&k)
		if err := c.SaveCase(t.Context(), k); err != nil {
			return err
		}
		k, _, err = c.CaseByNumber(t.Context(), number)
		return err
	}); err != nil {
		t.Fatalf("change case %d: %v", number, err)
	}
	return k
}

func after(at time.Time, d time.Duration) *time.Time {
	later := at.Add(d)
	return &later
}

func (f reportFixture) checkNoPersonalText(t *testing.T, out string) {
	t.Helper()
	for _, p := range f.personal {
		if strings.Contains(out, p) {
			t.Errorf("the report carries %q:\n%s", p, out)
		}
	}
}

func numbers(cs ...bot.Case) []string {
	out := make([]string, len(cs))
	for i, k := range cs {
		out[i] = strconv.FormatInt(k.Number, 10)
	}
	return out
}

// readTable splits the table by where its header's columns start on a
// terminal, so a value out of line with its header fails the test; it
// returns each row as header → value, and checks the 共 N 件 footer.
func readTable(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("table has %d lines, want a header and a footer:\n%s", len(lines), out)
	}
	header, rows, footer := lines[0], lines[1:len(lines)-1], lines[len(lines)-1]
	if want := "共 " + strconv.Itoa(len(rows)) + " 件"; footer != want {
		t.Errorf("last line = %q, want %q", footer, want)
	}
	names := strings.Fields(header)
	wantNames := []string{"编号", "状态", "类别", "紧急", "类型", "支部", "会员号", "开启", "受理", "结案", "评价"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("header = %q, want the columns %v", header, wantNames)
	}
	starts := make([]int, len(names))
	rest := header
	for i, name := range names {
		at := strings.Index(rest, name)
		starts[i] = displayWidth(header[:len(header)-len(rest)+at])
		rest = rest[at+len(name):]
	}
	var table []map[string]string
	for _, line := range rows {
		cells := make([]strings.Builder, len(names))
		column, col := 0, 0
		for _, r := range line {
			for column+1 < len(starts) && col >= starts[column+1] {
				column++
			}
			cells[column].WriteRune(r)
			col += displayWidth(string(r))
		}
		row := map[string]string{}
		for i, c := range cells {
			raw := c.String()
			if strings.HasPrefix(raw, " ") && strings.TrimSpace(raw) != "" {
				t.Errorf("column %s of %q starts right of its header", names[i], line)
			}
			row[names[i]] = strings.TrimSpace(raw)
		}
		table = append(table, row)
	}
	return table
}

func column(table []map[string]string, name string) []string {
	out := make([]string, len(table))
	for i, row := range table {
		out[i] = row[name]
	}
	return out
}

func TestCasesListFilters(t *testing.T) {
	t.Parallel()
	f := newReportFixture(t)
	lastWeeks := time.Now().In(reportZone()).AddDate(0, 0, -20).Format("2006-01-02")
	for _, tc := range []struct {
		args []string
		want []bot.Case
	}{
		{nil, []bot.Case{f.old, f.urgent, f.accepted, f.happy, f.unhappy}},
		{[]string{"--status", "open"}, []bot.Case{f.old, f.urgent}},
		{[]string{"--status", "accepted, closed"}, []bot.Case{f.accepted, f.happy, f.unhappy}},
		{[]string{"--branch", fenghuang}, []bot.Case{f.happy, f.unhappy}},
		{[]string{"--branch", fenghuang + "," + xinzhou, "--status", "open"}, []bot.Case{f.old, f.urgent}},
		{[]string{"--branch", "no-such-branch"}, nil},
		{[]string{"--since", "720h"}, []bot.Case{f.urgent, f.accepted, f.happy, f.unhappy}},
		{[]string{"--since", lastWeeks, "--branch", xinzhou}, []bot.Case{f.urgent, f.accepted}},
		{[]string{"--since", "2h", "--status", "closed"}, []bot.Case{f.happy, f.unhappy}},
	} {
		args := append([]string{"cases"}, tc.args...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out := mustRun(t, f.vars, "", args...)
			f.checkNoPersonalText(t, out)
			if got, want := column(readTable(t, out), "编号"), numbers(tc.want...); !slices.Equal(got, want) {
				t.Errorf("cases %v, want %v, oldest first:\n%s", got, want, out)
			}
		})
	}
}

func TestCasesTableShowsEachColumn(t *testing.T) {
	t.Parallel()
	f := newReportFixture(t)
	out := mustRun(t, f.vars, "", "cases")
	f.checkNoPersonalText(t, out)
	table := readTable(t, out)
	if len(table) != 5 {
		t.Fatalf("%d rows, want 5:\n%s", len(table), out)
	}
	beijing := func(at time.Time) string { return at.In(reportZone()).Format("2006-01-02 15:04") }
	for i, tc := range []struct {
		k                                bot.Case
		status, category, urgent, kind   string
		branch, accepted, closed, rating string
	}{
		{f.old, "open", "other", "", "求助", xinzhou, "", "", ""},
		{f.urgent, "open", "rights", "是", "求助", xinzhou, "", "", ""},
		{f.accepted, "accepted", "injury", "", "问题", xinzhou, beijing(*f.accepted.AcceptedAt), "", ""},
		{f.happy, "closed", "wages", "", "求助", fenghuang, beijing(*f.happy.AcceptedAt), beijing(*f.happy.ClosedAt), "满意"},
		{f.unhappy, "closed", "school", "", "求助", fenghuang, beijing(*f.unhappy.AcceptedAt), beijing(*f.unhappy.ClosedAt), "不满意"},
	} {
		want := map[string]string{
			"编号": strconv.FormatInt(tc.k.Number, 10), "状态": tc.status, "类别": tc.category, "紧急": tc.urgent,
			"类型": tc.kind, "支部": tc.branch, "会员号": strconv.FormatInt(tc.k.MemberNo, 10),
			"开启": beijing(tc.k.CreatedAt), "受理": tc.accepted, "结案": tc.closed, "评价": tc.rating,
		}
		for name, w := range want {
			if got := table[i][name]; got != w {
				t.Errorf("case %d, column %s = %q, want %q", tc.k.Number, name, got, w)
			}
		}
		if tc.k.MemberNo == 0 {
			t.Errorf("case %d has no member number; the fixture should give one", tc.k.Number)
		}
	}
}

func TestCasesCSV(t *testing.T) {
	t.Parallel()
	f := newReportFixture(t)
	out := mustRun(t, f.vars, "", "cases", "--csv", "--branch", fenghuang+","+xinzhou)
	f.checkNoPersonalText(t, out)
	if strings.Contains(out, "共") {
		t.Errorf("CSV carries the table's footer:\n%s", out)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, out)
	}
	wantHeader := []string{"number", "status", "category", "urgent", "kind", "branch", "member_no",
		"created_at", "accepted_at", "closed_at", "rating"}
	if len(records) == 0 || !slices.Equal(records[0], wantHeader) {
		t.Fatalf("CSV header = %v, want %v", records[:min(1, len(records))], wantHeader)
	}
	rfc := func(at *time.Time) string {
		if at == nil {
			return ""
		}
		return at.In(reportZone()).Format(time.RFC3339)
	}
	var wantRows [][]string
	for _, tc := range []struct {
		k                              bot.Case
		status, category, urgent, kind string
		branch, rating                 string
	}{
		{f.old, "open", "other", "false", "help", xinzhou, ""},
		{f.urgent, "open", "rights", "true", "help", xinzhou, ""},
		{f.accepted, "accepted", "injury", "false", "question", xinzhou, ""},
		{f.happy, "closed", "wages", "false", "help", fenghuang, "1"},
		{f.unhappy, "closed", "school", "false", "help", fenghuang, "2"},
	} {
		wantRows = append(wantRows, []string{strconv.FormatInt(tc.k.Number, 10), tc.status, tc.category, tc.urgent,
			tc.kind, tc.branch, strconv.FormatInt(tc.k.MemberNo, 10), rfc(&tc.k.CreatedAt), rfc(tc.k.AcceptedAt),
			rfc(tc.k.ClosedAt), tc.rating})
	}
	if got := records[1:]; !slices.EqualFunc(got, wantRows, slices.Equal) {
		t.Errorf("CSV rows:\n%q\nwant\n%q", got, wantRows)
	}
	for _, row := range records[1:] {
		if at, err := time.Parse(time.RFC3339, row[7]); err != nil || at.IsZero() {
			t.Errorf("created_at %q is not RFC 3339: %v", row[7], err)
		}
	}
}

func TestCasesSummary(t *testing.T) {
	t.Parallel()
	f := newReportFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// Accepted after 30m, 90m and 10m: the median is 30m. Closed after
		// 4h and 2h: 3h.
		{nil, `共 5 件
按状态
  closed    2
  open      2
  accepted  1
按类别
  injury  1
  other   1
  rights  1
  school  1
  wages   1
按支部
  longlin-xinzhou   3
  dushan-fenghuang  2
受理 3 件，中位用时 30m
结案 2 件，中位用时 3h
`},
		{[]string{"--since", "720h"}, `共 4 件
按状态
  closed    2
  accepted  1
  open      1
按类别
  injury  1
  rights  1
  school  1
  wages   1
按支部
  dushan-fenghuang  2
  longlin-xinzhou   2
受理 3 件，中位用时 30m
结案 2 件，中位用时 3h
`},
		// Accepted after 90m and 10m: 50m.
		{[]string{"--branch", fenghuang}, `共 2 件
按状态
  closed  2
按类别
  school  1
  wages   1
按支部
  dushan-fenghuang  2
受理 2 件，中位用时 50m
结案 2 件，中位用时 3h
`},
		{[]string{"--branch", "no-such-branch", "--since", "2026-11-01"}, `共 0 件
受理 0 件，中位用时 —
结案 0 件，中位用时 —
`},
	} {
		args := append([]string{"cases", "--summary"}, tc.args...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out := mustRun(t, f.vars, "", args...)
			f.checkNoPersonalText(t, out)
			if out != tc.want {
				t.Errorf("printed\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

// A mistyped filter would make a wrong report that looks right: it is
// refused before the database is reached, and nothing is printed.
func TestCasesBadFlagsPrintNothing(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"}
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--status", "pending"}, `--status "pending": want open, accepted, closed`},
		{[]string{"--status", "open,Closed"}, `--status "Closed": want open, accepted, closed`},
		{[]string{"--status", ","}, "--status"},
		{[]string{"--since", "last month"}, `--since "last month": want a date like 2026-11-01 or a duration like 720h`},
		{[]string{"--since", "2026-13-01"}, `--since "2026-13-01"`},
		{[]string{"--since", "-720h"}, `--since "-720h"`},
		{[]string{"--summary", "--branch", fenghuang + "," + xinzhou}, "one branch"},
		{[]string{"--summary", "--status", "open"}, "--status"},
		{[]string{"--summary", "--csv"}, "--csv"},
		{[]string{"open"}, "usage: nuanjia cases"},
	} {
		args := append([]string{"cases"}, tc.args...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := nuanjia(t, vars, "", args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
	out, errOut, err := nuanjia(t, vars, "", "cases", "--statuss", "open")
	if err == nil || out != "" || !strings.Contains(errOut, "statuss") {
		t.Errorf("unknown flag: error %v, stdout %q, stderr %q; want an error naming it on stderr", err, out, errOut)
	}
}

func TestCasesSinceDateIsBeijingMidnight(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)
	for _, zone := range []*time.Location{reportZone(), time.FixedZone("CST", 8*60*60)} {
		got, err := parseSince("2026-11-01", now, zone)
		if want := time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC); err != nil || !got.Equal(want) {
			t.Errorf("--since 2026-11-01 in %s = %v, %v; want %v", zone, got, err, want)
		}
	}
	if got, err := parseSince("720h", now, reportZone()); err != nil || !got.Equal(now.Add(-30*24*time.Hour)) {
		t.Errorf("--since 720h = %v, %v; want 30 days before %v", got, err, now)
	}
}

func TestCasesMedianToTheMinute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n      int
		median time.Duration
		want   string
	}{
		{0, 0, "—"},
		{1, 0, "0m"},
		{3, 85*time.Minute + 29*time.Second, "1h25m"},
		{3, 85*time.Minute + 31*time.Second, "1h26m"},
		{2, 3 * time.Hour, "3h"},
		{2, 50 * time.Minute, "50m"},
		{9, 49*time.Hour + 5*time.Minute, "49h5m"},
	} {
		if got := medianLabel(tc.n, tc.median); got != tc.want {
			t.Errorf("medianLabel(%d, %v) = %q, want %q", tc.n, tc.median, got, tc.want)
		}
	}
}
