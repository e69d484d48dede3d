package handlers_test

import (
	"fmt"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
	"nuanjia/internal/testkit"
)

// Without a database (the classify and say tools) the visit intent names
// who arranges visits.
func TestVisitNamesWhoArrangesIt(t *testing.T) {
	ix := testkit.Index(t)
	coal := "longshan-coal"
	tests := []struct {
		name      string
		text      string
		member    bot.Member
		want      bot.Branch
		asksWhere bool
	}{
		{"branch named", "新州 想约上门访视", bot.Member{}, branch(t, ix, "longlin-xinzhou"), false},
		{"member's own branch", "我想预约上门访视", bot.Member{BranchID: &coal}, branch(t, ix, coal), false},
		{"branch unknown: the county", "我想预约上门访视", bot.Member{}, branch(t, ix, bot.CountyBranchID), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest(ix, "o-a", tt.text, tt.member)
			if req.U.Intent != bot.IntentVisit {
				t.Fatalf("%q understood as %s, want visit", tt.text, req.U.Intent)
			}
			reply := handle(t, handlers.Visit{Knowledge: ix}, req)
			checkReadable(t, reply)
			checkNamesPhone(t, reply)
			if !strings.Contains(reply, tt.want.Directors[0].Phone) {
				t.Errorf("reply does not give %s's director %s:\n%s", tt.want.ID, tt.want.Directors[0].Phone, reply)
			}
			if got := strings.Contains(reply, "在哪里"); got != tt.asksWhere {
				t.Errorf("asks where the member is: %v, want %v:\n%s", got, tt.asksWhere, reply)
			}
		})
	}
}

// A member books from WeChat: the bot offers the next days, the answer
// books a requested visit and alerts the branch's director, the
// director's 确认 confirms it and tells the member, and 下次访视 shows it.
func TestMemberBooksAndTheDirectorConfirms(t *testing.T) {
	d := newVisitDesk(t)
	d.member("o-m", "longlin-xinzhou")
	offer := d.say("o-m", "我想预约上门访视")
	checkReadable(t, offer)
	if !strings.Contains(offer, "可以约：明天(") || !strings.Contains(offer, "后天(") || !strings.Contains(offer, "明天下午3点") {
		t.Fatalf("the visit intent answered %q, want the next days offered", offer)
	}
	sent := d.say("o-m", "那就明天下午3点吧")
	checkReadable(t, sent)
	if !strings.Contains(sent, "已发给新州镇计生协，负责人确认后告诉你") || !strings.Contains(sent, "编号5001") {
		t.Fatalf("the date answered %q, want it sent to 新州 and numbered 5001", sent)
	}
	v := d.visit(5001)
	if v.Status != bot.VisitRequested || v.BranchID != "longlin-xinzhou" || !v.At.Equal(dayAhead(1, 15)) || v.BookedBy != bot.BookedByMember {
		t.Errorf("booked %+v, want requested for 新州 at %s by the member", v, dayAhead(1, 15))
	}
	if n := d.pendingReminders(5001); n != 0 {
		t.Errorf("%d reminders before the director confirmed, want none", n)
	}
	alert := lastText(d.sentTo(xinzhouDirector, bot.KindVisit))
	checkReadable(t, alert)
	if !strings.Contains(alert, "【访视预约】") || !strings.Contains(alert, "确认 5001") {
		t.Errorf("新州's director was alerted %q, want the request with 确认 5001", alert)
	}
	if other := d.sentTo(zhebaoDirector, bot.KindVisit); len(other) != 0 {
		t.Errorf("者保's director got %d visit messages, want none", len(other))
	}
	// Neither a member nor another branch's director can confirm it.
	d.member("o-other", "longlin-xinzhou")
	d.say("o-other", "确认 5001")
	d.say(zhebaoDirector, "确认 5001")
	if v := d.visit(5001); v.Status != bot.VisitRequested {
		t.Fatalf("after others' 确认 the visit is %s, want requested", v.Status)
	}
	reply := d.say(xinzhouDirector, "确认 5001")
	if !strings.Contains(reply, "已确认编号5001") || !strings.Contains(reply, "已告诉会员") {
		t.Fatalf("确认 5001 answered %q", reply)
	}
	told := lastText(d.sentTo("o-m", bot.KindVisit))
	checkReadable(t, told)
	if !strings.Contains(told, "负责人已确认") || !strings.Contains(told, "明天") {
		t.Errorf("the member was told %q, want the confirmation", told)
	}
	if n := d.pendingReminders(5001); n == 0 {
		t.Error("no reminder pending after the confirmation")
	}
	if next := d.say("o-m", "下次访视"); !strings.Contains(next, "编号5001，已确认") {
		t.Errorf("下次访视 answered %q, want the confirmed visit", next)
	}
	if again := d.say("o-m", "我想预约上门访视"); !strings.Contains(again, "你约了") {
		t.Errorf("asking again answered %q, want the visit they have", again)
	}
}

// A day alone is kept and its time asked; a time outside visiting hours
// is refused; "算了" ends the question.
func TestMemberIsAskedForWhatTheAnswerLacks(t *testing.T) {
	d := newVisitDesk(t)
	d.member("o-ask", "longlin-zhebao")
	d.say("o-ask", "我想预约上门访视")
	if reply := d.say("o-ask", "后天"); !strings.Contains(reply, "几点方便") {
		t.Fatalf("a day alone answered %q, want the time asked", reply)
	}
	if reply := d.say("o-ask", "晚上11点"); !strings.Contains(reply, "早上8点到晚上8点") {
		t.Errorf("23:00 answered %q, want the visiting hours", reply)
	}
	if reply := d.say("o-ask", "上午10点"); !strings.Contains(reply, "已发给者保乡计生协") {
		t.Fatalf("the time answered %q, want the visit sent", reply)
	}
	if v := d.visit(5001); !v.At.Equal(dayAhead(2, 10)) {
		t.Errorf("booked at %s, want %s", v.At, dayAhead(2, 10))
	}
	d.member("o-drop", "longlin-zhebao")
	d.say("o-drop", "我想预约上门访视")
	if reply := d.say("o-drop", "算了"); !strings.Contains(reply, "不约了") {
		t.Errorf("算了 answered %q", reply)
	}
	if n := d.count(`SELECT count(*) FROM visits WHERE openid = 'o-drop'`); n != 0 {
		t.Errorf("%d visits for the member who gave up", n)
	}
}

// 改期 asks the new time and sends it to the director to confirm again,
// dropping the reminders meanwhile; 取消访视 cancels and tells the director.
func TestMemberMovesAndCancelsTheirVisit(t *testing.T) {
	d := newVisitDesk(t)
	no := d.numberedMember("o-mv", "longlin-xinzhou")
	d.say(xinzhouDirector, fmt.Sprintf("访 %d 后天 下午3点 上门访视", no))
	if reply := d.say("o-mv", "改期"); !strings.Contains(reply, "改到什么时候") {
		t.Fatalf("改期 answered %q", reply)
	}
	reply := d.say("o-mv", "大后天上午10点")
	if !strings.Contains(reply, "已把改期发给负责人") {
		t.Fatalf("the new time answered %q", reply)
	}
	if v := d.visit(5001); v.Status != bot.VisitRequested || !v.At.Equal(dayAhead(3, 10)) {
		t.Errorf("after 改期 the visit is %s at %s, want requested at %s", v.Status, v.At, dayAhead(3, 10))
	}
	if n := d.pendingReminders(5001); n != 0 {
		t.Errorf("%d reminders pending for the old time", n)
	}
	if alert := lastText(d.sentTo(xinzhouDirector, bot.KindVisit)); !strings.Contains(alert, "【访视改期】") {
		t.Errorf("the director was told %q, want the change", alert)
	}
	reply = d.say("o-mv", "取消访视")
	if !strings.Contains(reply, "已取消") || !strings.Contains(reply, "已告诉负责人") {
		t.Fatalf("取消访视 answered %q", reply)
	}
	if v := d.visit(5001); v.Status != bot.VisitCancelled {
		t.Errorf("the visit is %s, want cancelled", v.Status)
	}
	if alert := lastText(d.sentTo(xinzhouDirector, bot.KindVisit)); !strings.Contains(alert, "【访视取消】") {
		t.Errorf("the director was told %q, want the cancellation", alert)
	}
	if next := d.say("o-mv", "下次访视"); !strings.Contains(next, "没有约好的访视") {
		t.Errorf("下次访视 after cancelling answered %q", next)
	}
}
