package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestGreetingWelcomesNewFollowersAndAnswersHellos(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Greeting{}

	follow := &bot.Request{
		Msg: bot.Inbound{OpenID: "o-new", Type: bot.TypeEvent, Event: bot.EventSubscribe},
		U:   bot.Understanding{Intent: bot.IntentGreeting, Score: 1},
	}
	welcome := handle(t, h, follow)
	checkReadable(t, welcome)
	if !strings.Contains(welcome, "欢迎") {
		t.Errorf("a new follower is not welcomed:\n%s", welcome)
	}

	hello := handle(t, h, textRequest(ix, "o-old", "你好", bot.Member{}))
	checkReadable(t, hello)
	if hello == welcome {
		t.Error("a member saying hello gets the new-follower welcome again")
	}
	// Both tell the member what they can ask for.
	for _, reply := range []string{welcome, hello} {
		if !strings.Contains(reply, "政策") {
			t.Errorf("greeting does not say policy questions are answered:\n%s", reply)
		}
	}
}

// A follower who scans a branch's code again is greeted like a new one.
func TestGreetingOnScan(t *testing.T) {
	h := handlers.Greeting{}
	scan := handle(t, h, &bot.Request{Msg: bot.Inbound{Type: bot.TypeEvent, Event: bot.EventScan, EventKey: "longlin-xinzhou"}})
	follow := handle(t, h, &bot.Request{Msg: bot.Inbound{Type: bot.TypeEvent, Event: bot.EventSubscribe}})
	if scan != follow {
		t.Errorf("scan greeting differs from the follow welcome:\n%s\n---\n%s", scan, follow)
	}
}
