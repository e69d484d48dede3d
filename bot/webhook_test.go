package bot_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"nuanjia/internal/testkit"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/wxapi"
	"nuanjia/handlers"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

const (
	testToken  = "nuanjiatoken"
	testAppID  = "wx5823bf96d3bd56c7"
	testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	account    = "gh_nuanjia"
)

// harness is one webhook over real PostgreSQL and Redis, with the fake
// WeChat API behind its customer-service client.
type harness struct {
	t       *testing.T
	st      *store.Store
	rd      *store.Redis
	fake    *wxtest.FakeAPI
	wh      *bot.Webhook
	replies *store.ReplyLog
	router  *bot.Router
	signer  wxtest.Signer
	now     time.Time
	seq     int64
	logs    *testkit.LogBuffer // everything the webhook and its parts logged
}

type harnessOption func(*bot.WebhookConfig)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	st := testkit.Store(t)
	if err := st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	rd := testkit.Redis(t)
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(testAppID, "secret")
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(fakeSrv.Close)
	wx, err := wxapi.New(wxapi.Config{
		AppID: testAppID, AppSecret: "secret", BaseURL: fakeSrv.URL,
		Tokens: store.NewRedisTokens(rd.Client(), rd.Prefix()), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}

	ix := testkit.Index(t)
	router := bot.NewRouter(ix, rd, log)
	handlers.Register(router, handlers.Deps{Knowledge: ix, Choices: rd, Prefs: st})

	h := &harness{t: t, st: st, rd: rd, fake: fake, router: router, logs: logs,
		signer: wxtest.Signer{Token: testToken, AppID: testAppID, AESKey: testAESKey},
		now:    time.Unix(1764400000, 0), seq: 6054768590064713728}
	cfg := bot.WebhookConfig{Token: testToken, AppID: testAppID, AESKey: testAESKey,
		Now: func() time.Time { return h.now }}
	for _, o := range opts {
		o(&cfg)
	}
	replies := st.NewReplyLog(log)
	inbound := st.NewInboundBatcher(log)
	h.wh = bot.NewWebhook(cfg, rd, inbound, replies, router, wx, log)
	t.Cleanup(func() { h.wh.Wait(); inbound.Close(); replies.Close() })
	h.replies = replies
	return h
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// msgID returns a fresh MsgId.
func (h *harness) msgID() int64 { h.seq++; return h.seq }

// nonce returns a fresh nonce.
func (h *harness) nonce() string { h.seq++; return strconv.FormatInt(h.seq%1000000000, 10) }

// do sends a request to the webhook as WeChat would.
func (h *harness) do(method string, query url.Values, body []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, "/wechat?"+query.Encode(), strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	h.wh.ServeHTTP(rec, req)
	return rec
}

// replyText is what the member sees from a passive reply: the Content of
// the text message, decrypted first in safe mode; "" for "success".
func (h *harness) replyText(rec *httptest.ResponseRecorder, safe bool) string {
	h.t.Helper()
	if rec.Code != http.StatusOK {
		h.t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	body := rec.Body.String()
	if body == "success" {
		return ""
	}
	if safe {
		var err error
		if body, err = h.signer.OpenReply(rec.Body.Bytes()); err != nil {
			h.t.Fatalf("safe-mode reply does not verify: %v\n%s", err, rec.Body.String())
		}
	}
	var reply struct {
		ToUserName   string `xml:"ToUserName"`
		FromUserName string `xml:"FromUserName"`
		MsgType      string `xml:"MsgType"`
		Content      string `xml:"Content"`
	}
	if err := xml.Unmarshal([]byte(body), &reply); err != nil {
		h.t.Fatalf("reply is not XML: %v\n%s", err, body)
	}
	if reply.MsgType != "text" || reply.Content == "" || reply.FromUserName != account {
		h.t.Fatalf("reply is not a text message from %s: %+v", account, reply)
	}
	return reply.Content
}

// count runs a COUNT(*) query in the test's schema.
func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	h.wh.Wait()       // late answers finish
	h.replies.Flush() // and their records are written
	var n int
	if err := h.st.DB().Get(&n, query, args...); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// pushCase is one raw push and what WeChat and the member must see.
type pushCase struct {
	name      string
	xml       func(h *harness) string
	mode      string // "plain", "safe" or "compatible"
	wantReply string // substring of the reply text; "" means the body is "success"
	check     func(t *testing.T, h *harness)
}

func TestWebhookAnswersEachKindOfPush(t *testing.T) {
	ts := func(h *harness) int64 { return h.now.Unix() }
	cases := []pushCase{
		{name: "text, plaintext mode", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Text("o-text", account, "你好", h.msgID(), ts(h)) },
			wantReply: "暖家",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-text' AND direction = 'in' AND text = '你好'`); n != 1 {
					t.Errorf("inbound rows = %d, want 1", n)
				}
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-text' AND direction = 'out' AND channel = 'passive'`); n != 1 {
					t.Errorf("reply rows = %d, want 1", n)
				}
			}},
		{name: "text, safe mode", mode: "safe",
			xml: func(h *harness) string {
				return wxtest.Text("o-safe", account, "新州计生协电话多少", h.msgID(), ts(h))
			},
			wantReply: "新州"},
		{name: "text, compatible mode", mode: "compatible",
			xml:       func(h *harness) string { return wxtest.Text("o-compat", account, "你好", h.msgID(), ts(h)) },
			wantReply: "暖家"},
		{name: "traditional text with bracket artefacts", mode: "safe",
			xml: func(h *harness) string {
				return wxtest.Text("o-trad", account, "隆林新州鎮(zhèn)計生協(xié)聯(lián)系電話", h.msgID(), ts(h))
			},
			wantReply: "新州"},
		{name: "voice with recognition", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.Voice("o-voice", account, "嗯那个我想问一下者保的电话", h.msgID(), ts(h))
			},
			wantReply: "者保"},
		{name: "voice without recognition asks to type", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Voice("o-voice2", account, "", h.msgID(), ts(h)) },
			wantReply: "打字"},
		{name: "location gives the nearest branch", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.Location("o-loc", account, 24.62, 105.18, "者保乡", h.msgID(), ts(h))
			},
			wantReply: "者保",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-loc' AND lat = 24.62 AND lng = 105.18`); n != 1 {
					t.Errorf("location not stored with its message")
				}
			}},
		{name: "image is acknowledged", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Image("o-img", account, "http://mmbiz/1.jpg", h.msgID(), ts(h)) },
			wantReply: "图片收到了"},
		{name: "subscribe through a branch QR code", mode: "safe",
			xml: func(h *harness) string {
				return wxtest.Event("o-sub", account, "subscribe", "qrscene_longlin-xinzhou", ts(h))
			},
			wantReply: "欢迎关注",
			check: func(t *testing.T, h *harness) {
				m, _, err := h.st.Member(context.Background(), "o-sub")
				if err != nil || m.BranchID == nil || *m.BranchID != "longlin-xinzhou" || !m.Subscribed {
					t.Errorf("member after QR subscribe = %+v, %v; want subscribed to longlin-xinzhou", m, err)
				}
			}},
		{name: "unsubscribe is recorded, not answered", mode: "plain",
			xml: func(h *harness) string { return wxtest.Event("o-unsub", account, "unsubscribe", "", ts(h)) },
			check: func(t *testing.T, h *harness) {
				m, found, _ := h.st.Member(context.Background(), "o-unsub")
				if !found || m.Subscribed {
					t.Errorf("member after unsubscribe = %+v; want not subscribed", m)
				}
			}},
		{name: "menu click maps to its intent", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Event("o-click", account, "CLICK", "contact", ts(h)) },
			wantReply: "你在哪里"},
		{name: "menu VIEW is recorded only", mode: "plain",
			xml: func(h *harness) string { return wxtest.Event("o-view", account, "VIEW", "https://example.org", ts(h)) }},
		{name: "LOCATION event is recorded only, without coordinates", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.LocationEvent("o-locev", account, 24.7, 105.3, 30, ts(h))
			},
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-locev' AND lat IS NULL`); n != 1 {
					t.Errorf("LOCATION event rows without coordinates = %d, want 1", n)
				}
			}},
		{name: "mass-send report, MsgID spelling", mode: "safe",
			xml: func(h *harness) string {
				return wxtest.JobFinish("o-admin", account, "MASSSENDJOBFINISH", 3162228393, "send success", ts(h))
			},
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM send_jobs WHERE wechat_msg_id = 3162228393 AND status = 'send success'`); n != 1 {
					t.Errorf("job report rows = %d, want 1", n)
				}
			}},
		{name: "template report", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.JobFinish("o-dir", account, "TEMPLATESENDJOBFINISH", 200163836, "failed:user block", ts(h))
			},
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM send_jobs WHERE wechat_msg_id = 200163836 AND event = 'TEMPLATESENDJOBFINISH'`); n != 1 {
					t.Errorf("template report rows = %d, want 1", n)
				}
			}},
	}
	h := newHarness(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q url.Values
			var body []byte
			switch c.mode {
			case "plain":
				q, body = h.signer.Plain(c.xml(h), h.now.Unix(), h.nonce())
			case "safe":
				q, body = h.signer.Safe(c.xml(h), h.now.Unix(), h.nonce())
			case "compatible":
				q, body = h.signer.Compatible(c.xml(h), h.now.Unix(), h.nonce())
			}
			rec := h.do(http.MethodPost, q, body)
			got := h.replyText(rec, c.mode != "plain")
			if c.wantReply == "" && got != "" {
				t.Errorf("reply = %q, want the body \"success\"", got)
			}
			if !strings.Contains(got, c.wantReply) {
				t.Errorf("reply = %q, want it to contain %q", got, c.wantReply)
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

func TestWebhookRefusesHostileRequests(t *testing.T) {
	h := newHarness(t)
	text := func() string { return wxtest.Text("o-evil", account, "你好", h.msgID(), h.now.Unix()) }
	otherApp := wxtest.Signer{Token: testToken, AppID: "wx0000000000000000", AESKey: testAESKey}
	cases := []struct {
		name       string
		request    func() (method string, q url.Values, body []byte)
		wantStatus int
		wantReason string
	}{
		{"bad signature", func() (string, url.Values, []byte) {
			q, b := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			q.Set("signature", strings.Repeat("0", 40))
			return http.MethodPost, q, b
		}, http.StatusForbidden, "bad signature"},
		{"missing signature", func() (string, url.Values, []byte) {
			q, b := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			q.Del("signature")
			return http.MethodPost, q, b
		}, http.StatusForbidden, "bad signature"},
		{"bad msg_signature in safe mode", func() (string, url.Values, []byte) {
			q, b := h.signer.Safe(text(), h.now.Unix(), h.nonce())
			q.Set("msg_signature", strings.Repeat("a", 40))
			return http.MethodPost, q, b
		}, http.StatusForbidden, "bad msg_signature"},
		{"timestamp 301 s old", func() (string, url.Values, []byte) {
			q, b := h.signer.Plain(text(), h.now.Unix()-301, h.nonce())
			return http.MethodPost, q, b
		}, http.StatusForbidden, "stale timestamp"},
		{"timestamp 301 s ahead", func() (string, url.Values, []byte) {
			q, b := h.signer.Plain(text(), h.now.Unix()+301, h.nonce())
			return http.MethodPost, q, b
		}, http.StatusForbidden, "stale timestamp"},
		{"body over 64 KiB", func() (string, url.Values, []byte) {
			big := wxtest.Text("o-evil", account, strings.Repeat("长", 22000), h.msgID(), h.now.Unix())
			q, b := h.signer.Plain(big, h.now.Unix(), h.nonce())
			return http.MethodPost, q, b
		}, http.StatusRequestEntityTooLarge, "body too large"},
		{"malformed XML", func() (string, url.Values, []byte) {
			q, _ := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, []byte("<xml><ToUserName>")
		}, http.StatusBadRequest, "malformed XML"},
		{"not XML at all", func() (string, url.Values, []byte) {
			q, _ := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, []byte(`{"msg":"hi"}`)
		}, http.StatusBadRequest, "malformed XML"},
		{"XML without a sender", func() (string, url.Values, []byte) {
			q, _ := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, []byte(`<xml><MsgType>text</MsgType><Content>hi</Content></xml>`)
		}, http.StatusBadRequest, "lacks"},
		{"DOCTYPE", func() (string, url.Values, []byte) {
			q, _ := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, []byte(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>`)
		}, http.StatusBadRequest, "DOCTYPE"},
		{"bad AES padding", func() (string, url.Values, []byte) {
			enc := badPaddingCiphertext(t, testAESKey)
			q, _ := h.signer.Safe(text(), h.now.Unix(), h.nonce())
			q.Set("msg_signature", h.signer.Sign(q.Get("timestamp"), q.Get("nonce"), enc))
			return http.MethodPost, q, []byte("<xml><ToUserName><![CDATA[gh_nuanjia]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
		}, http.StatusBadRequest, "cannot decrypt"},
		{"ciphertext for another AppID", func() (string, url.Values, []byte) {
			q, b := otherApp.Safe(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, b
		}, http.StatusForbidden, "wrong AppID"},
		{"PUT", func() (string, url.Values, []byte) {
			q, b := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPut, q, b
		}, http.StatusMethodNotAllowed, "method not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, q, body := c.request()
			rec := h.do(method, q, body)
			if rec.Code != c.wantStatus || !strings.Contains(rec.Body.String(), c.wantReason) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, rec.Body.String(), c.wantStatus, c.wantReason)
			}
			if len(rec.Body.String()) > 80 {
				t.Errorf("reason is not short: %q", rec.Body.String())
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("hostile requests stored %d messages, want 0", n)
	}
	// The server is unharmed: a good push still gets its answer.
	q, body := h.signer.Plain(text(), h.now.Unix(), h.nonce())
	if got := h.replyText(h.do(http.MethodPost, q, body), false); !strings.Contains(got, "暖家") {
		t.Errorf("after the hostile requests a greeting got %q", got)
	}
}

// badPaddingCiphertext encrypts a block whose last byte, the PKCS#7 pad
// count, is 0: valid AES, invalid padding.
func badPaddingCiphertext(t *testing.T, encodingAESKey string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 64)
	copy(plain, "0123456789abcdef")
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

func TestWebhookRefusesReplayedNonce(t *testing.T) {
	h := newHarness(t)
	nonce := h.nonce()
	q, body := h.signer.Plain(wxtest.Text("o-r", account, "你好", h.msgID(), h.now.Unix()), h.now.Unix(), nonce)
	if got := h.replyText(h.do(http.MethodPost, q, body), false); got == "" {
		t.Fatal("first request got no reply")
	}
	// An attacker reuses the signed query with another push.
	_, other := h.signer.Plain(wxtest.Text("o-r", account, "我要求助", h.msgID(), h.now.Unix()), h.now.Unix(), nonce)
	rec := h.do(http.MethodPost, q, other)
	if rec.Code != http.StatusConflict {
		t.Errorf("replay got %d %q, want 409", rec.Code, rec.Body.String())
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("inbound messages = %d, want 1", n)
	}
}

func TestHandshake(t *testing.T) {
	h := newHarness(t)
	q := h.signer.Handshake("1616140317555161061", h.now.Unix(), h.nonce())
	rec := h.do(http.MethodGet, q, nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "1616140317555161061" {
		t.Errorf("good handshake got %d %q, want the echostr", rec.Code, rec.Body.String())
	}
	q.Set("signature", h.signer.Sign("1", "2"))
	rec = h.do(http.MethodGet, q, nil)
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "1616140317555161061") {
		t.Errorf("forged handshake got %d %q, want 403 without the echostr", rec.Code, rec.Body.String())
	}
}

func TestRetriesHaveOneEffect(t *testing.T) {
	for _, mode := range []string{"plain", "safe"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			push := wxtest.Text("o-retry", account, "老板拖欠工资", h.msgID(), h.now.Unix())
			var wg sync.WaitGroup
			recs := make([]*httptest.ResponseRecorder, 3)
			for i := range recs {
				// Each delivery is its own request, as WeChat's retries are.
				var q url.Values
				var body []byte
				if mode == "plain" {
					q, body = h.signer.Plain(push, h.now.Unix(), h.nonce())
				} else {
					q, body = h.signer.Safe(push, h.now.Unix(), h.nonce())
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs[i] = h.do(http.MethodPost, q, body)
				}()
			}
			wg.Wait()
			replies := 0
			for _, rec := range recs {
				if h.replyText(rec, mode == "safe") != "" {
					replies++
				}
			}
			if replies != 1 {
				t.Errorf("replies = %d, want 1", replies)
			}
			if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
				t.Errorf("stored messages = %d, want 1", n)
			}
			if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'out'`); n != 1 {
				t.Errorf("stored replies = %d, want 1", n)
			}
		})
	}
}

func TestRetryAfterRedisForgotIsStillOneEffect(t *testing.T) {
	h := newHarness(t)
	push := wxtest.Text("o-forgot", account, "你好", h.msgID(), h.now.Unix())
	q, body := h.signer.Plain(push, h.now.Unix(), h.nonce())
	h.replyText(h.do(http.MethodPost, q, body), false)
	// Redis lost its keys (restart, eviction); PostgreSQL's unique key holds.
	cleanKeys(t, h.rd)
	q, body = h.signer.Plain(push, h.now.Unix(), h.nonce())
	if got := h.replyText(h.do(http.MethodPost, q, body), false); got != "" {
		t.Errorf("second delivery got reply %q, want \"success\"", got)
	}
	if n := h.count(`SELECT count(*) FROM messages`); n != 2 {
		t.Errorf("rows = %d, want 2 (one message, one reply)", n)
	}
}

func cleanKeys(t *testing.T, rd *store.Redis) {
	t.Helper()
	ctx := context.Background()
	keys, err := rd.Client().Keys(ctx, rd.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		rd.Client().Del(ctx, keys...)
	}
}

// slowHandler answers after a delay, like a handler waiting on a slow service.
type slowHandler struct {
	delay time.Duration
	text  string
}

func (s slowHandler) Handle(ctx context.Context, _ *bot.Request) (bot.Reply, error) {
	time.Sleep(s.delay)
	return bot.Reply{Text: s.text}, nil
}

func TestSlowAnswerArrivesAsCustomerServiceMessage(t *testing.T) {
	h := newHarness(t, func(c *bot.WebhookConfig) {
		c.ReplyDeadline = 100 * time.Millisecond
		c.Now = time.Now
	})
	h.router.Register(bot.IntentGreeting, slowHandler{delay: 400 * time.Millisecond, text: "慢慢来的回答"})
	for _, mode := range []string{"plain", "safe"} {
		t.Run(mode, func(t *testing.T) {
			h.fake.Reset()
			openID := "o-slow-" + mode
			now := time.Now().Unix()
			push := wxtest.Text(openID, account, "你好", h.msgID(), now)
			q, body := h.signer.Plain(push, now, h.nonce())
			if mode == "safe" {
				q, body = h.signer.Safe(push, now, h.nonce())
			}
			rec := h.do(http.MethodPost, q, body)
			if rec.Code != http.StatusOK || rec.Body.String() != "success" {
				t.Fatalf("slow push got %d %q, want the body \"success\"", rec.Code, rec.Body.String())
			}
			h.wh.Wait()
			var calls []wxtest.Call
			for _, c := range h.fake.Calls("/cgi-bin/message/custom/send") {
				if c.Errcode == 0 { // Reset forgot the token, so one call may be refused first
					calls = append(calls, c)
				}
			}
			if len(calls) != 1 {
				t.Fatalf("customer-service calls = %d, want 1", len(calls))
			}
			if to, _ := calls[0].JSON["touser"].(string); to != openID || !strings.Contains(string(calls[0].Body), "慢慢来的回答") {
				t.Errorf("customer-service message = %s, want the reply to %s", calls[0].Body, openID)
			}
			if n := h.count(`SELECT count(*) FROM messages WHERE openid = $1 AND direction = 'out' AND channel = 'customer_service'`, openID); n != 1 {
				t.Errorf("stored customer-service replies = %d, want 1", n)
			}
		})
	}
}

func TestHandlerPanicIsAnsweredWithSuccess(t *testing.T) {
	h := newHarness(t)
	h.router.Register(bot.IntentGreeting, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		panic("handler bug")
	}))
	for _, mode := range []string{"plain", "safe"} {
		q, body := h.signer.Plain(wxtest.Text("o-panic", account, "你好", h.msgID(), h.now.Unix()), h.now.Unix(), h.nonce())
		if mode == "safe" {
			q, body = h.signer.Safe(wxtest.Text("o-panic", account, "你好", h.msgID(), h.now.Unix()), h.now.Unix(), h.nonce())
		}
		rec := h.do(http.MethodPost, q, body)
		if rec.Code != http.StatusOK || rec.Body.String() != "success" {
			t.Errorf("%s: panicking handler got %d %q, want \"success\"", mode, rec.Code, rec.Body.String())
		}
	}
	// The member's words are kept even though the handler failed.
	if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-panic' AND direction = 'in'`); n != 2 {
		t.Errorf("stored messages = %d, want 2", n)
	}
}

func TestDatabaseDownAsksWeChatToRetry(t *testing.T) {
	h := newHarness(t)
	push := wxtest.Text("o-down", account, "你好", h.msgID(), h.now.Unix())
	working := h.st
	down, err := store.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	down.Close() // every query on it now fails
	h.wh = bot.NewWebhook(bot.WebhookConfig{Token: testToken, AppID: testAppID, AESKey: testAESKey,
		Now: func() time.Time { return h.now }}, h.rd, down, h.replies, h.router, nil, quietLog())

	q, body := h.signer.Plain(push, h.now.Unix(), h.nonce())
	rec := h.do(http.MethodPost, q, body)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("with the database down got %d %q, want 503 so WeChat retries", rec.Code, rec.Body.String())
	}
	// WeChat retries once the database is back; the retry is processed, not
	// taken for a duplicate.
	h.wh = bot.NewWebhook(bot.WebhookConfig{Token: testToken, AppID: testAppID, AESKey: testAESKey,
		Now: func() time.Time { return h.now }}, h.rd, working, h.replies, h.router, nil, quietLog())
	q, body = h.signer.Plain(push, h.now.Unix(), h.nonce())
	if got := h.replyText(h.do(http.MethodPost, q, body), false); !strings.Contains(got, "暖家") {
		t.Errorf("retry got %q, want the greeting", got)
	}
}

func TestRedisDownStillAnswersOnce(t *testing.T) {
	h := newHarness(t)
	h.rd.Close() // claims fail; PostgreSQL's unique key must stop the retry
	push := wxtest.Text("o-noredis", account, "你好", h.msgID(), h.now.Unix())
	replies := 0
	for range 2 {
		q, body := h.signer.Plain(push, h.now.Unix(), h.nonce())
		if h.replyText(h.do(http.MethodPost, q, body), false) != "" {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("replies = %d, want 1", replies)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
		t.Errorf("stored messages = %d, want 1", n)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	health := bot.Health(map[string]bot.Pinger{"postgres": h.st, "redis": h.rd})
	rec := httptest.NewRecorder()
	health.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthy: got %d %q", rec.Code, rec.Body.String())
	}
	h.rd.Close()
	rec = httptest.NewRecorder()
	health.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "redis") {
		t.Errorf("redis down: got %d %q, want 503 naming redis", rec.Code, rec.Body.String())
	}
}

// Members' words, phone numbers and whereabouts never reach the logs, on
// the happy path or on the paths that log most: refusals, retries, a
// panicking handler, a late reply WeChat refuses.
func TestLogsKeepMembersPrivate(t *testing.T) {
	h := newHarness(t, func(c *bot.WebhookConfig) {
		c.ReplyDeadline = 100 * time.Millisecond
		c.Now = time.Now
	})
	const words, phone = "我叫王小梅老板欠我工资", "13912345678"
	const lat, lng = 24.77654, 105.34321
	text := words + "电话" + phone
	now := time.Now().Unix()
	post := func(xml string, mutate func(url.Values)) {
		q, body := h.signer.Safe(xml, time.Now().Unix(), h.nonce())
		if mutate != nil {
			mutate(q)
		}
		h.do(http.MethodPost, q, body)
	}
	textPush := wxtest.Text("o-private", account, text, h.msgID(), now)
	post(textPush, nil)
	post(textPush, nil) // a retry
	post(wxtest.Location("o-private", account, lat, lng, "新州镇"+phone, h.msgID(), now), nil)
	post(wxtest.LocationEvent("o-private", account, lat, lng, 30, now), nil)
	post(wxtest.Text("o-private", account, text, h.msgID(), now), func(q url.Values) { q.Set("msg_signature", "bad") })
	h.router.Register(bot.IntentHelp, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		panic("handler bug")
	}))
	post(wxtest.Text("o-private", account, words, h.msgID(), now), nil)
	// A late reply that WeChat refuses: the failure is logged, the words not.
	h.router.Register(bot.IntentGreeting, slowHandler{delay: 300 * time.Millisecond, text: "你好" + phone})
	h.fake.FailNext("/cgi-bin/message/custom/send", 45015, 1)
	post(wxtest.Text("o-private", account, "你好", h.msgID(), now), nil)
	h.wh.Wait()
	h.replies.Flush()

	logs := h.logs.String()
	for _, want := range []string{"push refused", "handler panic", "late reply not sent"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the path that logs %q was not exercised; logs:\n%s", want, logs)
		}
	}
	for _, secret := range []string{words, "王小梅", phone, "24.77", "105.34", "新州镇"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}
