package handlers_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"nuanjia/internal/testkit"

	"nuanjia/bot"
	"nuanjia/handlers"
)

// An urgent reply starts with the emergency number that fits: 110 for
// violence, 120 for a body in danger, 119 for fire.
func TestHelpUrgentStartsWithTheNumberThatFits(t *testing.T) {
	ix := testkit.Index(t)
	for _, tt := range []struct {
		danger bot.Danger
		number string
		texts  []string
	}{
		{bot.DangerPolice, "110", []string{"救命有人打我", "我老公喝醉了打我和孩子", "有人拿刀在门口说要杀我"}},
		{bot.DangerMedical, "120", []string{"工地上摔下来腰受伤了", "我老婆肚子痛流了好多血", "娃儿烧到40度了抽筋"}},
		{bot.DangerFire, "119", []string{"工棚着火了", "宿舍着火了好大的烟", "房子塌了压到人了"}},
	} {
		u := understandFirst(t, ix, func(u bot.Understanding) bool {
			return u.Intent == bot.IntentHelp && u.Urgent && u.Danger == tt.danger
		}, tt.texts...)
		reply := handle(t, handlers.Help{Desk: handlers.Desk{Knowledge: ix}}, &bot.Request{Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeText, Text: u.Text}, U: u})
		checkReadable(t, reply)
		first, _, _ := strings.Cut(reply, "\n")
		if !strings.Contains(first, tt.number) {
			t.Errorf("%s: urgent reply does not start with %s:\n%s", u.Text, tt.number, reply)
		}
		checkNamesPhone(t, reply)
	}
	// Unsure of the danger, all three numbers.
	reply := handle(t, handlers.Help{Desk: handlers.Desk{Knowledge: ix}}, &bot.Request{Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeText, Text: "快来人"},
		U: bot.Understanding{Text: "快来人", Intent: bot.IntentHelp, Urgent: true, Score: 1}})
	if first, _, _ := strings.Cut(reply, "\n"); !strings.Contains(first, "110") || !strings.Contains(first, "120") || !strings.Contains(first, "119") {
		t.Errorf("an urgent message of unknown danger does not give 110, 120 and 119:\n%s", reply)
	}
}

func TestHelpNamesTheDirectorsPhone(t *testing.T) {
	ix := testkit.Index(t)
	county := branch(t, ix, bot.CountyBranchID)
	xinzhou := branch(t, ix, "longlin-xinzhou")
	coal := "longshan-coal"
	tests := []struct {
		name      string
		text      string
		member    bot.Member
		want      bot.Branch
		asksWhere bool
	}{
		{"branch named in the message", "新州 求助", bot.Member{}, xinzhou, false},
		{"member's own branch", "我要求助", bot.Member{BranchID: &coal}, branch(t, ix, coal), false},
		{"no branch known: the county", "我要求助", bot.Member{}, county, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest(ix, "o-a", tt.text, tt.member)
			if req.U.Intent != bot.IntentHelp {
				t.Fatalf("%q understood as %s, want help", tt.text, req.U.Intent)
			}
			reply := handle(t, handlers.Help{Desk: handlers.Desk{Knowledge: ix}}, req)
			checkReadable(t, reply)
			d := tt.want.Directors[0]
			if !strings.Contains(reply, d.Name) || !strings.Contains(reply, d.Phone) {
				t.Errorf("reply does not name %s's director %s %s:\n%s", tt.want.ID, d.Name, d.Phone, reply)
			}
			if strings.Contains(reply, "110") {
				t.Errorf("a calm request for help is told to call the police:\n%s", reply)
			}
			if got := strings.Contains(reply, "你在哪里"); got != tt.asksWhere {
				t.Errorf("asks where the member is: %v, want %v:\n%s", got, tt.asksWhere, reply)
			}
		})
	}
}

// A member of a branch writes what happened: a case opens at once, the
// reply carries its number and the branch, and the branch's director has
// the alert in the outbox of the same transaction.
func TestHelpOpensACaseAndAlertsTheBranch(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-worker", "longlin-xinzhou")
	reply := d.say("o-worker", "老板拖欠工资三个月了")
	checkReadable(t, reply)
	n := caseNumberIn(t, reply)
	for _, want := range []string{"新州镇计生协", "我的求助", "会员号"} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply does not say %q:\n%s", want, reply)
		}
	}
	if strings.Contains(reply, "110") {
		t.Errorf("a calm request is told to call the police:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.BranchID != "longlin-xinzhou" || k.Category != bot.CategoryWages || k.Kind != bot.CaseHelp ||
		k.Status != bot.CaseOpen || k.Summary != "老板拖欠工资三个月了" || k.MemberNo == 0 {
		t.Errorf("case = %+v", k)
	}
	if !strings.Contains(reply, strconv.FormatInt(k.MemberNo, 10)) {
		t.Errorf("reply does not show member number %d:\n%s", k.MemberNo, reply)
	}
	alerts := d.sentTo(xinzhouDirector, bot.KindAlert)
	if len(alerts) != 1 || !alerts[0].Once || alerts[0].CaseID.Int64 != k.ID {
		t.Fatalf("alerts to the Xinzhou director = %+v, want one, at most once, about the case", alerts)
	}
	for _, want := range []string{"编号" + strconv.FormatInt(n, 10), "欠薪", "老板拖欠工资", "接 " + strconv.FormatInt(n, 10)} {
		if !strings.Contains(alerts[0].Text, want) {
			t.Errorf("alert does not say %q:\n%s", want, alerts[0].Text)
		}
	}
	if got := d.sentTo(countyDirector, ""); len(got) != 0 {
		t.Errorf("the county was alerted too: %+v", got)
	}
	if got := d.actions(n); !slices.Equal(got, []string{"opened o-worker", "alerted bot"}) {
		t.Errorf("log = %q", got)
	}
}

// "救命" alone asks what happened, after the emergency numbers; the next
// message opens the case.
func TestHelpBareAsksWhatHappened(t *testing.T) {
	d := newCaseDesk(t)
	first := d.say("o-bare", "救命")
	checkReadable(t, first)
	if !strings.Contains(first, "发生了什么") {
		t.Fatalf("bare 救命 does not ask what happened:\n%s", first)
	}
	if n := d.lastCase(); n != 0 {
		t.Fatalf("a case opened before the member said what happened: %d", n)
	}
	second := d.say("o-bare", "我在工地摔下来了腿动不了")
	n := caseNumberIn(t, second)
	if k := d.caseNo(n); k.Summary != "我在工地摔下来了腿动不了" || k.BranchID != bot.CountyBranchID {
		t.Errorf("case = %+v, want the description for the county (no branch known)", k)
	}
	if got := d.sentTo(countyDirector, bot.KindAlert); len(got) != 1 {
		t.Errorf("county alerts = %d, want 1", len(got))
	}
	// The menu's 求助 asks too.
	menu := d.push(bot.Inbound{OpenID: "o-menu", Type: bot.TypeEvent, Event: bot.EventClick, EventKey: "help"})
	if len(menu) != 1 || !strings.Contains(menu[0], "发生了什么") {
		t.Errorf("menu 求助 answered %q", menu)
	}
}

// An urgent help message still starts with the emergency numbers, and
// its case is marked urgent for the director.
func TestHelpUrgentCaseStartsWithEmergencyNumbers(t *testing.T) {
	d := newCaseDesk(t)
	u := understandFirst(t, d.ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentHelp && u.Urgent },
		"救命有人打我", "我老公喝醉了打我和孩子", "工地上摔下来腰受伤了老板不管")
	d.member("o-hurt", "longlin-zhebao")
	reply := d.say("o-hurt", u.Text)
	first, _, _ := strings.Cut(reply, "\n")
	if !strings.Contains(first, "110") && !strings.Contains(first, "120") && !strings.Contains(first, "119") {
		t.Errorf("urgent reply does not start with an emergency number:\n%s", reply)
	}
	k := d.caseNo(caseNumberIn(t, reply))
	if !k.Urgent {
		t.Errorf("case not urgent: %+v", k)
	}
	alerts := d.sentTo(zhebaoDirector, bot.KindAlert)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Text, "紧急") {
		t.Errorf("alert = %+v, want one saying 紧急", alerts)
	}
}
