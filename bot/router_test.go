package bot_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"nuanjia/internal/testkit"
	"slices"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/handlers"
	"nuanjia/store"
)

// routerFixture is a router wired as serve wires it, minus PostgreSQL: no
// test here asks to stop broadcasts, the one handler that writes to it.
type routerFixture struct {
	ix      *nlu.Index
	choices *store.Redis
	router  *bot.Router
}

func newRouterFixture(t *testing.T) routerFixture {
	t.Helper()
	ix := testkit.Index(t)
	choices := testkit.Redis(t)
	r := bot.NewRouter(ix, choices, slog.New(slog.NewTextHandler(io.Discard, nil)))
	handlers.Register(r, handlers.Deps{Knowledge: ix, Choices: choices})
	return routerFixture{ix: ix, choices: choices, router: r}
}

// route sends one push from openID and returns the reply the member reads.
func (f routerFixture) route(t *testing.T, msg bot.Inbound, m bot.Member) (string, bot.Understanding) {
	t.Helper()
	if msg.OpenID == "" {
		msg.OpenID = "o-router"
	}
	m.OpenID = msg.OpenID
	reply, u, err := f.router.Route(context.Background(), msg, m, nil)
	if err != nil {
		t.Fatalf("Route(%+v): %v", msg, err)
	}
	return reply.Text, u
}

func text(s string) bot.Inbound { return bot.Inbound{Type: bot.TypeText, Text: s} }
func click(key string) bot.Inbound {
	return bot.Inbound{Type: bot.TypeEvent, Event: bot.EventClick, EventKey: key}
}

// unknownReply is what the fallback handler says.
func unknownReply(t *testing.T) string {
	t.Helper()
	r, err := handlers.Unknown{}.Handle(context.Background(), &bot.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Text
}

// servedBy reports whether reply is recognisably the answer of intent's
// handler, by the words each one always uses.
func servedBy(intent bot.Intent, reply string) bool {
	marks := map[bot.Intent][]string{
		bot.IntentHelp:    {"收到你的求助"},
		bot.IntentContact: {"【", "你在哪里"},
		bot.IntentPolicy:  {"更新", "你想问的是哪一个", "记下了"},
		bot.IntentVisit:   {"上门访视"},
		bot.IntentStatus:  {"求助进度"},
	}[intent]
	for _, m := range marks {
		if strings.Contains(reply, m) {
			return true
		}
	}
	return false
}

// closeIntentTexts may each leave the index torn between two intents.
var closeIntentTexts = []string{
	"求助 联系卡",
	"新州的工资被拖欠了想政策咨询",
	"我要求助 预约访视",
	"联系卡 预约访视",
	"孩子上学 电话",
	"新州 工资",
}

// askClose sends a message with close intents and returns the choices the
// member was offered. Without such a message from the index, it stores the
// question the router would have stored, so the numbers are still tested.
func (f routerFixture) askClose(t *testing.T, openID string) []bot.Intent {
	t.Helper()
	for _, s := range closeIntentTexts {
		u := f.ix.Understand(s)
		if len(u.Choices) < 2 {
			continue
		}
		msg := text(s)
		msg.OpenID = openID
		reply, _ := f.route(t, msg, bot.Member{})
		if !strings.Contains(reply, "回复数字") {
			t.Fatalf("%q has close intents %v but the reply asks no numbered question:\n%s", s, u.Choices, reply)
		}
		for i, c := range u.Choices {
			if !strings.Contains(reply, string(rune('1'+i))+" ") {
				t.Errorf("numbered question lacks option %d (%s):\n%s", i+1, c, reply)
			}
		}
		return u.Choices
	}
	t.Logf("none of %q has close intents now; storing the question directly", closeIntentTexts)
	choices := []bot.Intent{bot.IntentHelp, bot.IntentContact}
	p := bot.PendingChoice{Text: "求助 联系卡", Choices: choices}
	if err := f.choices.SetPendingChoice(context.Background(), openID, p, bot.ChoiceTTL); err != nil {
		t.Fatal(err)
	}
	return choices
}

func TestRouterAsksBetweenCloseIntents(t *testing.T) {
	f := newRouterFixture(t)
	var asked string
	for _, s := range closeIntentTexts {
		if u := f.ix.Understand(s); len(u.Choices) >= 2 {
			asked = s
			break
		}
	}
	if asked == "" {
		t.Fatalf("none of %q has close intents any more: give the test a message the engine finds ambiguous", closeIntentTexts)
	}
	msg := text(asked)
	msg.OpenID = "o-ask"
	reply, u := f.route(t, msg, bot.Member{})
	if !strings.Contains(reply, "回复数字") || !strings.Contains(reply, "1 ") || !strings.Contains(reply, "2 ") {
		t.Errorf("reply to %q is not a numbered question:\n%s", asked, reply)
	}
	p, found, err := f.choices.TakePendingChoice(context.Background(), "o-ask")
	if err != nil || !found {
		t.Fatalf("question not remembered: found %v, %v", found, err)
	}
	if p.Text != asked || !slices.Equal(p.Choices, u.Choices) {
		t.Errorf("remembered %+v, want text %q and choices %v", p, asked, u.Choices)
	}
}

func TestRouterAnswersTheChosenNumber(t *testing.T) {
	tests := []struct {
		name, reply string
		pick        int
	}{
		{"first", "1", 0},
		{"second", "2", 1},
		{"second, full-width", "２", 1},
		{"second, with a full stop", "2。", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRouterFixture(t)
			choices := f.askClose(t, "o-num")
			msg := text(tt.reply)
			msg.OpenID = "o-num"
			reply, u := f.route(t, msg, bot.Member{})
			want := choices[tt.pick]
			if u.Intent != want {
				t.Errorf("%q served %s, want %s", tt.reply, u.Intent, want)
			}
			if !servedBy(want, reply) {
				t.Errorf("%q did not get the %s answer:\n%s", tt.reply, want, reply)
			}
			// The question is answered: the same number again is a new message.
			again, _ := f.route(t, msg, bot.Member{})
			if again != unknownReply(t) {
				t.Errorf("a second %q still answered the old question:\n%s", tt.reply, again)
			}
		})
	}
}

// The policy handler's own numbered list is answered through the router.
func TestRouterAnswersAChosenFAQ(t *testing.T) {
	f := newRouterFixture(t)
	var asked bot.Understanding
	for _, s := range []string{"孩子", "政策咨询", "有什么政策"} {
		if u := f.ix.Understand(s); u.Intent == bot.IntentPolicy && len(u.FAQs) >= 2 && len(u.Choices) == 0 {
			asked = u
			break
		}
	}
	if asked.Text == "" {
		t.Fatal("no candidate text gives a list of FAQs")
	}
	list, _ := f.route(t, text(asked.Text), bot.Member{})
	if !strings.Contains(list, "回复数字") {
		t.Fatalf("policy list does not ask for a number:\n%s", list)
	}
	reply, u := f.route(t, text("2"), bot.Member{})
	faq, _ := f.ix.FAQ(asked.FAQs[1])
	if u.FAQ != faq.ID || !strings.HasPrefix(reply, faq.Answer) {
		t.Errorf("reply to 2 is not the answer of %s:\n%s", faq.ID, reply)
	}
}

func TestRouterNumberWithoutQuestionFallsBack(t *testing.T) {
	f := newRouterFixture(t)
	reply, u := f.route(t, text("2"), bot.Member{})
	if u.Intent != bot.IntentUnknown || reply != unknownReply(t) {
		t.Errorf("a lone 2 served %s:\n%s", u.Intent, reply)
	}
}

func TestRouterEventsAndOtherMessages(t *testing.T) {
	f := newRouterFixture(t)
	xinzhou := "longlin-xinzhou"
	card, _ := f.ix.Branch(xinzhou)
	subsidy, ok := f.ix.FAQ("childcare-subsidy")
	if !ok {
		t.Fatal("the demo knowledge base has no childcare-subsidy FAQ")
	}
	tests := []struct {
		name       string
		msg        bot.Inbound
		member     bot.Member
		want       func(reply string) bool
		wantIntent bot.Intent
	}{
		{"menu contact", click("contact"), bot.Member{BranchID: &xinzhou},
			func(r string) bool { return strings.Contains(r, card.Name) && strings.Contains(r, card.Phone) }, bot.IntentContact},
		{"menu key in capitals", click(" CONTACT "), bot.Member{BranchID: &xinzhou},
			func(r string) bool { return strings.Contains(r, card.Name) }, bot.IntentContact},
		{"unknown menu key", click("lottery"), bot.Member{},
			func(r string) bool { return r == unknownReply(t) }, bot.IntentUnknown},
		{"menu policy topic", click("faq:childcare-subsidy"), bot.Member{},
			func(r string) bool { return strings.HasPrefix(r, subsidy.Answer) }, bot.IntentPolicy},
		{"menu policy topic the knowledge base lacks", click("faq:lottery"), bot.Member{},
			func(r string) bool { return strings.Contains(r, "想问哪方面的政策") }, bot.IntentPolicy},
		{"follow", bot.Inbound{Type: bot.TypeEvent, Event: bot.EventSubscribe}, bot.Member{},
			func(r string) bool { return strings.Contains(r, "欢迎") }, bot.IntentGreeting},
		{"unfollow", bot.Inbound{Type: bot.TypeEvent, Event: bot.EventUnsubscribe}, bot.Member{},
			func(r string) bool { return r == "" }, bot.IntentUnsubscribe},
		{"voice not recognised", bot.Inbound{Type: bot.TypeVoice, Text: "  "}, bot.Member{},
			func(r string) bool { return strings.Contains(r, "打字") }, bot.IntentUnknown},
		{"voice recognised", bot.Inbound{Type: bot.TypeVoice, Text: "新州"}, bot.Member{},
			func(r string) bool { return strings.Contains(r, card.Name) }, bot.IntentContact},
		{"image", bot.Inbound{Type: bot.TypeImage}, bot.Member{},
			func(r string) bool { return strings.Contains(r, "图片收到了") }, bot.IntentUnknown},
		{"location", bot.Inbound{Type: bot.TypeLocation, Located: true, Lat: card.Lat, Lng: card.Lng}, bot.Member{},
			func(r string) bool { return strings.Contains(r, card.Name) && strings.Contains(r, "公里") }, bot.IntentContact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, u := f.route(t, tt.msg, tt.member)
			if !tt.want(reply) {
				t.Errorf("reply:\n%s", reply)
			}
			if u.Intent != tt.wantIntent {
				t.Errorf("logged intent %s, want %s", u.Intent, tt.wantIntent)
			}
		})
	}
}

// A policy topic on the menu reaches the policy handler with its FAQ id,
// known or not: the handler, not the router, decides what to answer.
func TestRouterMenuTopicCarriesItsFAQ(t *testing.T) {
	tests := []struct{ key, want string }{
		{"faq:childcare-subsidy", "childcare-subsidy"},
		{" FAQ:Prenatal-Checkup ", "prenatal-checkup"},
		{"faq:no-such-faq", "no-such-faq"},
	}
	for _, tt := range tests {
		key, want := tt.key, tt.want
		t.Run(key, func(t *testing.T) {
			f := newRouterFixture(t)
			var got *bot.Understanding
			f.router.Register(bot.IntentPolicy, bot.HandlerFunc(func(_ context.Context, req *bot.Request) (bot.Reply, error) {
				got = &req.U
				return bot.Reply{Text: "policy"}, nil
			}))
			reply, u := f.route(t, click(key), bot.Member{})
			if got == nil || reply != "policy" {
				t.Fatalf("%q did not reach the policy handler; reply:\n%s", key, reply)
			}
			if got.FAQ != want || u.FAQ != want || u.Intent != bot.IntentPolicy {
				t.Errorf("%q: handler got FAQ %q, logged %s/%q; want policy/%q", key, got.FAQ, u.Intent, u.FAQ, want)
			}
		})
	}
}

// A bug in one handler must not take the webhook down or show a stack.
func TestRouterRecoversFromHandlerPanic(t *testing.T) {
	f := newRouterFixture(t)
	f.router.Register(bot.IntentGreeting, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		panic("greeting broke")
	}))
	reply, u, err := f.router.Route(context.Background(), bot.Inbound{OpenID: "o-p", Type: bot.TypeEvent, Event: bot.EventSubscribe}, bot.Member{}, nil)
	if err != nil || reply.Text != "" {
		t.Errorf("after a panic: reply %q, error %v; want nothing, so WeChat gets success", reply.Text, err)
	}
	if u.Intent != bot.IntentGreeting {
		t.Errorf("logged intent %s, want greeting", u.Intent)
	}
	// The router still serves the next member.
	if next, _ := f.route(t, click("contact"), bot.Member{}); !strings.Contains(next, "你在哪里") {
		t.Errorf("after a panic the router does not answer:\n%s", next)
	}
}

func TestRouterApologisesForHandlerError(t *testing.T) {
	f := newRouterFixture(t)
	f.router.Register(bot.IntentGreeting, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		return bot.Reply{Text: "内部细节"}, errors.New("database gone")
	}))
	reply, _ := f.route(t, bot.Inbound{Type: bot.TypeEvent, Event: bot.EventSubscribe}, bot.Member{})
	if !strings.Contains(reply, "抱歉") {
		t.Errorf("member not told something went wrong:\n%s", reply)
	}
	if strings.Contains(reply, "database") || strings.Contains(reply, "内部细节") {
		t.Errorf("member shown the failure's details:\n%s", reply)
	}
}
