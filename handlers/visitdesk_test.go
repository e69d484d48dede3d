package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/handlers"
)

// visitTemplate is a template id of the account's library, for the tests
// that reach a member outside the 48-hour window.
const visitTemplate = "visit-reminder-template-01"

// newVisitDesk is the case desk with visits configured as serve
// configures them by default; each setting func may change them.
func newVisitDesk(t *testing.T, settings ...func(*handlers.VisitSettings)) *caseDesk {
	t.Helper()
	d := newCaseDesk(t)
	d.deps.Zone = shanghaiZone()
	d.deps.Visits = handlers.VisitSettings{
		Reminders: bot.ReminderPlan{Offsets: []time.Duration{-24 * time.Hour, -2 * time.Hour},
			QuietFrom: 21 * time.Hour, QuietTo: 8 * time.Hour},
		Fields: [4]string{"character_string1", "time2", "thing3", "thing4"},
	}
	for _, f := range settings {
		f(&d.deps.Visits)
	}
	d.router = bot.NewRouter(d.ix, d.deps.Choices, slog.New(slog.NewTextHandler(io.Discard, nil)))
	handlers.Register(d.router, d.deps)
	return d
}

func shanghaiZone() *time.Location { return time.FixedZone("CST", 8*60*60) }

// numberedMember makes openID a member of branch with a member number,
// and returns the number.
func (d *caseDesk) numberedMember(openID, branch string) int64 {
	d.t.Helper()
	d.member(openID, branch)
	var no int64
	if err := d.st.DB().Get(&no, `UPDATE members SET member_no = COALESCE(member_no, nextval('member_numbers'))
		WHERE openid = $1 RETURNING member_no`, openID); err != nil {
		d.t.Fatal(err)
	}
	return no
}

// visit is the visit with number n as the book holds it.
func (d *caseDesk) visit(n int64) bot.Visit {
	d.t.Helper()
	var v bot.Visit
	err := d.st.WithVisits(context.Background(), func(c bot.VisitClock) error {
		var found bool
		var err error
		v, found, err = c.VisitByNumber(context.Background(), n)
		if err == nil && !found {
			err = fmt.Errorf("no visit %d", n)
		}
		return err
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return v
}

// reminders are visit n's reminder rows as "offset status reason" lines.
func (d *caseDesk) reminders(n int64) []string {
	d.t.Helper()
	rs, err := d.st.VisitReminders(context.Background(), n)
	if err != nil {
		d.t.Fatal(err)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strings.TrimSpace(r.Offset + " " + r.Status + " " + r.Reason)
	}
	return out
}

// pendingReminders counts visit n's pending reminders.
func (d *caseDesk) pendingReminders(n int64) int {
	d.t.Helper()
	return d.count(`SELECT count(*) FROM visit_reminders r JOIN visits v ON v.id = r.visit_id
		WHERE v.number = $1 AND r.status = 'pending'`, n)
}

// round runs one visit scheduler round at now.
func (d *caseDesk) round(now time.Time) handlers.RoundResult {
	d.t.Helper()
	desk := handlers.VisitDesk{Desk: d.deps.Desk(), Settings: d.deps.Visits}
	var res handlers.RoundResult
	err := d.st.WithVisits(context.Background(), func(c bot.VisitClock) (err error) {
		res, err = desk.Round(context.Background(), c, now)
		return err
	})
	if err != nil {
		d.t.Fatalf("visit round: %v", err)
	}
	return res
}

// lastText is the text of the newest of rows, "" for none.
func lastText(rows []outboxRow) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[len(rows)-1].Text
}

// dayAhead is the day days ahead at hour, in Shanghai.
func dayAhead(days, hour int) time.Time {
	now := time.Now().In(shanghaiZone())
	return time.Date(now.Year(), now.Month(), now.Day()+days, hour, 0, 0, 0, shanghaiZone())
}

func TestDirectorBooksAVisitAndTheMemberIsToldAndReminded(t *testing.T) {
	// With the reminder template set, as the association runs it: the
	// second reminder falls outside the member's 48-hour window.
	d := newVisitDesk(t, func(v *handlers.VisitSettings) { v.Template = "visit-reminder-template-id" })
	no := d.numberedMember("o-book", "longlin-xinzhou")
	reply := d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 婚育信息核对", no))
	checkReadable(t, reply)
	if !strings.Contains(reply, "已约：编号5001") || !strings.Contains(reply, "15:00") || !strings.Contains(reply, "前一天、前2小时") {
		t.Fatalf("访 answered %q, want visit 5001 at 15:00 and when the member is reminded", reply)
	}
	v := d.visit(5001)
	if v.Status != bot.VisitConfirmed || v.Purpose != "婚育信息核对" || !v.At.Equal(dayAhead(2, 15)) || v.BookedBy != xinzhouDirector {
		t.Errorf("booked %+v, want confirmed 婚育信息核对 at %s by the director", v, dayAhead(2, 15))
	}
	told := lastText(d.sentTo("o-book", bot.KindVisit))
	checkReadable(t, told)
	if !strings.Contains(told, "约了你") || !strings.Contains(told, "后天") || !strings.Contains(told, "编号5001") {
		t.Errorf("the member was told %q, want the visit's day and number", told)
	}
	if got := d.reminders(5001); fmt.Sprint(got) != "[-24h pending -2h pending]" {
		t.Errorf("reminders %v, want the day before and two hours before, pending", got)
	}
	// The day before, at the visit's hour, the member gets the reminder.
	res := d.round(dayAhead(1, 15))
	reminder := d.sentTo("o-book", bot.KindVisitReminder)
	if res.Reminders != 1 || len(reminder) != 1 || !strings.Contains(reminder[0].Text, "【访视提醒】明天") ||
		reminder[0].Channel != bot.ChannelCustomerService {
		t.Fatalf("the day-before round wrote %d reminders %+v, want one customer-service 【访视提醒】明天…", res.Reminders, reminder)
	}
	checkReadable(t, reminder[0].Text)
	if res := d.round(dayAhead(1, 15)); res.Reminders != 0 {
		t.Errorf("a second round at the same time wrote %d reminders, want 0", res.Reminders)
	}
	// Two hours before, the second one, once.
	if res := d.round(dayAhead(2, 13)); res.Reminders != 1 {
		t.Fatalf("the two-hours-before round wrote %d reminders (%+v), want 1; reminders %v", res.Reminders, res, d.reminders(5001))
	}
	reminder = d.sentTo("o-book", bot.KindVisitReminder)
	if len(reminder) != 2 || reminder[1].Channel != bot.ChannelTemplate || !strings.Contains(reminder[1].Data.String, "15:00") {
		t.Errorf("reminders to the member %+v, want the day before and, outside the window, the template naming 15:00", reminder)
	}
	if got := d.reminders(5001); fmt.Sprint(got) != "[-24h sent -2h sent]" {
		t.Errorf("reminders %v, want both sent", got)
	}
}

func TestOnlyTheBranchsDirectorsBookAndChangeVisits(t *testing.T) {
	d := newVisitDesk(t)
	no := d.numberedMember("o-auth", "longlin-xinzhou")
	if reply := d.say(zhebaoDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no)); !strings.Contains(reply, "没有找到你能约的会员号") {
		t.Errorf("another branch's director booking got %q, want a refusal", reply)
	}
	if n := d.count(`SELECT count(*) FROM visits`); n != 0 {
		t.Fatalf("%d visits after the refusal, want none", n)
	}
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	for _, cmd := range []string{"取消 5001", "访毕 5001", "确认 5001"} {
		if reply := d.say(zhebaoDirector, cmd); !strings.Contains(reply, "没有找到你能处理的编号5001访视") {
			t.Errorf("another branch's director's %q got %q, want not found", cmd, reply)
		}
	}
	// A member typing a director's command changes nothing.
	d.member("o-stranger", "longlin-xinzhou")
	d.say("o-stranger", "取消 5001")
	d.say("o-stranger", "改 5001 明天上午10点")
	if v := d.visit(5001); v.Status != bot.VisitConfirmed || !v.At.Equal(dayAhead(2, 15)) {
		t.Errorf("after others' commands the visit is %s at %s, want confirmed at %s", v.Status, v.At, dayAhead(2, 15))
	}
	// The county acts on every branch.
	if reply := d.say(countyDirector, "访毕 5001 已核对"); !strings.Contains(reply, "编号5001访视完成") {
		t.Errorf("the county's 访毕 got %q", reply)
	}
	if v := d.visit(5001); v.Status != bot.VisitDone || v.Note != "已核对" || d.pendingReminders(5001) != 0 {
		t.Errorf("after 访毕 the visit is %s with note %q and %d pending reminders", v.Status, v.Note, d.pendingReminders(5001))
	}
}

func TestDirectorMovesAVisitAndItsReminders(t *testing.T) {
	// With the template: two days on, the member's window may have closed.
	d := newVisitDesk(t, func(s *handlers.VisitSettings) { s.Template = visitTemplate })
	no := d.numberedMember("o-move", "longlin-xinzhou")
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	reply := d.say(xinzhouDirector, "改 5001 上午10点")
	if !strings.Contains(reply, "编号5001已改到后天") || !strings.Contains(reply, "10:00") || !strings.Contains(reply, "已告诉会员") {
		t.Fatalf("改 5001 上午10点 answered %q, want the same day at 10:00 and the member told", reply)
	}
	if v := d.visit(5001); !v.At.Equal(dayAhead(2, 10)) {
		t.Errorf("moved to %s, want %s", v.At, dayAhead(2, 10))
	}
	want := "[-24h cancelled rescheduled -2h cancelled rescheduled -24h pending -2h pending]"
	if got := d.reminders(5001); fmt.Sprint(got) != want {
		t.Errorf("reminders %v, want %s", got, want)
	}
	if told := lastText(d.sentTo("o-move", bot.KindVisit)); !strings.Contains(told, "访视改到后天") {
		t.Errorf("the member was told %q, want the new time", told)
	}
	// The old time's reminders never go. A scheduler away until the new
	// -2h (08:00) sends that one only, not the day-before one late too.
	if res := d.round(dayAhead(2, 8)); res.Reminders != 1 || res.Skipped != 1 {
		t.Errorf("the round at the new -2h: %+v, want 1 reminder written and 1 skipped: %v", res, d.reminders(5001))
	}
}

// 改 N is a case command too: it is a visit's only when N is a visit the
// director may act on and a date or time follows.
func TestChangeCommandGoesToCasesUnlessItNamesAVisitAndATime(t *testing.T) {
	d := newVisitDesk(t)
	n := d.helpCase("o-case", "longlin-xinzhou", calmHelp)
	if reply := d.say(xinzhouDirector, fmt.Sprintf("改 %d 政策", n)); !strings.Contains(reply, fmt.Sprintf("编号%d是政策问题", n)) {
		t.Errorf("改 %d 政策 answered %q, want the case corrected", n, reply)
	}
	if reply := d.say(xinzhouDirector, fmt.Sprintf("改 %d 明天上午10点", n)); !strings.Contains(reply, "改成什么") {
		t.Errorf("改 <case> <time> answered %q, want the case command's question", reply)
	}
	no := d.numberedMember("o-visit", "longlin-xinzhou")
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	if reply := d.say(xinzhouDirector, "改 5001 政策"); !strings.Contains(reply, "没有找到你能处理的编号5001案件") {
		t.Errorf("改 5001 政策 answered %q, want the case command's not found", reply)
	}
	if reply := d.say(xinzhouDirector, "改 5001 后天下午4点"); !strings.Contains(reply, "编号5001已改到") {
		t.Errorf("改 5001 后天下午4点 answered %q, want the visit moved", reply)
	}
	if k := d.caseNo(n); k.Kind != bot.CaseQuestion {
		t.Errorf("case %d is %s after the corrections, want question (政策)", n, k.Kind)
	}
}

func TestDirectorCancelDropsRemindersAndTellsTheMember(t *testing.T) {
	d := newVisitDesk(t, func(s *handlers.VisitSettings) { s.Template = visitTemplate })
	no := d.numberedMember("o-cancel", "longlin-xinzhou")
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	d.outsideWindow("o-cancel")
	reply := d.say(xinzhouDirector, "取消 5001")
	if !strings.Contains(reply, "编号5001已取消") {
		t.Fatalf("取消 5001 answered %q", reply)
	}
	told := d.sentTo("o-cancel", bot.KindVisit)
	last := told[len(told)-1]
	if last.Channel != bot.ChannelTemplate || !last.Template.Valid || last.Template.String != visitTemplate ||
		!strings.Contains(last.Text, "已取消") {
		t.Errorf("outside the window the member was told %+v, want the visit template", last)
	}
	if got := d.reminders(5001); fmt.Sprint(got) != "[-24h cancelled visit_cancelled -2h cancelled visit_cancelled]" {
		t.Errorf("reminders %v, want both cancelled", got)
	}
	if res := d.round(dayAhead(2, 14)); res.Reminders != 0 {
		t.Errorf("%d reminders of a cancelled visit written", res.Reminders)
	}
	if reply := d.say(xinzhouDirector, "取消 5001"); !strings.Contains(reply, "已取消，不能再改") {
		t.Errorf("cancelling again answered %q", reply)
	}
}

// Outside the 48-hour window with no template configured, the director
// hears that the member could not be told, and the reminder is skipped
// rather than left to fail.
func TestUnreachableMemberIsSaidSo(t *testing.T) {
	d := newVisitDesk(t)
	no := d.numberedMember("o-far", "longlin-xinzhou")
	d.outsideWindow("o-far")
	reply := d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	if !strings.Contains(reply, "请打电话告诉会员") {
		t.Errorf("booking for an unreachable member answered %q, want the director told to call", reply)
	}
	if rows := d.sentTo("o-far", ""); len(rows) != 0 {
		t.Errorf("%d messages written to the unreachable member", len(rows))
	}
	if res := d.round(dayAhead(1, 15)); res.Reminders != 0 || res.Skipped != 1 {
		t.Errorf("round: %+v, want the reminder skipped", res)
	}
	if got := d.reminders(5001); got[0] != "-24h skipped unreachable" {
		t.Errorf("reminders %v, want the first skipped as unreachable", got)
	}
}

func TestTodaysVisitsAndTheMorningDigest(t *testing.T) {
	d := newVisitDesk(t)
	for i, branch := range []string{"longlin-xinzhou", "longlin-xinzhou", "longlin-zhebao"} {
		no := d.numberedMember(fmt.Sprintf("o-day-%d", i), branch)
		dir := xinzhouDirector
		if branch == "longlin-zhebao" {
			dir = zhebaoDirector
		}
		d.say(dir, fmt.Sprintf("访 %d 明天 下午%d点 上门访视", no, 2+i))
	}
	// Tomorrow at 08:30: each director gets their branch's visits, once.
	morning := dayAhead(1, 8).Add(30 * time.Minute)
	if res := d.round(dayAhead(1, 7)); res.Digests != 0 {
		t.Errorf("%d digests before 08:00", res.Digests)
	}
	res := d.round(morning)
	if res.Digests == 0 {
		t.Fatal("no digest at 08:30")
	}
	digest := d.sentTo(xinzhouDirector, bot.KindVisitDigest)
	if len(digest) != 1 || !strings.Contains(digest[0].Text, "今天2次") || !strings.Contains(digest[0].Text, "编号5001") ||
		strings.Contains(digest[0].Text, "编号5003") {
		t.Errorf("新州's digest %+v, want its two visits only", digest)
	}
	checkReadable(t, digest[0].Text)
	if county := lastText(d.sentTo(countyDirector, bot.KindVisitDigest)); !strings.Contains(county, "全县今天共3次") {
		t.Errorf("the county's digest %q, want the county's total", county)
	}
	d.round(morning.Add(time.Hour))
	if n := len(d.sentTo(xinzhouDirector, bot.KindVisitDigest)); n != 1 {
		t.Errorf("新州's director got %d digests, want 1", n)
	}
	// 今日访视 lists today's: move the visits to today to ask.
	d.exec(`UPDATE visits SET at = at - interval '1 day'`)
	list := d.say(zhebaoDirector, "今日访视")
	if !strings.Contains(list, "今天的访视1次") || !strings.Contains(list, "编号5003") {
		t.Errorf("者保's 今日访视 answered %q, want its one visit", list)
	}
}

// A visit nobody recorded counts as missed a day after its time, its
// pending reminders dropped; the director's late 访毕 still records it
// done. A visit still ahead is left alone.
func TestUnrecordedVisitCountsMissedUntilRecorded(t *testing.T) {
	d := newVisitDesk(t)
	no := d.numberedMember("o-missed", "longlin-xinzhou")
	other := d.numberedMember("o-ahead", "longlin-xinzhou")
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 明天 上午10点 上门访视", no))
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 12月30日 上午10点 上门访视", other))
	if res := d.round(dayAhead(1, 20)); res.Missed != 0 {
		t.Fatalf("the evening of the visit counted %d missed, want none yet", res.Missed)
	}
	res := d.round(dayAhead(2, 11))
	if res.Missed != 1 || d.visit(5001).Status != bot.VisitMissed {
		t.Fatalf("a day after, %d missed and the visit is %s; want it missed", res.Missed, d.visit(5001).Status)
	}
	if d.visit(5002).Status != bot.VisitConfirmed {
		t.Errorf("the visit still ahead is %s, want confirmed", d.visit(5002).Status)
	}
	if r := d.say(xinzhouDirector, "访毕 5001 已核对"); d.visit(5001).Status != bot.VisitDone {
		t.Errorf("a late 访毕 answered %q and left the visit %s, want done", r, d.visit(5001).Status)
	}
}
