package handlers_test

import (
	"context"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/internal/testkit"
)

// A new follower is welcomed, asked where they are (unless a branch's QR
// code said so) and asked for consent; the answer to what they came for
// always comes first, and the questions come once.
func TestOnboardingOnSubscribe(t *testing.T) {
	d := newCaseDesk(t)
	texts := d.push(bot.Inbound{OpenID: "o-new", Type: bot.TypeEvent, Event: bot.EventSubscribe})
	if len(texts) != 3 || !strings.Contains(texts[0], "欢迎") || !strings.Contains(texts[1], "哪个地方") ||
		!strings.Contains(texts[2], "回复「同意」") {
		t.Fatalf("subscribe answered %q, want welcome, where are you, consent", texts)
	}
	for _, s := range texts {
		checkReadable(t, s)
	}
	// Their answer with a place puts them in that branch.
	if r := d.say("o-new", "者保"); !strings.Contains(r, "者保") || strings.Contains(r, "回复「同意」") {
		t.Errorf("place answer:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = 'o-new' AND branch_id = 'longlin-zhebao'`); got != 1 {
		t.Error("the place named did not become the member's branch")
	}

	// Through a branch's QR code the branch is known (the code names a
	// branch the database holds): no question about it.
	if err := d.st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	texts = d.push(bot.Inbound{OpenID: "o-qr", Type: bot.TypeEvent, Event: bot.EventSubscribe, EventKey: "qrscene_longshan-hongfa"})
	if len(texts) != 2 || strings.Contains(strings.Join(texts, ""), "哪个地方") {
		t.Errorf("QR subscribe answered %q, want welcome and consent only", texts)
	}
}

// A member who writes before the bot ever greeted them is asked too, after
// their answer; an urgent request is answered alone, and the question
// waits for their next message. A new consent text asks again.
func TestOnboardingOnFirstMessage(t *testing.T) {
	d := newCaseDesk(t)
	r := d.say("o-first", "新州计生协电话多少")
	if i, j := strings.Index(r, "0776"), strings.Index(r, "回复「同意」"); i < 0 || j < i {
		t.Fatalf("first message answered:\n%s\nwant the card, then the consent question", r)
	}
	if strings.Contains(r, "哪个地方") {
		t.Errorf("asked where they are although they named 新州:\n%s", r)
	}
	if r := d.say("o-first", "谢谢"); strings.Contains(r, "同意") {
		t.Errorf("consent asked twice:\n%s", r)
	}

	r = d.say("o-urgent", "救命 我老公拿刀砍我 在新州")
	if strings.Contains(r, "同意") || !strings.Contains(r, "110") {
		t.Errorf("urgent first message answered:\n%s\nwant the emergency answer alone", r)
	}
	if r := d.say("o-urgent", "好"); !strings.Contains(r, "回复「同意」") {
		t.Errorf("consent not asked after the urgent message:\n%s", r)
	}

	d.exec(`UPDATE members SET consent_asked = '2020-01' WHERE openid = 'o-first'`)
	if r := d.say("o-first", "你好"); !strings.Contains(r, "回复「同意」") {
		t.Errorf("a new consent text version was not asked:\n%s", r)
	}
}
