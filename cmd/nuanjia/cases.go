package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"nuanjia/bot"
	"nuanjia/store"
)

const casesUsage = "usage: nuanjia cases [--status S] [--branch B] [--since DATE] [--csv] [--actor NAME]\n" +
	"       nuanjia cases --summary [--branch B] [--since DATE]"

// The association reports in Beijing time, wherever the server runs.
const reportZoneName = "Asia/Shanghai"

// Layouts of the report's times: the table is read by people, the CSV by
// spreadsheets.
const (
	tableTimeLayout = "2006-01-02 15:04"
	sinceDateLayout = "2006-01-02"
)

// reportCases prints the cases for the monthly report: a table, CSV with
// --csv, or counts and median times with --summary. Reports are passed
// around the county, so nothing a member wrote, no openid and no
// assignee is ever printed.
func reportCases(ctx context.Context, e env) error {
	fs := e.flags("cases")
	statusList := fs.String("status", "", "only cases in these statuses, comma-separated: "+strings.Join(caseStatuses(), ", "))
	branchList := fs.String("branch", "", "only cases of these branch ids, comma-separated")
	sinceArg := fs.String("since", "", "only cases opened since a date (2026-11-01, Beijing time) or within a duration (720h)")
	asCSV := fs.Bool("csv", false, "print CSV with an English header instead of a table")
	summary := fs.Bool("summary", false, "print counts and median times instead of the cases")
	actorName := fs.String("actor", "", actorFlagUsage)
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(casesUsage)
	}
	actor, err := staffActor(e, *actorName)
	if err != nil {
		return err
	}
	zone := reportZone()
	statuses, err := parseStatuses(*statusList)
	if err != nil {
		return err
	}
	branches, err := parseList("--branch", *branchList)
	if err != nil {
		return err
	}
	since, err := parseSince(*sinceArg, time.Now(), zone)
	if err != nil {
		return err
	}
	if *summary {
		// The store's summary counts every status of one branch or of all.
		switch {
		case statuses != nil:
			return errors.New("--summary counts every status; drop --status")
		case *asCSV:
			return errors.New("--summary has no CSV form; drop --csv")
		case len(branches) > 1:
			return fmt.Errorf("--summary counts one branch or all, not %d", len(branches))
		}
	}

	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	if *summary {
		branch := ""
		if len(branches) == 1 {
			branch = branches[0]
		}
		sum, err := st.CaseSummary(ctx, since, branch)
		if err != nil {
			return err
		}
		return writeCaseSummary(e.stdout, sum)
	}
	list, err := st.ListCases(ctx, bot.CaseQuery{Branches: branches, Statuses: statuses, Since: since})
	if err != nil {
		return err
	}
	// The list names members by number; it is recorded before it is
	// printed. The summary's counts show nobody and are not.
	if err := st.Audit(ctx, bot.AuditEntry{Actor: actor, What: bot.AuditCasesReport,
		Detail: casesFilters(statuses, branches, *sinceArg, *asCSV)}); err != nil {
		return err
	}
	if *asCSV {
		return writeCasesCSV(e.stdout, list, zone)
	}
	return writeCasesTable(e.stdout, list, zone)
}

// casesFilters is a report's filters for the audit log, as the flags
// gave them: "status=open,closed branch=x since=2026-11-01 csv", or "all".
func casesFilters(statuses, branches []string, since string, asCSV bool) string {
	var parts []string
	if statuses != nil {
		parts = append(parts, "status="+strings.Join(statuses, ","))
	}
	if branches != nil {
		parts = append(parts, "branch="+strings.Join(branches, ","))
	}
	if since != "" {
		parts = append(parts, "since="+since)
	}
	if asCSV {
		parts = append(parts, "csv")
	}
	if parts == nil {
		return "all"
	}
	return strings.Join(parts, " ")
}

func caseStatuses() []string {
	return []string{bot.CaseOpen, bot.CaseAccepted, bot.CaseClosed}
}

// parseStatuses reads --status: nil for every status.
func parseStatuses(arg string) ([]string, error) {
	statuses, err := parseList("--status", arg)
	if err != nil {
		return nil, err
	}
	valid := caseStatuses()
	for _, s := range statuses {
		if !slices.Contains(valid, s) {
			return nil, fmt.Errorf("--status %q: want %s", s, strings.Join(valid, ", "))
		}
	}
	return statuses, nil
}

// parseList splits a comma-separated flag value: nil when the flag is
// not given, an error when it is given but names nothing.
func parseList(flagName, arg string) ([]string, error) {
	if arg == "" {
		return nil, nil
	}
	var out []string
	for item := range strings.SplitSeq(arg, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	if out == nil {
		return nil, fmt.Errorf("%s %q names nothing", flagName, arg)
	}
	return out, nil
}

// parseSince reads --since: a date is its midnight in zone, a duration
// reaches back from now. The zero time, for no --since, means from the start.
func parseSince(arg string, now time.Time, zone *time.Location) (time.Time, error) {
	if arg == "" {
		return time.Time{}, nil
	}
	if day, err := time.ParseInLocation(sinceDateLayout, arg, zone); err == nil {
		return day, nil
	}
	if d, err := time.ParseDuration(arg); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a date like 2026-11-01 or a duration like 720h", arg)
}

// reportZone is Beijing time, for reports and for the times the bot shows
// directors and members. A server image without tzdata still uses it: China has kept +08:00 all year since 1991.
func reportZone() *time.Location {
	if zone, err := time.LoadLocation(reportZoneName); err == nil {
		return zone
	}
	return time.FixedZone("CST", 8*60*60)
}

func writeCasesTable(w io.Writer, list []bot.Case, zone *time.Location) error {
	rows := [][]string{{"编号", "状态", "类别", "紧急", "类型", "支部", "会员号", "开启", "受理", "结案", "评价"}}
	for _, k := range list {
		urgent := ""
		if k.Urgent {
			urgent = "是"
		}
		rows = append(rows, []string{
			strconv.FormatInt(k.Number, 10), k.Status, k.Category, urgent, kindLabel(k.Kind), k.BranchID,
			memberNoCell(k.MemberNo), k.CreatedAt.In(zone).Format(tableTimeLayout),
			timeCell(k.AcceptedAt, zone, tableTimeLayout), timeCell(k.ClosedAt, zone, tableTimeLayout),
			ratingLabel(k.Rating),
		})
	}
	var b strings.Builder
	writeAligned(&b, rows)
	fmt.Fprintf(&b, "共 %d 件\n", len(list))
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCasesCSV(w io.Writer, list []bot.Case, zone *time.Location) error {
	out := csv.NewWriter(w)
	records := [][]string{{"number", "status", "category", "urgent", "kind", "branch", "member_no",
		"created_at", "accepted_at", "closed_at", "rating"}}
	for _, k := range list {
		rating := ""
		if k.Rating != 0 {
			rating = strconv.Itoa(k.Rating)
		}
		records = append(records, []string{
			strconv.FormatInt(k.Number, 10), k.Status, k.Category, strconv.FormatBool(k.Urgent), k.Kind, k.BranchID,
			memberNoCell(k.MemberNo), k.CreatedAt.In(zone).Format(time.RFC3339),
			timeCell(k.AcceptedAt, zone, time.RFC3339), timeCell(k.ClosedAt, zone, time.RFC3339), rating,
		})
	}
	return out.WriteAll(records)
}

func writeCaseSummary(w io.Writer, sum store.CaseSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "共 %d 件\n", sum.Total)
	for _, group := range []struct {
		label  string
		counts []store.CaseCount
	}{{"按状态", sum.ByStatus}, {"按类别", sum.ByCategory}, {"按支部", sum.ByBranch}} {
		if len(group.counts) == 0 {
			continue
		}
		b.WriteString(group.label + "\n")
		rows := make([][]string, len(group.counts))
		for i, c := range group.counts {
			rows[i] = []string{"  " + c.Key, strconv.Itoa(c.N)}
		}
		writeAligned(&b, rows)
	}
	fmt.Fprintf(&b, "受理 %d 件，中位用时 %s\n", sum.Accepted, medianLabel(sum.Accepted, sum.MedianToAccept))
	fmt.Fprintf(&b, "结案 %d 件，中位用时 %s\n", sum.Closed, medianLabel(sum.Closed, sum.MedianToClose))
	_, err := io.WriteString(w, b.String())
	return err
}

func kindLabel(kind string) string {
	switch kind {
	case bot.CaseHelp:
		return "求助"
	case bot.CaseQuestion:
		return "问题"
	}
	return kind
}

func ratingLabel(rating int) string {
	switch rating {
	case 1:
		return "满意"
	case 2:
		return "不满意"
	}
	return ""
}

// memberNoCell is blank for 0: the member was erased, or never numbered.
func memberNoCell(no int64) string {
	if no == 0 {
		return ""
	}
	return strconv.FormatInt(no, 10)
}

func timeCell(at *time.Time, zone *time.Location, layout string) string {
	if at == nil {
		return ""
	}
	return at.In(zone).Format(layout)
}

// medianLabel is the median to the minute, like 1h25m; — when no case
// counts, since a 0 there would read as "at once".
func medianLabel(n int, median time.Duration) string {
	if n == 0 {
		return "—"
	}
	minutes := int64(median.Round(time.Minute) / time.Minute)
	hours, minutes := minutes/60, minutes%60
	switch {
	case hours == 0:
		return fmt.Sprintf("%dm", minutes)
	case minutes == 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dh%dm", hours, minutes)
}

// writeAligned writes rows as columns two spaces apart. It is not
// text/tabwriter because tabwriter counts runes, and a Chinese character
// takes two columns of a terminal: every header would push the next
// column two places right of its values.
func writeAligned(b *strings.Builder, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			line.WriteString(cell)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// displayWidth is how many terminal columns s takes: two for each Chinese
// character or full-width sign, one for anything else.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		if unicode.Is(unicode.Han, r) || r >= 0x3000 && r <= 0x303f || r >= 0xff01 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6 {
			n++
		}
	}
	return n
}
