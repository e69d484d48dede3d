package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"nuanjia/bot"
)

// A member asking for their data gets a JSON file; these are the keys the
// format promises them.
func TestExportMemberJSON(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	record(t, s, eventPush("o-exp", bot.EventSubscribe, "", t0), bot.IntentGreeting, "欢迎关注")
	record(t, s, textPush("o-exp", 21, "新州电话", t0.Add(time.Minute)), bot.IntentContact, "【新州】")
	record(t, s, textPush("o-other", 22, "别人的消息", t0), bot.IntentUnknown, "没太明白")

	ex, found, err := s.ExportMember(ctx, "o-exp")
	if err != nil || !found {
		t.Fatalf("ExportMember = found %v, %v", found, err)
	}
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"member", "messages", "cases"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("export has no %q key: %s", key, b)
		}
	}
	if m, _ := doc["member"].(map[string]any); m["openid"] != "o-exp" {
		t.Errorf("member.openid = %v, want o-exp", m["openid"])
	}

	messages, _ := doc["messages"].([]any)
	// Follow, its welcome, the text and its reply; nothing of o-other.
	if len(messages) != 4 {
		t.Fatalf("export has %d messages, want 4: %s", len(messages), b)
	}
	for i, raw := range messages {
		msg, _ := raw.(map[string]any)
		for _, key := range []string{"direction", "type", "text", "at"} {
			if _, ok := msg[key]; !ok {
				t.Errorf("messages[%d] has no %q: %v", i, key, msg)
			}
		}
		if msg["text"] == "别人的消息" || msg["text"] == "没太明白" {
			t.Errorf("messages[%d] belongs to another member: %v", i, msg)
		}
	}
	if first, _ := messages[0].(map[string]any); first["direction"] != "in" || first["event"] != bot.EventSubscribe {
		t.Errorf("messages are not oldest first: first is %v", first)
	}

	// An empty list, not null: a member's tools should not have to guess.
	cases, ok := doc["cases"].([]any)
	if !ok || cases == nil || len(cases) != 0 {
		t.Errorf("cases = %#v, want []", doc["cases"])
	}
}

func TestExportMemberStranger(t *testing.T) {
	s := newStore(t)
	ex, found, err := s.ExportMember(context.Background(), "o-nobody")
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("found a stranger: %+v", ex)
	}
	if len(ex.Messages) != 0 {
		t.Errorf("stranger has messages: %+v", ex.Messages)
	}
}
