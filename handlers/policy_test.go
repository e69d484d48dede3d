package handlers_test

import (
	"context"
	"fmt"
	"nuanjia/internal/testkit"
	"slices"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestPolicyClearAnswer(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Policy{Knowledge: ix, Choices: testkit.Redis(t)}
	u := understandFirst(t, ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentPolicy && u.FAQ != "" },
		"现在可以生三个孩子吗", "补贴", "居住证怎么办")
	f, _ := ix.FAQ(u.FAQ)

	reply := handle(t, h, &bot.Request{Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeText, Text: u.Text}, U: u})
	checkReadable(t, reply)
	if !strings.HasPrefix(reply, f.Answer) {
		t.Errorf("reply is not the answer of %s:\n%s", f.ID, reply)
	}
	// The member can see how current the answer is and where it comes from.
	if !strings.Contains(reply, f.Updated+"更新") || !strings.Contains(reply, f.Source) {
		t.Errorf("reply lacks the %s更新 line with its source:\n%s", f.Updated, reply)
	}
}

// Every answer in the knowledge base must fit a phone screen with its 更新 line.
func TestPolicyEveryAnswerFitsAPhone(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Policy{Knowledge: ix, Choices: testkit.Redis(t)}
	for _, f := range ix.Knowledge().FAQs {
		t.Run(f.ID, func(t *testing.T) {
			reply := handle(t, h, &bot.Request{U: bot.Understanding{Intent: bot.IntentPolicy, FAQ: f.ID}})
			checkReadable(t, reply)
		})
	}
}

func TestPolicyThreeCandidatesAsksWhichAndRemembers(t *testing.T) {
	ix := testkit.Index(t)
	choices := testkit.Redis(t)
	h := handlers.Policy{Knowledge: ix, Choices: choices}
	u := understandFirst(t, ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentPolicy && len(u.FAQs) == 3 },
		"孩子", "政策咨询", "有什么政策", "请问有什么规定")

	reply := handle(t, h, &bot.Request{Msg: bot.Inbound{OpenID: "o-list", Type: bot.TypeText, Text: u.Text}, U: u})
	checkReadable(t, reply)
	for i, id := range u.FAQs {
		f, _ := ix.FAQ(id)
		if line := fmt.Sprintf("%d %s", i+1, f.Question); !strings.Contains(reply, line) {
			t.Errorf("list lacks %q:\n%s", line, reply)
		}
	}
	if strings.Contains(reply, "更新") {
		t.Errorf("a question with three candidates got an answer instead of a list:\n%s", reply)
	}

	p, found, err := choices.TakePendingChoice(context.Background(), "o-list")
	if err != nil || !found {
		t.Fatalf("no pending question stored: found %v, %v", found, err)
	}
	if !slices.Equal(p.FAQs, u.FAQs) || p.Text != u.Text {
		t.Errorf("pending question = %+v, want FAQs %q for %q", p, u.FAQs, u.Text)
	}
}

// One known candidate out of several ids (the others removed by an import)
// is answered straight away.
func TestPolicySingleKnownCandidateIsAnswered(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Policy{Knowledge: ix, Choices: testkit.Redis(t)}
	f := ix.Knowledge().FAQs[0]
	u := bot.Understanding{Intent: bot.IntentPolicy, FAQs: []string{"removed-faq", f.ID}}
	reply := handle(t, h, &bot.Request{Msg: bot.Inbound{OpenID: "o-a"}, U: u})
	checkReadable(t, reply)
	if !strings.HasPrefix(reply, f.Answer) {
		t.Errorf("reply is not %s's answer:\n%s", f.ID, reply)
	}
}

// The member asked something no FAQ covers.
func TestPolicyNoCandidateHandsOffWithAPhone(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Policy{Knowledge: ix, Choices: testkit.Redis(t)}
	xinzhou := "longlin-xinzhou"
	tests := []struct {
		name   string
		member bot.Member
		want   bot.Branch
	}{
		{"member of a branch", bot.Member{BranchID: &xinzhou}, branch(t, ix, xinzhou)},
		{"branch unknown: the county", bot.Member{}, branch(t, ix, bot.CountyBranchID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &bot.Request{
				Msg:    bot.Inbound{OpenID: "o-a", Type: bot.TypeText, Text: "外出务工人员的养老保险怎么转"},
				Member: tt.member,
				U:      bot.Understanding{Text: "外出务工人员的养老保险怎么转", Intent: bot.IntentPolicy, Score: 0.5},
			}
			reply := handle(t, h, req)
			checkReadable(t, reply)
			checkNamesPhone(t, reply)
			if !strings.Contains(reply, tt.want.Directors[0].Phone) {
				t.Errorf("hand-off does not give %s's director %s:\n%s", tt.want.ID, tt.want.Directors[0].Phone, reply)
			}
		})
	}
}

// The member tapped the 政策咨询 menu item: no question yet, so the bot asks
// for one instead of promising an answer to nothing.
func TestPolicyMenuTapAsksForTheQuestion(t *testing.T) {
	h := handlers.Policy{Knowledge: testkit.Index(t), Choices: testkit.Redis(t)}
	reply := handle(t, h, &bot.Request{
		Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeEvent, Event: bot.EventClick, EventKey: "policy"},
		U:   bot.Understanding{Intent: bot.IntentPolicy, Score: 1},
	})
	checkReadable(t, reply)
	if !strings.Contains(reply, "直接发问题") || strings.Contains(reply, "记下了") {
		t.Errorf("menu tap got %q, want a prompt for the question", reply)
	}
}

// A policy question no answer on file fits reaches a person as a
// question case, and the member is told so with a number to call.
func TestPolicyWithoutAnAnswerBecomesAQuestionCase(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-pol", "longlin-zhebao")
	var reply string
	zhebao := "longlin-zhebao"
	err := d.st.WithCases(context.Background(), func(c bot.CaseClock) error {
		req := &bot.Request{
			Msg:    bot.Inbound{OpenID: "o-pol", Type: bot.TypeText, Text: "外地人在这边买房有补贴吗"},
			Member: bot.Member{OpenID: "o-pol", BranchID: &zhebao},
			U:      bot.Understanding{Text: "外地人在这边买房有补贴吗", Norm: "外地人在这边买房有补贴吗", Intent: bot.IntentPolicy, Score: 0.6},
			Cases:  c,
		}
		r, err := handlers.Policy{Knowledge: d.ix, Choices: testkit.Redis(t), Desk: d.deps.Desk()}.Handle(context.Background(), req)
		reply = r.Text
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReadable(t, reply)
	checkNamesPhone(t, reply)
	k := d.caseNo(caseNumberIn(t, reply))
	if k.Kind != bot.CaseQuestion || k.BranchID != "longlin-zhebao" {
		t.Errorf("case = %+v, want a question for Zhebao", k)
	}
}
