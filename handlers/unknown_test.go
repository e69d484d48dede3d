package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestUnknownSaysWhatTheBotCanDo(t *testing.T) {
	ix := testkit.Index(t)
	u := understandFirst(t, ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentUnknown },
		"今天天气怎么样", "咨询一下", "哈哈哈")
	reply := handle(t, handlers.Unknown{}, &bot.Request{Msg: bot.Inbound{Type: bot.TypeText, Text: u.Text}, U: u})
	checkReadable(t, reply)
	// The member learns phrases that work.
	for _, phrase := range []string{"求助", "联系卡", "政策"} {
		if !strings.Contains(reply, phrase) {
			t.Errorf("fallback does not suggest %q:\n%s", phrase, reply)
		}
	}
}

// A text the bot cannot answer is put in front of a person: a question
// case for the member's branch, alerted with the branch's next batch.
func TestUnknownBecomesAQuestionCase(t *testing.T) {
	d := newCaseDesk(t)
	u := understandFirst(t, d.ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentUnknown && !u.Urgent },
		"我想问下这边的房子怎么租", "今天天气怎么样", "能帮我找个修车的地方吗", "咨询一下")
	d.member("o-q", "longlin-xinzhou")
	reply := d.say("o-q", u.Text)
	checkReadable(t, reply)
	n := caseNumberIn(t, reply)
	if !strings.Contains(reply, "工作人员") {
		t.Errorf("member not told a person will read it:\n%s", reply)
	}
	k := d.caseNo(n)
	if k.Kind != bot.CaseQuestion || k.BranchID != "longlin-xinzhou" || k.Summary != u.Text {
		t.Errorf("case = %+v, want a question for Xinzhou with the member's words", k)
	}
	if got := d.sentTo(xinzhouDirector, ""); len(got) != 0 {
		t.Errorf("a question was alerted one by one: %+v", got)
	}
	// Asking again adds to it rather than opening another.
	again := d.say("o-q", u.Text+"？有人吗")
	if caseNumberIn(t, again) != n || d.lastCase() != n {
		t.Errorf("a repeated question opened a new case: %q", again)
	}
}

// Adverts (two or more advert cues) are dropped without a case; a member
// using one such word is not.
func TestUnknownDropsAdverts(t *testing.T) {
	d := newCaseDesk(t)
	for _, advert := range []string{"兼职刷单日结，加微信详聊", "招聘代理，扫码领优惠",
		"招聘普工，日结工资，加微信13800000000", "兼职打字员日结加v"} {
		reply := d.say("o-ad", advert)
		if strings.Contains(reply, "编号") {
			t.Errorf("advert %q opened a case:\n%s", advert, reply)
		}
	}
	if n := d.lastCase(); n != 0 {
		t.Fatalf("adverts opened case %d", n)
	}
	// Too little to read ("嗯") is no question for a person either.
	if reply := d.say("o-short", "嗯嗯"); strings.Contains(reply, "编号") {
		t.Errorf("嗯嗯 opened a case:\n%s", reply)
	}
}
