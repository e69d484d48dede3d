package handlers_test

import (
	"context"
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestStopTurnsBroadcastsOff(t *testing.T) {
	ix := testkit.Index(t)
	s := newStore(t)
	ctx := context.Background()
	req := textRequest(ix, "o-stop", "不要再推送了", bot.Member{})
	if req.U.Intent != bot.IntentStop {
		t.Fatalf("understood as %s, want stop", req.U.Intent)
	}

	reply := handle(t, handlers.Stop{Prefs: s}, req)
	checkReadable(t, reply)
	if !strings.Contains(reply, "不再") || !strings.Contains(reply, "恢复推送") {
		t.Errorf("reply does not confirm broadcasts stop and say how to have them back:\n%s", reply)
	}
	m, found, err := s.Member(ctx, "o-stop")
	if err != nil || !found {
		t.Fatalf("member after stop: found %v, %v", found, err)
	}
	if !m.NoBroadcasts {
		t.Error("no_broadcasts not set: the member would still get broadcasts")
	}
}

// When the preference cannot be stored the member must not be told it was.
func TestStopReportsStoreFailure(t *testing.T) {
	s := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reply, err := handlers.Stop{Prefs: s}.Handle(context.Background(),
		&bot.Request{Msg: bot.Inbound{OpenID: "o-stop"}, U: bot.Understanding{Intent: bot.IntentStop}})
	if err == nil {
		t.Fatalf("Stop with a closed database succeeded, replying %q", reply.Text)
	}
	if strings.Contains(reply.Text, "不再") {
		t.Errorf("member told broadcasts stopped although nothing was stored: %q", reply.Text)
	}
}
