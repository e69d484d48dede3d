package store

import (
	"context"
	"encoding/json"
	"strings"
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

// What WeChat sent beyond the common fields (a file's FileKey) is in the
// member's copy of their data, as the JSON it was kept as.
func TestExportShowsExtraFields(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := textPush("o-file", 31, "劳动合同", t0)
	in.Type, in.Title, in.Extra = bot.TypeFile, "合同.pdf", map[string]string{"FileKey": "fk-1"}
	if _, err := s.Keep(ctx, in); err != nil {
		t.Fatal(err)
	}
	ex, _, err := s.ExportMember(ctx, "o-file")
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(ex.Messages)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"extra":{"FileKey":"fk-1"}`) || !strings.Contains(string(out), `"title":"合同.pdf"`) {
		t.Errorf("export = %s, want the file's title and FileKey", out)
	}
}
