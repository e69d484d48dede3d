package wechat_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/metrics"
	"nuanjia/bot/outbox"
	"nuanjia/bot/wechat"
	"nuanjia/bot/wxapi"
	"nuanjia/handlers"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
	"nuanjia/store/spool"
)

const (
	testToken  = "nuanjiatoken"
	testAppID  = "wx5823bf96d3bd56c7"
	testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	account    = "gh_nuanjia"
)

// harness is one webhook and its pipeline over real PostgreSQL, Redis and
// a spool directory, with the fake WeChat API behind the outbox sender.
type harness struct {
	t        *testing.T
	st       *store.Store
	rd       *store.Redis
	spool    *spool.Spool
	fake     *wxtest.FakeAPI
	inbound  *store.InboundBatcher
	pipeline *bot.Pipeline
	sender   *outbox.Sender
	wh       *wechat.Webhook
	router   *bot.Router
	signer   wxtest.Signer
	now      time.Time
	seq      atomic.Int64       // pushes may be posted from several goroutines
	logs     *testkit.LogBuffer // everything the webhook and its parts logged
	log      *slog.Logger
	cfg      wechat.WebhookConfig
}

type harnessOption func(*wechat.WebhookConfig)

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
	sp, err := spool.Open(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })

	ix := testkit.Index(t)
	router := bot.NewRouter(ix, rd, log)
	handlers.Register(router, handlers.Deps{Knowledge: ix, Choices: rd, Prefs: st, Places: ix, Log: log})
	meter := metrics.New(log)
	h := &harness{t: t, st: st, rd: rd, spool: sp, fake: fake, router: router, logs: logs, log: log,
		signer: wxtest.Signer{Token: testToken, AppID: testAppID, AESKey: testAESKey},
		now:    time.Now().Truncate(time.Second)}
	h.seq.Store(6054768590064713728)
	h.cfg = wechat.WebhookConfig{Token: testToken, AppID: testAppID, AESKey: testAESKey,
		Now: func() time.Time { return h.now }}
	for _, o := range opts {
		o(&h.cfg)
	}
	h.inbound = st.NewInboundBatcher(log)
	h.sender = outbox.New(outbox.Config{}, st, wx, meter, log)
	h.pipeline = bot.NewPipeline(bot.PipelineConfig{}, h.inbound, sp, router, meter, nil, log)
	h.wh = wechat.NewWebhook(h.cfg, rd, h.pipeline, meter, log)
	t.Cleanup(func() { h.settle(); h.inbound.Close() })
	return h
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// msgID returns a fresh MsgId.
func (h *harness) msgID() int64 { return h.seq.Add(1) }

// nonce returns a fresh nonce.
func (h *harness) nonce() string { return strconv.FormatInt(h.seq.Add(1)%1000000000, 10) }

// do sends a request to the webhook as WeChat would.
func (h *harness) do(method string, query url.Values, body []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, "/wechat?"+query.Encode(), strings.NewReader(string(body)))
	rec := httptest.NewRecorder()
	h.wh.ServeHTTP(rec, req)
	return rec
}

// post signs a push in the given mode and sends it.
func (h *harness) post(mode, push string) *httptest.ResponseRecorder {
	h.t.Helper()
	var q url.Values
	var body []byte
	switch mode {
	case "plain":
		q, body = h.signer.Plain(push, h.now.Unix(), h.nonce())
	case "safe":
		q, body = h.signer.Safe(push, h.now.Unix(), h.nonce())
	case "compatible":
		q, body = h.signer.Compatible(push, h.now.Unix(), h.nonce())
	default:
		h.t.Fatalf("mode %q", mode)
	}
	return h.do(http.MethodPost, q, body)
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

// settle waits for handling still running after its answer.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.pipeline.Wait(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// deliver lets the outbox send everything due, as the running sender would.
func (h *harness) deliver() {
	h.t.Helper()
	h.settle()
	for range 20 {
		n, err := h.sender.SendDue(context.Background())
		if err != nil {
			h.t.Fatalf("outbox: %v", err)
		}
		if n == 0 {
			return
		}
	}
	h.t.Fatal("outbox still busy after 20 rounds")
}

// count runs a COUNT(*) query in the test's schema once handling is done.
// onboarded makes openIDs members who were already welcomed and asked
// for consent, so a test of the transport counts only the answers it is
// about, not the new-member questions onboarding adds to a first message.
func (h *harness) onboarded(openIDs ...string) {
	h.t.Helper()
	for _, id := range openIDs {
		if _, err := h.st.DB().Exec(`INSERT INTO members (openid, first_seen, last_seen, consent_asked)
			VALUES ($1, now(), now(), $2)`, id, bot.ConsentVersion); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	h.settle()
	var n int
	if err := h.st.DB().Get(&n, query, args...); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// customerService lists the customer-service texts WeChat took for openID.
func (h *harness) customerService(openID string) []string {
	h.t.Helper()
	var texts []string
	for _, c := range h.fake.Calls("/cgi-bin/message/custom/send") {
		if to, _ := c.JSON["touser"].(string); to == openID && c.Errcode == 0 {
			text, _ := c.JSON["text"].(map[string]any)
			content, _ := text["content"].(string)
			texts = append(texts, content)
		}
	}
	return texts
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
	raw := func(from, msgType string, kv ...string) func(h *harness) string {
		return func(h *harness) string {
			var b strings.Builder
			b.WriteString("<xml><ToUserName><![CDATA[" + account + "]]></ToUserName><FromUserName><![CDATA[" + from +
				"]]></FromUserName><CreateTime>" + strconv.FormatInt(ts(h), 10) + "</CreateTime><MsgType><![CDATA[" + msgType + "]]></MsgType>")
			for i := 0; i+1 < len(kv); i += 2 {
				b.WriteString("<" + kv[i] + "><![CDATA[" + kv[i+1] + "]]></" + kv[i] + ">")
			}
			b.WriteString("<MsgId>" + strconv.FormatInt(h.msgID(), 10) + "</MsgId></xml>")
			return b.String()
		}
	}
	cases := []pushCase{
		{name: "text, plaintext mode", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Text("o-text", account, "你好", h.msgID(), ts(h)) },
			wantReply: "暖家",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-text' AND text = '你好' AND handled_at IS NOT NULL`); n != 1 {
					t.Errorf("handled inbound rows = %d, want 1", n)
				}
				if n := h.count(`SELECT count(*) FROM outbox WHERE openid = 'o-text' AND channel = 'passive' AND status = 'answered'`); n != 1 {
					t.Errorf("answered passive replies = %d, want 1", n)
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
			wantReply: "者保",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-voice' AND media_id <> '' AND format = 'amr'`); n != 1 {
					t.Errorf("voice kept without its MediaId and Format")
				}
			}},
		{name: "voice without recognition asks to type", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Voice("o-voice2", account, "", h.msgID(), ts(h)) },
			wantReply: "打字"},
		{name: "location gives the nearest branch", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.Location("o-loc", account, 24.62, 105.18, "者保乡", h.msgID(), ts(h))
			},
			wantReply: "者保",
			check: func(t *testing.T, h *harness) {
				// Used for the answer, then dropped: the member has not
				// consented to keeping where they are.
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-loc' AND lat IS NULL AND text = ''`); n != 1 {
					t.Errorf("the location of a member without consent was kept")
				}
			}},
		{name: "image is acknowledged and its media kept", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Image("o-img", account, "http://mmbiz/1.jpg", h.msgID(), ts(h)) },
			wantReply: "图片收到了",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-img' AND pic_url = 'http://mmbiz/1.jpg'`); n != 1 {
					t.Errorf("image kept without its PicUrl")
				}
			}},
		{name: "video is acknowledged", mode: "plain",
			xml:       raw("o-video", "video", "MediaId", "vid-1", "ThumbMediaId", "thumb-1"),
			wantReply: "视频收到了",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-video' AND media_id = 'vid-1' AND thumb_media_id = 'thumb-1'`); n != 1 {
					t.Errorf("video kept without its media ids")
				}
			}},
		{name: "short video is acknowledged", mode: "safe",
			xml:       raw("o-short", "shortvideo", "MediaId", "sv-1", "ThumbMediaId", "thumb-2"),
			wantReply: "视频收到了"},
		{name: "link is acknowledged", mode: "plain",
			xml:       raw("o-link", "link", "Title", "工资条", "Description", "三月", "Url", "https://example.org/a"),
			wantReply: "链接收到了",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-link' AND title = '工资条' AND url = 'https://example.org/a'`); n != 1 {
					t.Errorf("link kept without its title and url")
				}
			}},
		{name: "file is acknowledged and its FileKey kept", mode: "plain",
			xml:       raw("o-file", "file", "Title", "合同.pdf", "Description", "劳动合同", "FileKey", "fk-1", "FileMd5", "md5-1"),
			wantReply: "文件收到了",
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-file' AND extra->>'FileKey' = 'fk-1'`); n != 1 {
					t.Errorf("file kept without its FileKey")
				}
			}},
		{name: "a kind of message WeChat adds later is still acknowledged", mode: "plain",
			xml:       raw("o-new", "miniprogrampage", "Title", "小程序"),
			wantReply: "收到了"},
		{name: "a stray Event on a text is not acted on", mode: "plain",
			xml:       raw("o-stray", "text", "Content", "你好", "Event", "unsubscribe"),
			wantReply: "暖家",
			check: func(t *testing.T, h *harness) {
				m, _, err := h.st.Member(context.Background(), "o-stray")
				if err != nil || !m.Subscribed {
					t.Errorf("a text carrying <Event>unsubscribe</Event> unsubscribed the member: %+v %v", m, err)
				}
			}},
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
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-unsub' AND handled_at IS NOT NULL`); n != 1 {
					t.Errorf("unsubscribe not marked handled")
				}
			}},
		{name: "menu click maps to its intent", mode: "plain",
			xml:       func(h *harness) string { return wxtest.Event("o-click", account, "CLICK", "contact", ts(h)) },
			wantReply: "你在哪里"},
		{name: "menu VIEW is recorded only", mode: "plain",
			xml: func(h *harness) string { return wxtest.Event("o-view", account, "VIEW", "https://example.org", ts(h)) }},
		{name: "LOCATION event is recorded without its coordinates, not answered", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.LocationEvent("o-locev", account, 24.7, 105.3, 30, ts(h))
			},
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-locev' AND event = 'LOCATION' AND lat IS NULL`); n != 1 {
					t.Errorf("LOCATION event rows without coordinates = %d, want 1 (no consent)", n)
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
		{name: "a second job report in the same second is its own", mode: "plain",
			xml: func(h *harness) string {
				return wxtest.JobFinish("o-admin", account, "MASSSENDJOBFINISH", 3162228394, "send success", ts(h))
			},
			check: func(t *testing.T, h *harness) {
				if n := h.count(`SELECT count(*) FROM send_jobs WHERE event = 'MASSSENDJOBFINISH'`); n != 2 {
					t.Errorf("two reports in one second kept as %d, want 2", n)
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
			got := h.replyText(h.post(c.mode, c.xml(h)), c.mode != "plain")
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
	if n := h.count(`SELECT count(*) FROM messages WHERE handled_at IS NULL`); n != 0 {
		t.Errorf("%d pushes left unhandled", n)
	}
}

func TestWebhookRefusesHostileRequests(t *testing.T) {
	h := newHarness(t)
	text := func() string { return wxtest.Text("o-evil", account, "你好", h.msgID(), h.now.Unix()) }
	otherApp := wxtest.Signer{Token: testToken, AppID: "wx0000000000000000", AESKey: testAESKey}
	plainBody := func(xml string) func() (string, url.Values, []byte) {
		return func() (string, url.Values, []byte) {
			q, _ := h.signer.Plain(text(), h.now.Unix(), h.nonce())
			return http.MethodPost, q, []byte(xml)
		}
	}
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
		{"decrypted message over 64 KiB in safe mode", func() (string, url.Values, []byte) {
			big := wxtest.Text("o-evil", account, strings.Repeat("长", 22000), h.msgID(), h.now.Unix())
			q, b := h.signer.Safe(big, h.now.Unix(), h.nonce())
			return http.MethodPost, q, b
		}, http.StatusRequestEntityTooLarge, "body too large"},
		{"malformed XML", plainBody("<xml><ToUserName>"), http.StatusBadRequest, "malformed XML"},
		{"not XML at all", plainBody(`{"msg":"hi"}`), http.StatusBadRequest, "malformed XML"},
		{"XML without a sender", plainBody(`<xml><MsgType>text</MsgType><Content>hi</Content><CreateTime>1764400000</CreateTime></xml>`),
			http.StatusBadRequest, "lacks"},
		{"CreateTime of 10^15", plainBody(`<xml><FromUserName>o-evil</FromUserName><MsgType>text</MsgType><Content>hi</Content><CreateTime>1000000000000000</CreateTime><MsgId>1</MsgId></xml>`),
			http.StatusBadRequest, "CreateTime"},
		{"a 10 KB openid", plainBody(`<xml><FromUserName>` + strings.Repeat("o", 10000) + `</FromUserName><MsgType>text</MsgType><Content>hi</Content><CreateTime>1764400000</CreateTime><MsgId>1</MsgId></xml>`),
			http.StatusBadRequest, "too long"},
		{"NaN coordinates", plainBody(`<xml><FromUserName>o-evil</FromUserName><MsgType>location</MsgType><Location_X>NaN</Location_X><Location_Y>105</Location_Y><CreateTime>1764400000</CreateTime><MsgId>1</MsgId></xml>`),
			http.StatusBadRequest, "location"},
		{"DOCTYPE", plainBody(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>`),
			http.StatusBadRequest, "DOCTYPE"},
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
	// The server is unharmed: a good push still gets its answer, and a
	// message just under the cap in safe mode (its envelope is larger) too.
	if got := h.replyText(h.post("plain", text()), false); !strings.Contains(got, "暖家") {
		t.Errorf("after the hostile requests a greeting got %q", got)
	}
	long := wxtest.Text("o-long", account, "你好"+strings.Repeat("。", 20000), h.msgID(), h.now.Unix())
	if rec := h.post("safe", long); rec.Code != http.StatusOK {
		t.Errorf("a 60 KB message in safe mode got %d %q, want it kept", rec.Code, rec.Body.String())
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

// A signed (timestamp, nonce) reused with another push is refused; reused
// with the same push it is WeChat's retry and gets the answer again.
func TestWebhookReplayedNonce(t *testing.T) {
	h := newHarness(t)
	h.onboarded("o-r")
	nonce := h.nonce()
	push := wxtest.Text("o-r", account, "你好", h.msgID(), h.now.Unix())
	q, body := h.signer.Plain(push, h.now.Unix(), nonce)
	first := h.replyText(h.do(http.MethodPost, q, body), false)
	if first == "" {
		t.Fatal("first request got no reply")
	}
	if again := h.replyText(h.do(http.MethodPost, q, body), false); again != first {
		t.Errorf("the same request again (a retry) got %q, want the same answer %q", again, first)
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
	if n := h.count(`SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("replies = %d, want 1", n)
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

// Three deliveries of one push at once, as WeChat's retries can overlap
// with a slow first attempt: one kept message, one reply, and every
// delivery answered with that reply or "success" — the member sees it once.
func TestRetriesHaveOneEffect(t *testing.T) {
	for _, mode := range []string{"plain", "safe"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			h.onboarded("o-retry")
			push := wxtest.Text("o-retry", account, "老板拖欠工资", h.msgID(), h.now.Unix())
			var wg sync.WaitGroup
			recs := make([]*httptest.ResponseRecorder, 3)
			for i := range recs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs[i] = h.post(mode, push)
				}()
			}
			wg.Wait()
			texts := map[string]bool{}
			for _, rec := range recs {
				if got := h.replyText(rec, mode == "safe"); got != "" {
					texts[got] = true
				}
			}
			if len(texts) != 1 {
				t.Errorf("the deliveries were answered with %d different texts, want the one reply: %v", len(texts), texts)
			}
			if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 1 {
				t.Errorf("stored messages = %d, want 1", n)
			}
			if n := h.count(`SELECT count(*) FROM outbox WHERE openid = 'o-retry'`); n != 1 {
				t.Errorf("replies = %d, want 1", n)
			}
			// The help request opened one case, whose alert went to the
			// county's two directors once each.
			if n := h.count(`SELECT count(*) FROM cases`); n != 1 {
				t.Errorf("cases = %d, want 1", n)
			}
			if n := h.count(`SELECT count(*) FROM outbox WHERE kind = 'alert'`); n != 2 {
				t.Errorf("alerts = %d, want one to each of the 2 county directors", n)
			}
			h.deliver()
			if cs := h.customerService("o-retry"); len(cs) != 0 {
				t.Errorf("a reply answered passively was also sent by customer service: %q", cs)
			}
		})
	}
}

// Redis down, or having forgotten everything: PostgreSQL's dedupe key
// still tells a retry from a new push, and the retry gets the same answer.
func TestRetryWithoutRedisIsStillOneEffect(t *testing.T) {
	h := newHarness(t)
	h.onboarded("o-noredis")
	push := wxtest.Text("o-noredis", account, "你好", h.msgID(), h.now.Unix())
	first := h.replyText(h.post("plain", push), false)
	h.rd.Close()
	again := h.replyText(h.post("plain", push), false)
	if first == "" || again != first {
		t.Errorf("answers %q then %q, want the greeting twice", first, again)
	}
	if got := h.replyText(h.post("plain", wxtest.Text("o-noredis", account, "新州电话", h.msgID(), h.now.Unix())), false); !strings.Contains(got, "新州") {
		t.Errorf("a new push with Redis down got %q", got)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE direction = 'in'`); n != 2 {
		t.Errorf("stored messages = %d, want 2", n)
	}
	if n := h.count(`SELECT count(*) FROM outbox`); n != 2 {
		t.Errorf("replies = %d, want 2", n)
	}
}

// Two messages without a MsgId in the same second are two messages.
func TestMessagesWithoutMsgIDInOneSecond(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"你好", "新州电话"} {
		push := "<xml><ToUserName><![CDATA[" + account + "]]></ToUserName><FromUserName><![CDATA[o-nomsgid]]></FromUserName><CreateTime>" +
			strconv.FormatInt(h.now.Unix(), 10) + "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" + text + "]]></Content></xml>"
		if got := h.replyText(h.post("plain", push), false); got == "" {
			t.Errorf("%s got no reply", text)
		}
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-nomsgid'`); n != 2 {
		t.Errorf("kept %d messages, want 2", n)
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
	h := newHarness(t, func(c *wechat.WebhookConfig) {
		c.ReplyDeadline = 100 * time.Millisecond
		c.Now = time.Now
	})
	h.router.Register(bot.IntentGreeting, slowHandler{delay: 400 * time.Millisecond, text: "慢慢来的回答"})
	for _, mode := range []string{"plain", "safe"} {
		t.Run(mode, func(t *testing.T) {
			openID := "o-slow-" + mode
			h.now = time.Now()
			rec := h.post(mode, wxtest.Text(openID, account, "你好", h.msgID(), h.now.Unix()))
			if rec.Code != http.StatusOK || rec.Body.String() != "success" {
				t.Fatalf("slow push got %d %q, want the body \"success\"", rec.Code, rec.Body.String())
			}
			h.deliver()
			if cs := h.customerService(openID); len(cs) != 1 || cs[0] != "慢慢来的回答" {
				t.Fatalf("customer-service messages = %q, want the one late reply", cs)
			}
			if n := h.count(`SELECT count(*) FROM outbox WHERE openid = $1 AND channel = 'customer_service' AND status = 'sent'`, openID); n != 1 {
				t.Errorf("sent customer-service replies = %d, want 1", n)
			}
		})
	}
}

// A handler's further texts follow the passive answer by customer-service
// message, in order.
func TestMoreTextsFollowByCustomerService(t *testing.T) {
	h := newHarness(t)
	h.onboarded("o-more")
	h.router.Register(bot.IntentGreeting, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		return bot.Reply{Text: "第一条", More: []string{"第二条", "第三条"}}, nil
	}))
	if got := h.replyText(h.post("plain", wxtest.Text("o-more", account, "你好", h.msgID(), h.now.Unix())), false); got != "第一条" {
		t.Fatalf("passive answer = %q", got)
	}
	h.deliver()
	if cs := h.customerService("o-more"); len(cs) != 0 {
		t.Fatalf("further texts sent at once, racing the passive answer: %q", cs)
	}
	// A second later they are due.
	if _, err := h.st.DB().Exec(`UPDATE outbox SET next_attempt = now() WHERE status = 'pending'`); err != nil {
		t.Fatal(err)
	}
	h.deliver()
	if cs := h.customerService("o-more"); strings.Join(cs, "|") != "第二条|第三条" {
		t.Errorf("customer-service messages = %q, want the two further texts in order", cs)
	}
}

func TestHandlerPanicIsAnsweredWithSuccess(t *testing.T) {
	h := newHarness(t)
	h.router.Register(bot.IntentGreeting, bot.HandlerFunc(func(context.Context, *bot.Request) (bot.Reply, error) {
		panic("handler bug")
	}))
	for _, mode := range []string{"plain", "safe"} {
		rec := h.post(mode, wxtest.Text("o-panic", account, "你好", h.msgID(), h.now.Unix()))
		if rec.Code != http.StatusOK || rec.Body.String() != "success" {
			t.Errorf("%s: panicking handler got %d %q, want \"success\"", mode, rec.Code, rec.Body.String())
		}
	}
	// The member's words are kept, and marked handled: a panic must not
	// make the sweeper run the broken handler again and again.
	if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-panic' AND handled_at IS NOT NULL`); n != 2 {
		t.Errorf("handled messages = %d, want 2", n)
	}
}

// A push kept but never handled — the process was killed between the
// commit and the handling — is found by the sweeper and answered by
// customer-service message, once.
func TestSweeperHandlesWhatACrashLeft(t *testing.T) {
	h := newHarness(t)
	h.onboarded("o-crash")
	ctx := context.Background()
	in := bot.Inbound{OpenID: "o-crash", Type: bot.TypeText, Text: "你好", MsgID: h.msgID(), At: h.now}
	in.DedupeKey = "m:" + strconv.FormatInt(in.MsgID, 10)
	if _, err := h.st.Keep(ctx, in); err != nil {
		t.Fatal(err)
	}
	swept := bot.NewPipeline(bot.PipelineConfig{SweepGrace: time.Millisecond}, h.inbound, h.spool, h.router, metrics.New(quietLog()), nil, quietLog())
	time.Sleep(10 * time.Millisecond)
	for range 2 {
		if _, err := swept.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h.deliver()
	if cs := h.customerService("o-crash"); len(cs) != 1 || !strings.Contains(cs[0], "暖家") {
		t.Errorf("customer-service messages after the sweep = %q, want the greeting once", cs)
	}
	// WeChat's retry after the restart finds it handled: "success", since
	// the reply already went by customer-service message.
	rec := h.post("plain", wxtest.Text("o-crash", account, "你好", in.MsgID, h.now.Unix()))
	if got := h.replyText(rec, false); got != "" {
		t.Errorf("the retry after the sweep got %q, want \"success\"", got)
	}
}

// The process died after the handling committed, before the HTTP answer
// was written: WeChat's retry gets the same answer, and nothing goes by
// customer-service message as well.
func TestRetryAfterACrashGetsTheAnswer(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	msgID := h.msgID()
	in := bot.Inbound{OpenID: "o-lost", Type: bot.TypeText, Text: "你好", MsgID: msgID, At: h.now,
		DedupeKey: "m:" + strconv.FormatInt(msgID, 10)}
	if _, err := h.st.Keep(ctx, in); err != nil {
		t.Fatal(err)
	}
	route := func(ctx context.Context, msg bot.Inbound, m bot.Member, cases bot.Cases) (bot.Reply, bot.Understanding) {
		r, u, _ := h.router.Route(ctx, msg, m, cases)
		return r, u
	}
	first, err := h.st.Handle(ctx, in.OpenID, in.DedupeKey, true, route)
	if err != nil || first.Reply == "" {
		t.Fatalf("Handle = %+v, %v", first, err)
	}
	// The crash: nothing written. WeChat retries 5 s later.
	got := h.replyText(h.post("plain", wxtest.Text("o-lost", account, "你好", msgID, h.now.Unix())), false)
	if got != first.Reply {
		t.Errorf("the retry got %q, want the answer the crash lost: %q", got, first.Reply)
	}
	h.deliver()
	if cs := h.customerService("o-lost"); len(cs) != 0 {
		t.Errorf("customer-service messages = %q, want none: the retry carried the answer", cs)
	}
}

// An answer that cannot be written (WeChat hung up) goes by
// customer-service message instead.
func TestUnwrittenAnswerGoesByCustomerService(t *testing.T) {
	h := newHarness(t)
	push := wxtest.Text("o-hangup", account, "你好", h.msgID(), h.now.Unix())
	q, body := h.signer.Plain(push, h.now.Unix(), h.nonce())
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), strings.NewReader(string(body))).WithContext(ctx)
	rec := &hangUp{ResponseRecorder: httptest.NewRecorder(), cancel: cancel}
	h.wh.ServeHTTP(rec, req)
	h.deliver()
	if cs := h.customerService("o-hangup"); len(cs) != 1 || !strings.Contains(cs[0], "暖家") {
		t.Errorf("customer-service messages = %q, want the greeting the hang-up lost", cs)
	}
}

// hangUp is a connection WeChat drops as the answer is being written.
type hangUp struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (h *hangUp) Write(b []byte) (int, error) {
	h.cancel()
	return 0, errors.New("connection reset by peer")
}

// Pushes from one member are handled one after another, in the order they
// were sent, even when they arrive together.
func TestOneMembersPushesInOrder(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var order []string
	inFlight, overlaps := 0, 0
	record := bot.HandlerFunc(func(_ context.Context, req *bot.Request) (bot.Reply, error) {
		mu.Lock()
		order = append(order, req.Msg.Text)
		if inFlight++; inFlight > 1 {
			overlaps++
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond) // long enough for the others to pile up
		mu.Lock()
		inFlight--
		mu.Unlock()
		return bot.Reply{Text: "收到" + req.Msg.Text}, nil
	})
	// Whatever the texts are understood as, the same handler records them.
	for _, in := range []bot.Intent{bot.IntentHelp, bot.IntentContact, bot.IntentPolicy, bot.IntentVisit,
		bot.IntentStatus, bot.IntentGreeting, bot.IntentStop, bot.IntentForget, bot.IntentUnknown} {
		h.router.Register(in, record)
	}
	texts := []string{"甲一", "乙二", "丙三", "丁四"}
	var wg sync.WaitGroup
	for i, text := range texts {
		push := wxtest.Text("o-order", account, text, h.msgID(), h.now.Unix()+int64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.post("plain", push)
		}()
		// The member sends the next one as soon as WeChat has delivered
		// this one, while the first is still being handled.
		waitFor(t, func() bool {
			var n int
			return h.st.DB().Get(&n, `SELECT count(*) FROM messages WHERE openid = 'o-order'`) == nil && n == i+1
		})
	}
	wg.Wait()
	h.settle()
	if strings.Join(order, "") != strings.Join(texts, "") {
		t.Errorf("handled in the order %q, want %q", order, texts)
	}
	if overlaps > 0 {
		t.Errorf("%d handlings of the member's pushes ran while another was under way", overlaps)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// PostgreSQL down: the push goes to the disk spool and WeChat gets
// "success"; when PostgreSQL is back the replayer keeps and handles it and
// the reply goes by customer-service message. A retry in between is not a
// second message.
func TestDatabaseDownSpoolsThePush(t *testing.T) {
	h := newHarness(t)
	h.onboarded("o-down")
	push := wxtest.Text("o-down", account, "你好", h.msgID(), h.now.Unix())
	down, err := store.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	down.Close() // every query on it now fails
	downInbox := down.NewInboundBatcher(quietLog())
	h.pipeline = bot.NewPipeline(bot.PipelineConfig{}, downInbox, h.spool, h.router, metrics.New(quietLog()), nil, h.log)
	h.wh = wechat.NewWebhook(h.cfg, h.rd, h.pipeline, metrics.New(quietLog()), h.log)
	for range 2 { // the first attempt and WeChat's retry
		if got := h.replyText(h.post("plain", push), false); got != "" {
			t.Fatalf("with the database down got %q, want \"success\"", got)
		}
	}
	downInbox.Close()
	if h.spool.Pending() != 2 {
		t.Fatalf("spool holds %d pushes, want 2", h.spool.Pending())
	}
	// PostgreSQL is back.
	back := bot.NewPipeline(bot.PipelineConfig{}, h.inbound, h.spool, h.router, metrics.New(quietLog()), nil, h.log)
	if _, err := back.ReplaySpool(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.deliver()
	if cs := h.customerService("o-down"); len(cs) != 1 || !strings.Contains(cs[0], "暖家") {
		t.Errorf("customer-service messages = %q, want the greeting once", cs)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE openid = 'o-down'`); n != 1 {
		t.Errorf("kept %d messages, want 1", n)
	}
	if h.spool.Pending() != 0 {
		t.Errorf("spool still holds %d pushes", h.spool.Pending())
	}
}

// Neither PostgreSQL nor the spool can keep the push: WeChat gets a 503 and
// retries.
func TestNowhereToKeepAsksWeChatToRetry(t *testing.T) {
	h := newHarness(t)
	down, err := store.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	downInbox := down.NewInboundBatcher(quietLog())
	defer downInbox.Close()
	h.spool.Close() // appends now fail
	h.pipeline = bot.NewPipeline(bot.PipelineConfig{}, downInbox, h.spool, h.router, metrics.New(quietLog()), nil, h.log)
	h.wh = wechat.NewWebhook(h.cfg, h.rd, h.pipeline, metrics.New(quietLog()), h.log)
	rec := h.post("plain", wxtest.Text("o-nowhere", account, "你好", h.msgID(), h.now.Unix()))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d %q, want 503 so WeChat retries", rec.Code, rec.Body.String())
	}
}

// frozen is a dependency that never answers.
type frozen struct{}

func (frozen) Ping(ctx context.Context) error { select {} }

type failing struct{}

func (failing) Ping(context.Context) error { return errors.New("connection refused") }

func TestReadiness(t *testing.T) {
	h := newHarness(t)
	probe := func(rd bot.Readiness) (int, string) {
		rd.Timeout = 100 * time.Millisecond
		rec := httptest.NewRecorder()
		bot.Ready(rd).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	cases := []struct {
		name       string
		rd         bot.Readiness
		wantStatus int
		wantText   string
	}{
		{"all up", bot.Readiness{Postgres: h.st, Spool: h.spool, Redis: h.rd}, 200, "ready"},
		{"redis down is reported, still ready", bot.Readiness{Postgres: h.st, Spool: h.spool, Redis: failing{}}, 200, "redis: down"},
		{"postgres frozen, spool takes the pushes", bot.Readiness{Postgres: frozen{}, Spool: h.spool, Redis: h.rd}, 200, "pushes go to the spool"},
		{"postgres and spool down", bot.Readiness{Postgres: failing{}, Spool: failing{}, Redis: h.rd}, 503, "neither"},
		{"shutting down", bot.Readiness{Postgres: h.st, Spool: h.spool, Redis: h.rd, Draining: func() bool { return true }}, 503, "shutting down"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := probe(c.rd)
			if status != c.wantStatus || !strings.Contains(body, c.wantText) {
				t.Errorf("got %d %q, want %d containing %q", status, body, c.wantStatus, c.wantText)
			}
		})
	}
	rec := httptest.NewRecorder()
	bot.Live().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("liveness = %d", rec.Code)
	}
}

// The privacy paths log no words either: a member full of phone numbers
// and addresses goes through onboarding, consent, their profile, a move,
// a help request, a director's look at their profile, withdrawal,
// erasure and leaving; the retention job erases another who left.
func TestLogsKeepMembersPrivateOnPrivacyPaths(t *testing.T) {
	h := newHarness(t)
	const phone, phone2, street = "13912345678", "0859-3212345", "兴义路88号"
	const m, director = "o-private-life", "demo-openid-xinzhou-1"
	say := func(from, text string) string {
		return h.replyText(h.post("plain", wxtest.Text(from, account, text, h.msgID(), h.now.Unix())), false)
	}
	h.post("plain", wxtest.Event(m, account, "subscribe", "", h.now.Unix()))
	say(m, "我在新州 "+street)
	say(m, "同意")
	say(m, "电话 "+phone)
	say(m, "老家 普坪镇")
	say(m, "我现在在者保乡")
	say(m, "1")
	profile := say(m, "我的信息")
	say(m, "老板欠我工资 打我电话"+phone2+" 住"+street)
	h.post("plain", wxtest.Location(m, account, 24.77654, 105.34321, street, h.msgID(), h.now.Unix()))
	if _, no, ok := strings.Cut(profile, "会员号："); ok {
		no, _, _ = strings.Cut(no, "\n")
		say(director, "会员 "+no)
	}
	say(m, "撤回同意")
	say(m, "删除我的信息")
	say(m, "确认删除")
	h.post("plain", wxtest.Event(m, account, "unsubscribe", "", h.now.Unix()))
	const gone = "o-private-gone"
	say(gone, "我电话"+phone+" 住"+street)
	h.post("plain", wxtest.Event(gone, account, "unsubscribe", "", h.now.Unix()))
	h.deliver()
	if _, err := h.st.DB().Exec(`UPDATE members SET unsubscribed_at = now() - interval '40 days' WHERE openid = $1`, gone); err != nil {
		t.Fatal(err)
	}
	p, err := h.st.Purge(context.Background(), store.Retention{EraseAfter: 30 * 24 * time.Hour}, time.Now())
	if err != nil || p.Members != 1 {
		t.Fatalf("retention erased %d members (%v), want 1", p.Members, err)
	}
	if n := h.count(`SELECT count(*) FROM members WHERE openid = $1 AND erased_at IS NOT NULL`, m); n != 1 {
		t.Fatal("the member was not erased: the path was not exercised")
	}
	logs := h.logs.String()
	for _, secret := range []string{phone, "3212345", street, "兴义路", "普坪", "24.77", "105.34", "欠我工资"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// Members' words, phone numbers and whereabouts never reach the logs, on
// the happy path or on the paths that log most: refusals, retries, a
// panicking handler, a late reply WeChat refuses.
func TestLogsKeepMembersPrivate(t *testing.T) {
	h := newHarness(t, func(c *wechat.WebhookConfig) {
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
	// Another member: o-private's words went on the case they opened.
	post(wxtest.Text("o-private-2", account, words, h.msgID(), now), nil)
	// A late reply that WeChat refuses: the failure is logged, the words not.
	h.router.Register(bot.IntentGreeting, slowHandler{delay: 300 * time.Millisecond, text: "你好" + phone})
	h.fake.FailNext("/cgi-bin/message/custom/send", 40003, 1)
	post(wxtest.Text("o-private-3", account, "你好", h.msgID(), now), nil) // o-private's words now go on their case
	h.deliver()

	logs := h.logs.String()
	for _, want := range []string{"push refused", "handler panic", "40003"} {
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
