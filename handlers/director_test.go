package handlers_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"nuanjia/bot"
	"nuanjia/handlers"
)

// The directors' commands, tried the way directors and members meet them:
// through the router and the store's handling transaction (caseDesk), and
// read off what each person would notice: the reply on their phone, the
// outbox rows that reach the member, the case as the case book holds it,
// and its log.

// The member whose case most tests work on, and what they wrote.
const (
	dirMember = "o-m"
	dirWords  = "老板拖欠工资三个月了"
)

// dirOpenCase has the member of the Xinzhou branch ask for help, as in
// the brief: their case goes to Xinzhou, whose director is alerted.
func dirOpenCase(t *testing.T, d *caseDesk) int64 {
	t.Helper()
	d.member(dirMember, "longlin-xinzhou")
	return caseNumberIn(t, d.say(dirMember, dirWords))
}

// dirSay is a director's message and the reply they read; every reply a
// director reads must fit a phone screen in simplified Chinese.
func dirSay(t *testing.T, d *caseDesk, director, text string) string {
	t.Helper()
	reply := d.say(director, text)
	checkReadable(t, reply)
	return reply
}

// dirName is the name the knowledge base gives a branch's first director.
func dirName(t *testing.T, d *caseDesk, branchID string) string {
	t.Helper()
	return branch(t, d.ix, branchID).Directors[0].Name
}

// dirActionTexts are the texts of case n's log lines of action, oldest first.
func dirActionTexts(t *testing.T, d *caseDesk, n int64, action string) []string {
	t.Helper()
	var out []string
	err := d.st.DB().Select(&out, `SELECT a.text FROM case_actions a JOIN cases c ON c.id = a.case_id
		WHERE c.number = $1 AND a.action = $2 ORDER BY a.id`, n, action)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dirCount counts log lines equal to line ("action actor").
func dirCount(lines []string, line string) int {
	n := 0
	for _, l := range lines {
		if l == line {
			n++
		}
	}
	return n
}

// dirAboutCase are the outbox rows to openID about case k (any kind but
// the passive answers to their own messages).
func dirAboutCase(d *caseDesk, openID string, k bot.Case) []outboxRow {
	var out []outboxRow
	for _, r := range d.sentTo(openID, "") {
		if r.CaseID.Valid && r.CaseID.Int64 == k.ID {
			out = append(out, r)
		}
	}
	return out
}

// fullWidth writes ASCII digits as a phone's Chinese keyboard types them.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, s)
}

func TestDirectorHelpListsTheCommands(t *testing.T) {
	d := newCaseDesk(t)
	reply := dirSay(t, d, xinzhouDirector, "帮助")
	for _, want := range []string{"案件　", "案件 123", "接 123", "回 123 内容", "记 123 内容", "转 123 者保", "结 123 说明", "重开 123"} {
		if !strings.Contains(reply, want) {
			t.Errorf("help does not list %q:\n%s", want, reply)
		}
	}
	// A question mark, as the help's aliases promise (full-width from a
	// Chinese keyboard), brings the same list.
	if got := dirSay(t, d, xinzhouDirector, "？"); got != reply {
		t.Errorf("？ answered\n%s\nwant the help:\n%s", got, reply)
	}
	// A member asking for 帮助 never reads the directors' commands.
	d.member("o-plain", "longlin-xinzhou")
	if got := d.say("o-plain", "帮助"); strings.Contains(got, "接 123") {
		t.Errorf("a member was shown the directors' commands:\n%s", got)
	}
}

// lineOf is the index of the line of reply that starts with case n.
func lineOf(reply string, n int64) int {
	for i, l := range strings.Split(reply, "\n") {
		if strings.HasPrefix(l, fmt.Sprintf("%d ", n)) {
			return i
		}
	}
	return -1
}

func TestDirectorListsOpenCasesUrgentFirst(t *testing.T) {
	d := newCaseDesk(t)
	calm := dirOpenCase(t, d)
	u := understandFirst(t, d.ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentHelp && u.Urgent },
		"救命有人打我", "我老公喝醉了打我和孩子", "工地上摔下来腰受伤了老板不管")
	d.member("o-urgent", "longlin-xinzhou")
	urgent := caseNumberIn(t, d.say("o-urgent", u.Text))
	d.member("o-zhebao", "longlin-zhebao")
	other := caseNumberIn(t, d.say("o-zhebao", "老板不给工钱"))
	d.member("o-done", "longlin-xinzhou")
	closed := caseNumberIn(t, d.say("o-done", "厂里扣了我半个月工资"))
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("结 %d 已解答", closed))

	reply := dirSay(t, d, xinzhouDirector, "案件")
	if !strings.Contains(reply, "待处理案件2件") {
		t.Errorf("list does not count Xinzhou's 2 open cases:\n%s", reply)
	}
	iu, ic := lineOf(reply, urgent), lineOf(reply, calm)
	if iu < 0 || ic < 0 || iu > ic {
		t.Fatalf("urgent case %d (line %d) not listed before case %d (line %d):\n%s", urgent, iu, calm, ic, reply)
	}
	lines := strings.Split(reply, "\n")
	if !strings.Contains(lines[iu], "【紧急】") || strings.Contains(lines[ic], "【紧急】") {
		t.Errorf("only the urgent case should be marked 【紧急】:\n%s", reply)
	}
	if !strings.Contains(lines[ic], "欠薪") || !strings.Contains(lines[ic], "待受理") {
		t.Errorf("the wages case's line does not say 欠薪 待受理: %q", lines[ic])
	}
	if lineOf(reply, other) >= 0 || lineOf(reply, closed) >= 0 {
		t.Errorf("Xinzhou's list shows another branch's case %d or the closed %d:\n%s", other, closed, reply)
	}
	// The county sees every branch's open cases.
	county := dirSay(t, d, countyDirector, "案件")
	if !strings.Contains(county, "待处理案件3件") || lineOf(county, other) < 0 {
		t.Errorf("the county's list misses Zhebao's case %d:\n%s", other, county)
	}
	// An accepted case stays in the list, as 处理中.
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", calm))
	reply = dirSay(t, d, xinzhouDirector, "案件")
	if i := lineOf(reply, calm); i < 0 || !strings.Contains(strings.Split(reply, "\n")[i], "处理中") {
		t.Errorf("accepted case %d not listed as 处理中:\n%s", calm, reply)
	}
}

func TestDirectorViewShowsTheCaseAndResendsThePhoto(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	k := d.caseNo(n)
	// The member sends a photo of the wage slip while the case is open;
	// nobody has it yet, so nothing is relayed until a director looks.
	d.push(bot.Inbound{OpenID: dirMember, Type: bot.TypeImage, MediaID: "media-wage-slip"})
	media := func() []outboxRow {
		var out []outboxRow
		for _, r := range dirAboutCase(d, xinzhouDirector, k) {
			if r.MediaKind != "" {
				out = append(out, r)
			}
		}
		return out
	}
	if got := media(); len(got) != 0 {
		t.Fatalf("the photo went to the director before anyone had the case: %+v", got)
	}

	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("案件 %d", n))
	for _, want := range []string{fmt.Sprintf("编号%d", n), "欠薪", dirWords, "新州镇计生协", "待受理",
		"会员提出", "通知负责人", "图片", "见下条"} {
		if !strings.Contains(reply, want) {
			t.Errorf("case view does not say %q:\n%s", want, reply)
		}
	}
	if strings.Contains(reply, "image") {
		t.Errorf("case view shows the log's raw media type:\n%s", reply)
	}
	got := media()
	if len(got) != 1 || got[0].MediaKind != "image" || got[0].MediaID != "media-wage-slip" ||
		got[0].Channel != bot.ChannelCustomerService {
		t.Fatalf("photo re-sent to the director = %+v, want one customer-service image media-wage-slip", got)
	}

	// After accepting and a note, the view shows who has it and the note.
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("记 %d 老板电话已查到", n))
	reply = dirSay(t, d, xinzhouDirector, fmt.Sprintf("案件 %d", n))
	name := dirName(t, d, "longlin-xinzhou")
	for _, want := range []string{"处理中（" + name + "）", name + "受理", name + "备注：老板电话已查到"} {
		if !strings.Contains(reply, want) {
			t.Errorf("case view after accepting does not say %q:\n%s", want, reply)
		}
	}
}

// dirAudit are the audit log's rows, oldest first, as "actor what subject detail".
func dirAudit(t *testing.T, d *caseDesk) []string {
	t.Helper()
	var out []string
	if err := d.st.DB().Select(&out, `SELECT actor || ' ' || what || ' ' || subject || ' ' || detail
		FROM audit_log ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return out
}

// A director's look at a member's case, or at the list of cases, is on
// the audit log with who looked; a refused look and other commands are not.
func TestDirectorLooksAreAudited(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	// Another branch's director is told there is no such case: they saw nothing.
	dirSay(t, d, zhebaoDirector, fmt.Sprintf("案件 %d", n))
	if got := dirAudit(t, d); len(got) != 0 {
		t.Fatalf("a refused look was audited: %q", got)
	}

	dirSay(t, d, xinzhouDirector, fmt.Sprintf("案件 %d", n))
	want := []string{fmt.Sprintf("%s case_view %s case %d", xinzhouDirector, dirMember, n)}
	if got := dirAudit(t, d); !slices.Equal(got, want) {
		t.Fatalf("after 案件 %d the audit log is %q, want %q", n, got, want)
	}
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	dirSay(t, d, xinzhouDirector, "案件")
	want = append(want, xinzhouDirector+" case_list  status=open,accepted branch=longlin-xinzhou")
	if got := dirAudit(t, d); !slices.Equal(got, want) {
		t.Errorf("after 接 and 案件 the audit log is %q, want %q", got, want)
	}
}

func TestDirectorAcceptTellsTheMemberAndKeepsTheCase(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	if !strings.Contains(reply, fmt.Sprintf("你已受理编号%d", n)) {
		t.Errorf("accept answered:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.Status != bot.CaseAccepted || k.Assignee != xinzhouDirector || k.AcceptedAt == nil {
		t.Fatalf("after 接: status %s, assignee %q, accepted at %v", k.Status, k.Assignee, k.AcceptedAt)
	}
	notices := d.sentTo(dirMember, bot.KindCaseNotice)
	if len(notices) != 1 || notices[0].CaseID.Int64 != k.ID || notices[0].Channel != bot.ChannelCustomerService ||
		!strings.Contains(notices[0].Text, "已受理") || !strings.Contains(notices[0].Text, dirName(t, d, "longlin-xinzhou")) {
		t.Fatalf("member's notices = %+v, want one customer-service 已受理 naming the director", notices)
	}
	if got := d.actions(n); dirCount(got, "accepted "+xinzhouDirector) != 1 {
		t.Errorf("log = %q, want one acceptance by the director", got)
	}

	// The county director tries to take it too: they are told who has it,
	// and nothing changes.
	reply = dirSay(t, d, countyDirector, fmt.Sprintf("接 %d", n))
	if !strings.Contains(reply, "已由"+dirName(t, d, "longlin-xinzhou")+"受理") {
		t.Errorf("a second director is not told who has it:\n%s", reply)
	}
	if k := d.caseNo(n); k.Assignee != xinzhouDirector {
		t.Errorf("assignee = %q after a second 接, want %q", k.Assignee, xinzhouDirector)
	}
	// Accepting again oneself says so and tells the member nothing new.
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n)); !strings.Contains(reply, "你已受理") {
		t.Errorf("accepting again answered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseNotice); len(got) != 1 {
		t.Errorf("member got %d notices, want still 1", len(got))
	}
	if got := d.actions(n); dirCount(got, "accepted "+xinzhouDirector)+dirCount(got, "accepted "+countyDirector) != 1 {
		t.Errorf("log = %q, want a single acceptance", got)
	}
	// 接 without a number asks for it; an unknown number is not found.
	if reply := dirSay(t, d, xinzhouDirector, "接"); !strings.Contains(reply, "请带上案件编号") {
		t.Errorf("bare 接 answered:\n%s", reply)
	}
	if reply := dirSay(t, d, xinzhouDirector, "接 99999"); !strings.Contains(reply, "没有找到") {
		t.Errorf("接 of no case answered:\n%s", reply)
	}
}

func TestDirectorReplyReachesTheMemberInTheWindow(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	// Full-width punctuation, as a Chinese keyboard types it: the member
	// reads the director's words as written.
	words := "好的，明天上午10点到厂里找你！"
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("回 %d %s", n, words))
	if !strings.Contains(reply, "已发给会员") {
		t.Errorf("reply answered:\n%s", reply)
	}
	k := d.caseNo(n)
	rows := d.sentTo(dirMember, bot.KindCaseReply)
	if len(rows) != 1 || rows[0].Channel != bot.ChannelCustomerService || rows[0].CaseID.Int64 != k.ID ||
		!strings.Contains(rows[0].Text, words) || !strings.Contains(rows[0].Text, fmt.Sprintf("编号%d", n)) {
		t.Fatalf("member's case replies = %+v, want one customer-service row with %q", rows, words)
	}
	// Replying to a case nobody had accepts it.
	if k.Status != bot.CaseAccepted || k.Assignee != xinzhouDirector || k.LastReplyAt == nil {
		t.Errorf("after 回: status %s, assignee %q, last reply %v", k.Status, k.Assignee, k.LastReplyAt)
	}
	if got := dirActionTexts(t, d, n, bot.ActionReply); !slices.Equal(got, []string{words}) {
		t.Errorf("logged replies = %q, want %q", got, words)
	}
	// 回 without words asks for them and sends nothing.
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("回 %d", n)); !strings.Contains(reply, "请写上内容") {
		t.Errorf("回 without words answered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 1 {
		t.Errorf("member got %d replies, want still 1", len(got))
	}
}

func TestDirectorReplyOutsideTheWindowWithoutTemplate(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	d.outsideWindow(dirMember)
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("回 %d 明天打电话给你", n))
	if !strings.Contains(reply, "发不出去") || !strings.Contains(reply, "打电话") || strings.Contains(reply, "已发给会员") {
		t.Errorf("director is not told the reply cannot be delivered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 0 {
		t.Errorf("a reply WeChat would refuse was written: %+v", got)
	}
	if got := dirActionTexts(t, d, n, bot.ActionReply); len(got) != 0 {
		t.Errorf("an undelivered reply is logged as a reply: %q", got)
	}
}

func TestDirectorReplyOutsideTheWindowByTemplate(t *testing.T) {
	d := newCaseDesk(t, func(s *handlers.CaseSettings) {
		s.UpdateTemplate = "tpl-update-0001"
		s.UpdateFields = [3]string{"character_string1", "phrase2", "thing3"}
	})
	n := dirOpenCase(t, d)
	// Inside the window the notice goes by customer service, the template
	// only its fallback.
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	notices := d.sentTo(dirMember, bot.KindCaseNotice)
	if len(notices) != 1 || notices[0].Channel != bot.ChannelCustomerService || notices[0].Fallback != bot.ChannelTemplate {
		t.Fatalf("accept notice in the window = %+v, want customer service with the template as fallback", notices)
	}

	d.outsideWindow(dirMember)
	// Longer than any template field holds, with a line break early
	// enough to land inside the clipped thing field.
	words := "已联系\n老板答应月底前把三个月的工资一次付清，到时候我再打电话告诉你"
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("回 %d %s", n, words))
	if !strings.Contains(reply, "已发给会员") {
		t.Errorf("reply by template answered:\n%s", reply)
	}
	rows := d.sentTo(dirMember, bot.KindCaseReply)
	if len(rows) != 1 || rows[0].Channel != bot.ChannelTemplate || rows[0].Template.String != "tpl-update-0001" {
		t.Fatalf("member's case replies = %+v, want one by template tpl-update-0001", rows)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(rows[0].Data.String), &data); err != nil {
		t.Fatalf("template_data %q: %v", rows[0].Data.String, err)
	}
	// WeChat refuses a template whose values break its limits.
	limits := map[string]int{"character_string1": 32, "phrase2": 5, "thing3": 20}
	if len(data) != len(limits) {
		t.Errorf("template data = %q, want exactly the keys %v", data, limits)
	}
	for key, max := range limits {
		v := data[key]
		if v == "" || utf8.RuneCountInString(v) > max || strings.ContainsAny(v, "\r\n") {
			t.Errorf("%s = %q: want 1 to %d characters on one line", key, v, max)
		}
	}
	if data["character_string1"] != fmt.Sprint(n) {
		t.Errorf("character_string1 = %q, want the case number %d", data["character_string1"], n)
	}
	if !strings.Contains(data["thing3"], "已联系") {
		t.Errorf("thing3 = %q does not carry the director's words", data["thing3"])
	}
}

func TestDirectorNoteStaysWithTheDirectors(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	k := d.caseNo(n)
	before := len(dirAboutCase(d, dirMember, k))
	note := "老板电话139，明天再打"
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("记 %d %s", n, note))
	if !strings.Contains(reply, "已记下") {
		t.Errorf("note answered:\n%s", reply)
	}
	if got := dirActionTexts(t, d, n, bot.ActionNote); !slices.Equal(got, []string{note}) {
		t.Errorf("notes = %q, want %q", got, note)
	}
	if got := d.actions(n); dirCount(got, "note "+xinzhouDirector) != 1 {
		t.Errorf("log = %q, want the note by the director", got)
	}
	if got := dirAboutCase(d, dirMember, k); len(got) != before {
		t.Errorf("a private note reached the member: %+v", got[before:])
	}
	if k2 := d.caseNo(n); k2.Status != bot.CaseOpen || k2.Assignee != "" {
		t.Errorf("a note changed the case: status %s, assignee %q", k2.Status, k2.Assignee)
	}
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("记 %d", n)); !strings.Contains(reply, "请写上内容") {
		t.Errorf("记 without words answered:\n%s", reply)
	}
}

func TestDirectorMoveGivesTheCaseToAnotherBranch(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("转 %d 者保", n))
	if !strings.Contains(reply, "者保乡计生协") {
		t.Errorf("move answered:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.BranchID != "longlin-zhebao" || k.Status != bot.CaseOpen || k.Assignee != "" || k.AcceptedAt != nil {
		t.Fatalf("after 转: branch %s, status %s, assignee %q, accepted %v; want Zhebao's, open, nobody's",
			k.BranchID, k.Status, k.Assignee, k.AcceptedAt)
	}
	alerts := d.sentTo(zhebaoDirector, bot.KindAlert)
	if len(alerts) != 1 || alerts[0].CaseID.Int64 != k.ID || !strings.Contains(alerts[0].Text, "由新州镇计生协转来") ||
		!strings.Contains(alerts[0].Text, fmt.Sprintf("编号%d", n)) {
		t.Fatalf("Zhebao's alerts = %+v, want one about case %d saying where it came from", alerts, n)
	}
	notices := d.sentTo(dirMember, bot.KindCaseNotice)
	if len(notices) == 0 || !strings.Contains(notices[len(notices)-1].Text, "已转给者保乡计生协") {
		t.Errorf("member is not told of the move: %+v", notices)
	}
	if got := d.actions(n); dirCount(got, "moved "+xinzhouDirector) != 1 {
		t.Errorf("log = %q, want the move by the director", got)
	}
	// The case is no longer Xinzhou's: its director gets the refusal.
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("案件 %d", n)); !strings.Contains(reply, "没有找到") ||
		strings.Contains(reply, dirWords) {
		t.Errorf("Xinzhou still sees the moved case:\n%s", reply)
	}
	// Zhebao's director: moving it where it is, or to no known place,
	// changes nothing; accepting it works.
	if reply := dirSay(t, d, zhebaoDirector, fmt.Sprintf("转 %d 者保", n)); !strings.Contains(reply, "本来就在") {
		t.Errorf("moving to its own branch answered:\n%s", reply)
	}
	if reply := dirSay(t, d, zhebaoDirector, fmt.Sprintf("转 %d 火星", n)); !strings.Contains(reply, "没认出") {
		t.Errorf("moving to an unknown place answered:\n%s", reply)
	}
	if k := d.caseNo(n); k.BranchID != "longlin-zhebao" {
		t.Errorf("branch = %s after refused moves", k.BranchID)
	}
	dirSay(t, d, zhebaoDirector, fmt.Sprintf("接 %d", n))
	if k := d.caseNo(n); k.Assignee != zhebaoDirector {
		t.Errorf("Zhebao's director cannot accept the moved case: assignee %q", k.Assignee)
	}
}

// A case whose alert reached nobody at its branch was escalated for it;
// moved to another branch whose alert fails too, the county must hear of
// that again, or the case sits unseen.
func TestDirectorMoveChecksTheNewBranchsAlert(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	failAlerts := func() {
		d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'permanent' WHERE kind = 'alert' AND status = 'pending'`)
	}
	failAlerts()
	d.tick()
	if got := d.sentTo(countyDirector, bot.KindEscalation); len(got) != 1 {
		t.Fatalf("county escalations after Xinzhou's alert failed = %d, want 1", len(got))
	}
	dirSay(t, d, countyDirector, fmt.Sprintf("转 %d 者保", n))
	failAlerts()
	d.tick()
	got := d.sentTo(countyDirector, bot.KindEscalation)
	if len(got) != 2 || !strings.Contains(got[1].Text, "者保乡计生协") {
		t.Errorf("county escalations after Zhebao's alert failed = %+v, want a second one naming 者保乡计生协", got)
	}
}

func TestDirectorCloseAsksTheMemberToRate(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))
	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("结 %d 老板已经把工资付清了", n))
	if !strings.Contains(reply, fmt.Sprintf("编号%d已结案", n)) {
		t.Errorf("close answered:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.Status != bot.CaseClosed || k.ClosedAt == nil {
		t.Fatalf("after 结: status %s, closed at %v", k.Status, k.ClosedAt)
	}
	notices := d.sentTo(dirMember, bot.KindCaseNotice)
	last := notices[len(notices)-1]
	if !strings.Contains(last.Text, "老板已经把工资付清了") || !strings.Contains(last.Text, "满意请回复 1") {
		t.Errorf("member's close notice does not give the words and the rating question:\n%s", last.Text)
	}
	if got := d.actions(n); dirCount(got, "closed "+xinzhouDirector) != 1 {
		t.Errorf("log = %q, want the close by the director", got)
	}
	// A closed case takes no second close and no reply.
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("结 %d", n)); !strings.Contains(reply, "重开") {
		t.Errorf("closing again answered:\n%s", reply)
	}
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("回 %d 还有事吗", n)); !strings.Contains(reply, "已结案") {
		t.Errorf("replying on a closed case answered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 0 {
		t.Errorf("a reply on a closed case was sent: %+v", got)
	}

	// 2, not satisfied: the case is open again with its director, who is told.
	if reply := d.say(dirMember, "2"); !strings.Contains(reply, "重新打开") {
		t.Errorf("member's 2 answered:\n%s", reply)
	}
	k = d.caseNo(n)
	if k.Status != bot.CaseAccepted || k.Assignee != xinzhouDirector {
		t.Errorf("after a 2: status %s, assignee %q; want accepted by the director", k.Status, k.Assignee)
	}
	told := d.sentTo(xinzhouDirector, bot.KindCaseNotice)
	if len(told) != 1 || !strings.Contains(told[0].Text, "不满意") || told[0].CaseID.Int64 != k.ID {
		t.Errorf("director's notices = %+v, want one saying the member is not satisfied", told)
	}
	if got := d.actions(n); dirCount(got, "rated "+dirMember) != 1 || dirCount(got, "reopened "+dirMember) != 1 {
		t.Errorf("log = %q, want the member's rating and reopening", got)
	}

	// Closed again, 1: the rating is recorded and the case stays closed.
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("结 %d 又去找了老板，钱都到了", n))
	if reply := d.say(dirMember, "1"); !strings.Contains(reply, "谢谢") {
		t.Errorf("member's 1 answered:\n%s", reply)
	}
	k = d.caseNo(n)
	if k.Rating != 1 || k.Status != bot.CaseClosed {
		t.Errorf("after a 1: rating %d, status %s; want 1, closed", k.Rating, k.Status)
	}
	if got := dirActionTexts(t, d, n, bot.ActionRated); !slices.Equal(got, []string{"2", "1"}) {
		t.Errorf("ratings logged = %q, want 2 then 1", got)
	}
	// The director reads the ratings in words.
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("案件 %d", n)); !strings.Contains(reply, "评价：满意") {
		t.Errorf("case view does not show the rating in words:\n%s", reply)
	}
}

func TestDirectorReopen(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	if reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("重开 %d", n)); !strings.Contains(reply, "没有结案") {
		t.Errorf("reopening an open case answered:\n%s", reply)
	}
	// Closing a case nobody accepted, without words: the closer has it,
	// and the member reads a neutral sentence.
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("结 %d", n))
	if k := d.caseNo(n); k.Status != bot.CaseClosed || k.Assignee != xinzhouDirector {
		t.Fatalf("after a bare 结: status %s, assignee %q", k.Status, k.Assignee)
	}
	notices := d.sentTo(dirMember, bot.KindCaseNotice)
	if !strings.Contains(notices[len(notices)-1].Text, "问题已处理") {
		t.Errorf("close notice without words:\n%s", notices[len(notices)-1].Text)
	}

	reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf("重开 %d", n))
	if !strings.Contains(reply, fmt.Sprintf("编号%d已重新打开", n)) {
		t.Errorf("reopen answered:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.Status != bot.CaseAccepted || k.Assignee != xinzhouDirector || k.ClosedAt != nil {
		t.Errorf("after 重开: status %s, assignee %q, closed at %v", k.Status, k.Assignee, k.ClosedAt)
	}
	notices = d.sentTo(dirMember, bot.KindCaseNotice)
	if !strings.Contains(notices[len(notices)-1].Text, "已重新打开") {
		t.Errorf("member is not told of the reopening:\n%s", notices[len(notices)-1].Text)
	}
	if got := d.actions(n); dirCount(got, "reopened "+xinzhouDirector) != 1 {
		t.Errorf("log = %q, want the reopening by the director", got)
	}
	// The closing question is void: the member's next "1" rates nothing.
	d.say(dirMember, "1")
	if got := dirActionTexts(t, d, n, bot.ActionRated); len(got) != 0 {
		t.Errorf("a reopened case was rated %q", got)
	}
	if k := d.caseNo(n); k.Rating != 0 || k.Status != bot.CaseAccepted {
		t.Errorf("after the member's 1: rating %d, status %s", k.Rating, k.Status)
	}
}

func TestDirectorCommandsAreForgiving(t *testing.T) {
	d := newCaseDesk(t)
	// Before any case is in conversation, "回家了" is the director's own
	// message, not 回 without a number.
	if reply := dirSay(t, d, xinzhouDirector, "回家了"); strings.Contains(reply, "请带上案件编号") || strings.Contains(reply, "发给会员") {
		t.Errorf("回家了 was read as a command:\n%s", reply)
	}
	accepts := []struct{ name, format string }{
		{"full-width # and digits", "＃接%s"},
		{"no space", "接%s"},
		{"space", "接 %s"},
		{"long word", "受理 %s"},
		{"ideographic space", "接\u3000%s"},
	}
	for i, tt := range accepts {
		t.Run(tt.name, func(t *testing.T) {
			member := fmt.Sprintf("o-forgiving-%d", i)
			d.member(member, "longlin-xinzhou")
			n := caseNumberIn(t, d.say(member, dirWords))
			num := fmt.Sprint(n)
			if strings.HasPrefix(tt.format, "＃") {
				num = fullWidth(num)
			}
			reply := dirSay(t, d, xinzhouDirector, fmt.Sprintf(tt.format, num))
			if !strings.Contains(reply, fmt.Sprintf("你已受理编号%d", n)) {
				t.Errorf("%q answered:\n%s", fmt.Sprintf(tt.format, num), reply)
			}
			if k := d.caseNo(n); k.Assignee != xinzhouDirector {
				t.Errorf("case %d assignee = %q", n, k.Assignee)
			}
		})
	}
	// 回复 glued to the number, a full-width colon before the words.
	d.member(dirMember, "longlin-xinzhou")
	n := caseNumberIn(t, d.say(dirMember, dirWords))
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("回复%d：好的", n))
	rows := d.sentTo(dirMember, bot.KindCaseReply)
	if len(rows) != 1 || !strings.Contains(rows[0].Text, "回复：好的\n") {
		t.Fatalf("回复%d：好的 sent %+v, want the member to read just 好的", n, rows)
	}
	// With a case in conversation, "回家了" is a plain message, asked
	// about, and not a reply.
	reply := dirSay(t, d, xinzhouDirector, "回家了")
	if !strings.Contains(reply, "发给会员") {
		t.Errorf("回家了 in conversation answered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 1 {
		t.Errorf("回家了 reached the member: %+v", got[1:])
	}
}

// caseState is what a command could change about a case, as the member
// and the directors would see it.
type caseState struct {
	Status, Assignee, Branch string
	Rating                   int
	Actions                  int
	ToMember                 int
}

func dirState(d *caseDesk, n int64) caseState {
	k := d.caseNo(n)
	return caseState{Status: k.Status, Assignee: k.Assignee, Branch: k.BranchID, Rating: k.Rating,
		Actions: len(d.actions(n)), ToMember: len(dirAboutCase(d, dirMember, k))}
}

func TestDirectorCommandsNeedTheRightDirector(t *testing.T) {
	commands := []struct {
		name, format string
		// done reports whether the county director's command did its work.
		done func(d *caseDesk, k bot.Case, reply string) bool
	}{
		{"view", "案件 %d", func(d *caseDesk, k bot.Case, reply string) bool {
			return strings.Contains(reply, dirWords) && len(dirAboutCase(d, countyDirector, k)) == 1
		}},
		{"accept", "接 %d", func(d *caseDesk, k bot.Case, reply string) bool {
			return k.Status == bot.CaseAccepted && k.Assignee == countyDirector
		}},
		{"reply", "回 %d 明天去厂里找老板", func(d *caseDesk, k bot.Case, reply string) bool {
			rows := d.sentTo(dirMember, bot.KindCaseReply)
			return len(rows) == 1 && strings.Contains(rows[0].Text, "明天去厂里找老板")
		}},
		{"note", "记 %d 老板姓王", func(d *caseDesk, k bot.Case, reply string) bool {
			return slices.Equal(dirActionTexts(d.t, d, k.Number, bot.ActionNote), []string{"老板姓王"})
		}},
		{"move", "转 %d 者保", func(d *caseDesk, k bot.Case, reply string) bool {
			return k.BranchID == "longlin-zhebao"
		}},
		{"close", "结 %d 已处理好", func(d *caseDesk, k bot.Case, reply string) bool {
			return k.Status == bot.CaseClosed
		}},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			d := newCaseDesk(t)
			n := dirOpenCase(t, d)
			// A photo on the case: a view would re-send it.
			d.push(bot.Inbound{OpenID: dirMember, Type: bot.TypeImage, MediaID: "media-" + c.name})
			text := fmt.Sprintf(c.format, n)
			before := dirState(d, n)
			k := d.caseNo(n)

			// A member of the branch, and someone never seen: the member
			// experience, never the case.
			d.member("o-plain", "longlin-xinzhou")
			for _, who := range []string{"o-plain", "o-stranger"} {
				reply := d.say(who, text)
				for _, secret := range []string{dirWords, "受理", fmt.Sprintf("编号%d", n), "已发给会员", "已记下", "已结案"} {
					if strings.Contains(reply, secret) {
						t.Errorf("%s's %q answered with %q:\n%s", who, text, secret, reply)
					}
				}
				if got := dirAboutCase(d, who, k); len(got) != 0 {
					t.Errorf("%s was sent case %d's messages: %+v", who, n, got)
				}
				if after := dirState(d, n); after != before {
					t.Errorf("%s's %q changed the case: %+v, was %+v", who, text, after, before)
				}
			}

			// Another branch's director: the words for a case that does
			// not exist, so they learn nothing of it.
			reply := dirSay(t, d, zhebaoDirector, text)
			none := dirSay(t, d, zhebaoDirector, strings.Replace(text, fmt.Sprint(n), "99999", 1))
			if want := strings.ReplaceAll(none, "99999", fmt.Sprint(n)); reply != want || !strings.Contains(reply, "没有找到") {
				t.Errorf("Zhebao's %q answered\n%s\nwant the refusal for a missing case:\n%s", text, reply, want)
			}
			if got := dirAboutCase(d, zhebaoDirector, k); len(got) != 0 {
				t.Errorf("Zhebao's director was sent case %d's messages: %+v", n, got)
			}
			if after := dirState(d, n); after != before {
				t.Errorf("Zhebao's %q changed the case: %+v, was %+v", text, after, before)
			}

			// The county acts on every branch's cases.
			reply = dirSay(t, d, countyDirector, text)
			if !c.done(d, d.caseNo(n), reply) {
				t.Errorf("county's %q did not work; answered:\n%s\ncase %+v", text, reply, d.caseNo(n))
			}
		})
	}
}

func TestDirectorPlainMessageWaitsForOne(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	dirSay(t, d, xinzhouDirector, fmt.Sprintf("接 %d", n))

	words := "明天上午我打电话给你"
	reply := dirSay(t, d, xinzhouDirector, words)
	if !strings.Contains(reply, "发给会员") || !strings.Contains(reply, "回复 1 发送") || !strings.Contains(reply, fmt.Sprintf("编号%d", n)) {
		t.Errorf("plain message in conversation answered:\n%s", reply)
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 0 {
		t.Fatalf("the plain message was sent before the director said 1: %+v", got)
	}
	if got := dirActionTexts(t, d, n, bot.ActionReply); len(got) != 0 {
		t.Fatalf("a reply was logged before the director said 1: %q", got)
	}

	reply = dirSay(t, d, xinzhouDirector, "1")
	if !strings.Contains(reply, "已发给会员") {
		t.Errorf("1 answered:\n%s", reply)
	}
	rows := d.sentTo(dirMember, bot.KindCaseReply)
	if len(rows) != 1 || !strings.Contains(rows[0].Text, words) {
		t.Fatalf("member's case replies = %+v, want one with %q", rows, words)
	}
	if got := dirActionTexts(t, d, n, bot.ActionReply); !slices.Equal(got, []string{words}) {
		t.Errorf("logged replies = %q, want %q", got, words)
	}

	// Anything but 1 drops the question: nothing goes, then or later.
	dirSay(t, d, xinzhouDirector, "带上劳动合同")
	if reply := dirSay(t, d, xinzhouDirector, "不用了"); strings.Contains(reply, "已发给会员") {
		t.Errorf("不用了 answered:\n%s", reply)
	}
	dirSay(t, d, xinzhouDirector, "1")
	for _, r := range d.sentTo(dirMember, bot.KindCaseReply) {
		if strings.Contains(r.Text, "带上劳动合同") {
			t.Errorf("a message the director did not confirm reached the member:\n%s", r.Text)
		}
	}
	if got := d.sentTo(dirMember, bot.KindCaseReply); len(got) != 1 {
		t.Errorf("member got %d replies, want still 1", len(got))
	}
}

// A director corrects what the bot understood: the member's words are
// stored as a labelled example of the intent named, the case's kind
// follows, and a category can be set the same way. A member cannot.
func TestDirectorCorrectsUnderstanding(t *testing.T) {
	d := newCaseDesk(t)
	n := dirOpenCase(t, d)
	num := fmt.Sprint(n)

	if reply := d.say(dirMember, "改 "+num+" 政策"); strings.Contains(reply, "已记下") {
		t.Errorf("a member corrected the bot: %q", reply)
	}
	reply := dirSay(t, d, xinzhouDirector, "改 "+num+" 政策")
	if !strings.Contains(reply, "政策") || !strings.Contains(reply, num) {
		t.Errorf("改 %s 政策 → %q", num, reply)
	}
	var got []struct {
		Text   string `db:"text"`
		Intent string `db:"intent"`
		Actor  string `db:"actor"`
	}
	if err := d.st.DB().Select(&got, `SELECT text, intent, actor FROM nlu_corrections ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != dirWords || got[0].Intent != "policy" || got[0].Actor != xinzhouDirector {
		t.Fatalf("corrections = %+v, want the member's words as policy, by the director", got)
	}
	if k := d.caseNo(n); k.Kind != bot.CaseQuestion {
		t.Errorf("kind = %s, want question once it is a policy question", k.Kind)
	}

	dirSay(t, d, xinzhouDirector, "改 "+num+" 伤病")
	if k := d.caseNo(n); k.Category != bot.CategoryInjury {
		t.Errorf("category = %s, want injury", k.Category)
	}
	if got := dirActionTexts(t, d, n, bot.ActionCorrected); len(got) != 2 {
		t.Errorf("corrected lines = %q, want 2", got)
	}
	if reply := dirSay(t, d, xinzhouDirector, "改 "+num+" 火星"); !strings.Contains(reply, "改成什么") {
		t.Errorf("an unknown word → %q, want the choices", reply)
	}
	// Another branch's director gets the refusal.
	if reply := dirSay(t, d, zhebaoDirector, "改 "+num+" 求助"); !strings.Contains(reply, "没有找到") {
		t.Errorf("the Zhebao director corrected a Xinzhou case: %q", reply)
	}
}
