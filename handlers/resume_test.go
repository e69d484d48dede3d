package handlers_test

import (
	"context"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

// A member who wrote 不要推送 writes 恢复推送 through the whole router: it is
// not taken for the stop intent again, the member is told, and broadcasts
// reach them again (no_broadcasts is cleared, so the tag sync gives them
// their branch tag back).
func TestResumeBringsBroadcastsBack(t *testing.T) {
	d := newCaseDesk(t)
	ctx := context.Background()
	const member = "o-resume"

	stopped := d.say(member, "不要推送")
	checkReadable(t, stopped)
	if !strings.Contains(stopped, "不再") || !strings.Contains(stopped, "恢复推送") {
		t.Errorf("stop answered %q, want it to confirm and say how to resume", stopped)
	}
	if m, _, err := d.st.Member(ctx, member); err != nil || !m.NoBroadcasts {
		t.Fatalf("after 不要推送: no_broadcasts %v (%v), want true", m.NoBroadcasts, err)
	}

	resumed := d.say(member, "恢复推送")
	checkReadable(t, resumed)
	if !strings.Contains(resumed, "已恢复推送") {
		t.Errorf("恢复推送 answered %q, want it confirmed", resumed)
	}
	if m, _, err := d.st.Member(ctx, member); err != nil || m.NoBroadcasts {
		t.Fatalf("after 恢复推送: no_broadcasts %v (%v), want false", m.NoBroadcasts, err)
	}
}

// Other words mentioning 推送 are not taken: they go to the intents.
func TestResumeLeavesOtherWords(t *testing.T) {
	s := newStore(t)
	for _, text := range []string{"不要推送", "推送", "恢复推送了吗？我想问政策"} {
		_, took, err := handlers.Resume{Prefs: s}.Intercept(context.Background(),
			&bot.Request{Msg: bot.Inbound{OpenID: "o-x", Type: bot.TypeText, Text: text}})
		if err != nil || took {
			t.Errorf("Resume took %q (%v)", text, err)
		}
	}
}

// When the preference cannot be stored the member is not told it was.
func TestResumeReportsStoreFailure(t *testing.T) {
	s := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reply, _, err := handlers.Resume{Prefs: s}.Intercept(context.Background(),
		&bot.Request{Msg: bot.Inbound{OpenID: "o-x", Type: bot.TypeText, Text: "恢复推送"}})
	if err == nil || strings.Contains(reply.Text, "恢复") {
		t.Errorf("Resume with a closed database: %q, %v", reply.Text, err)
	}
}
