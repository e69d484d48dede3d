package main

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"nuanjia/config"
	"nuanjia/handlers"
	"nuanjia/internal/wxtest"
)

// testAESKey is a well-formed 43-character EncodingAESKey.
const testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

// redisURL is the Redis wxtest.Redis connects to.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// startDemo starts the whole app in-process over a fresh schema holding
// the demo knowledge base, its own Redis prefix and a fake WeChat API, and
// returns it with the environment say needs to talk to it.
func startDemo(t *testing.T, aesKey string) (*app, map[string]string) {
	t.Helper()
	_, prefix := wxtest.Redis(t)
	vars := importedDB(t)
	vars["REDIS_URL"] = redisURL()
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	vars["WECHAT_APP_ID"] = "wxtest0000000001"
	vars["WECHAT_APP_SECRET"] = "test-app-secret"
	vars["WECHAT_TOKEN"] = "nuanjia-test-token"
	vars["WECHAT_AES_KEY"] = aesKey
	vars["SPOOL_DIR"] = t.TempDir()
	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(vars["WECHAT_APP_ID"], vars["WECHAT_APP_SECRET"])
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)
	vars["WECHAT_API_BASE"] = fakeSrv.URL
	cfg, err := config.Load(func(k string) string { return vars[k] },
		config.NeedDatabase, config.NeedRedis, config.NeedWebhook, config.NeedWeChatAPI)
	if err != nil {
		t.Fatal(err)
	}
	a, err := start(t.Context(), cfg, options{redisPrefix: prefix}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the schema and Redis clean-ups, so it runs first;
	// a second shutdown (after the test's own) does nothing.
	t.Cleanup(func() { a.shutdown() })

	sayVars := maps.Clone(vars)
	sayVars["HTTP_ADDR"] = a.addr
	return a, sayVars
}

// reply strips say's marker of a reply that came late, as a
// customer-service message: the member sees the same text either way.
func reply(out string) string {
	return strings.TrimPrefix(strings.TrimSuffix(out, "\n"), "(客服消息) ")
}

func TestServeAndSay(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ name, aesKey string }{
		{"encrypted", testAESKey},
		{"plaintext", ""},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			a, vars := startDemo(t, mode.aesKey)

			resp, err := http.Get("http://" + a.addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
				t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", resp.StatusCode, body)
			}

			var replies []string
			say := func(args ...string) string {
				t.Helper()
				r := reply(mustRun(t, vars, "", append([]string{"say"}, args...)...))
				replies = append(replies, r)
				return r
			}

			if r := say("你好"); !strings.Contains(r, "暖家") {
				t.Errorf("你好 → %q, want a greeting from 暖家", r)
			}
			// A first message is followed, by customer-service message, by
			// onboarding's two questions.
			replies = append(replies, handlers.TextBranchQuestion, handlers.TextConsentQuestion)
			// Traditional characters, as some phones type them.
			r := say("隆林新州計生協電話")
			for _, w := range []string{"【安龙县驻隆林新州镇流动人口计生协】", "电话：0776-0000001", "示例况会长"} {
				if !strings.Contains(r, w) {
					t.Errorf("隆林新州計生協電話 → %q\nwant the 新州 card with %q", r, w)
				}
			}
			r = say("--location", "24.62,105.18")
			for _, w := range []string{"离你最近的是", "【安龙县驻隆林者保乡流动人口计生协】", "0776-0000002"} {
				if !strings.Contains(r, w) {
					t.Errorf("location 24.62,105.18 → %q\nwant the 者保 card with %q", r, w)
				}
			}
			if r := say("--event", "subscribe", "--key", "qrscene_longlin-xinzhou"); !strings.HasPrefix(r, "欢迎关注安龙县流动人口计生协") {
				t.Errorf("subscribe → %q, want the welcome", r)
			}

			out := mustRun(t, vars, "", "export", "--openid", "demo-member")
			checkExport(t, out, replies)

			resp, err = http.Get("http://" + a.addr + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "postgres: ok") {
				t.Errorf("GET /readyz = %d %q, want 200 with postgres ok", resp.StatusCode, body)
			}
			resp, err = http.Get("http://" + a.addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`nuanjia_pushes_total{outcome="answered"} 4`, "nuanjia_answer_seconds_count 4",
				"nuanjia_outbox_due 0", "nuanjia_spool_pending 0", "nuanjia_unhandled_pushes 0"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}

			if err := a.shutdown(); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

// checkExport checks a member's copy of their data: one JSON object with
// the member, every message in order, and no cases.
func checkExport(t *testing.T, out string, replies []string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		t.Fatalf("export printed %q: %v", out, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Errorf("export printed more than one JSON value: %q", out)
	}
	if keys := slices.Sorted(maps.Keys(top)); !slices.Equal(keys, []string{"cases", "member", "messages", "profile"}) {
		t.Errorf("export keys = %v, want cases, member, messages, profile", keys)
	}
	if c := strings.TrimSpace(string(top["cases"])); c != "[]" {
		t.Errorf("cases = %s, want []", c)
	}

	var member struct {
		OpenID     string  `json:"openid"`
		Subscribed bool    `json:"subscribed"`
		BranchID   *string `json:"branch_id"`
	}
	if err := json.Unmarshal(top["member"], &member); err != nil {
		t.Fatal(err)
	}
	if member.OpenID != "demo-member" || !member.Subscribed {
		t.Errorf("member = %s, want demo-member, subscribed", top["member"])
	}
	if member.BranchID == nil || *member.BranchID != "longlin-xinzhou" {
		t.Errorf("member = %s, want branch_id longlin-xinzhou from the QR code", top["member"])
	}

	var messages []map[string]any
	if err := json.Unmarshal(top["messages"], &messages); err != nil {
		t.Fatal(err)
	}
	var inTypes, inTexts, outTexts []string
	for i, m := range messages {
		for _, k := range []string{"direction", "type", "text", "at"} {
			if _, ok := m[k]; !ok {
				t.Errorf("messages[%d] = %v has no %q", i, m, k)
			}
		}
		text, _ := m["text"].(string)
		typ, _ := m["type"].(string)
		switch m["direction"] {
		case "in":
			inTypes = append(inTypes, typ)
			if typ == "text" {
				inTexts = append(inTexts, text)
			}
		case "out":
			outTexts = append(outTexts, text)
		default:
			t.Errorf("messages[%d] direction = %v, want in or out", i, m["direction"])
		}
	}
	if want := []string{"text", "text", "location", "event"}; !slices.Equal(inTypes, want) {
		t.Errorf("the member's messages have types %q, want %q", inTypes, want)
	}
	if want := []string{"你好", "隆林新州計生協電話"}; !slices.Equal(inTexts, want) {
		t.Errorf("the member's texts = %q, want %q in order", inTexts, want)
	}
	if !slices.Equal(outTexts, replies) {
		t.Errorf("the bot's replies in the export = %q\nwant what the member saw, in order: %q", outTexts, replies)
	}
}
