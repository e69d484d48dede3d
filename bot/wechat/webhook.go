// Package wechat is WeChat's transport: it checks the signatures of
// pushes, decrypts them in safe mode, reads their XML into bot.Inbound,
// hands them to the bot's pipeline and writes the passive answer, in the
// request's mode, within WeChat's five seconds.
package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"nuanjia/bot"
)

// ReplayGuard remembers which push each request's (timestamp, nonce)
// carried (Redis). It never decides what is a retry: PostgreSQL's unique
// dedupe key does.
type ReplayGuard interface {
	// CheckNonce records the pair with the push's dedupe key. replayed is
	// true when the pair came before carrying a different push; the same
	// push again is a retry of WeChat's and is let through.
	CheckNonce(ctx context.Context, timestamp, nonce, dedupeKey string, ttl time.Duration) (replayed bool, err error)
}

// Acceptor keeps a push and says what to answer; *bot.Pipeline is one.
type Acceptor interface {
	Accept(ctx context.Context, in bot.Inbound, deadline time.Time) (bot.Answer, error)
}

// WebhookConfig holds the webhook's secrets and limits.
type WebhookConfig struct {
	Token  string // WECHAT_TOKEN: signs every request
	AppID  string // WECHAT_APP_ID: must end every decrypted push
	AESKey string // WECHAT_AES_KEY: empty means plaintext only

	// ReplyDeadline is how long a push may take before the webhook answers
	// "success" and the reply goes by customer-service message instead.
	// WeChat waits 5 s; 4 s leaves room for the network.
	ReplyDeadline time.Duration
	// MaxClockSkew refuses requests whose timestamp is further from now.
	MaxClockSkew time.Duration
	// MaxBody caps a push's decrypted size; WeChat's largest are a few KiB.
	MaxBody int64
	// GuardTimeout bounds the one Redis call a push makes: a slow or
	// stalled Redis must not eat WeChat's five seconds.
	GuardTimeout time.Duration
	// Now is the clock (tests freeze it).
	Now func() time.Time
}

// Defaults for WebhookConfig's limits.
const (
	DefaultReplyDeadline = 4 * time.Second
	DefaultMaxClockSkew  = 300 * time.Second
	DefaultMaxBody       = 64 << 10
	DefaultGuardTimeout  = 300 * time.Millisecond
	// nonceTTL outlives the replay window on both sides of now.
	nonceTTL = 2*DefaultMaxClockSkew + time.Minute
)

// Webhook is the http.Handler WeChat pushes to, at /wechat.
type Webhook struct {
	cfg      WebhookConfig
	guard    ReplayGuard
	pipeline Acceptor
	meter    bot.Meter
	log      *slog.Logger
	// guardDown keeps a Redis outage to one log line every 10 s.
	guardDown bot.LogLimiter
}

// NewWebhook wires a webhook.
func NewWebhook(cfg WebhookConfig, guard ReplayGuard, pipeline Acceptor, meter bot.Meter, log *slog.Logger) *Webhook {
	if cfg.ReplyDeadline == 0 {
		cfg.ReplyDeadline = DefaultReplyDeadline
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.GuardTimeout == 0 {
		cfg.GuardTimeout = DefaultGuardTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg, guard: guard, pipeline: pipeline, meter: meter, log: log,
		guardDown: bot.LogLimiter{Every: 10 * time.Second}}
}

// refusal is a request turned away: a 4xx with a short plain-text reason.
type refusal struct {
	status int
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(status int, reason string) *refusal { return &refusal{status: status, reason: reason} }

// ServeHTTP answers WeChat's URL check (GET) and its pushes (POST).
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := wh.cfg.Now()
	q := r.URL.Query()
	var err error
	switch r.Method {
	case http.MethodGet:
		err = wh.handshake(w, q)
	case http.MethodPost:
		err = wh.push(w, r, q, start)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = refuse(http.StatusMethodNotAllowed, "method not allowed")
	}
	var ref *refusal
	if errors.As(err, &ref) {
		// One line, never the body: it may hold a member's words.
		wh.log.Warn("push refused", "status", ref.status, "reason", ref.reason, "remote", r.RemoteAddr)
		http.Error(w, ref.reason, ref.status)
		if r.Method == http.MethodPost {
			wh.meter.Push(bot.OutcomeRefused, wh.cfg.Now().Sub(start))
		}
	} else if err != nil {
		wh.log.Error("push failed", "error", err)
		http.Error(w, "temporarily unavailable, retry", http.StatusServiceUnavailable)
		wh.meter.Push(bot.OutcomeFailed, wh.cfg.Now().Sub(start))
	}
}

// handshake echoes echostr for a correctly signed URL check.
func (wh *Webhook) handshake(w http.ResponseWriter, q queryValues) error {
	if !equalSignature(q.Get("signature"), signature(wh.cfg.Token, q.Get("timestamp"), q.Get("nonce"))) {
		return refuse(http.StatusForbidden, "bad signature")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, q.Get("echostr"))
	return nil
}

type queryValues interface{ Get(string) string }

// push handles one POSTed push. A *refusal means the request was bad; any
// other error means nuanjia could not keep the push and WeChat should retry.
func (wh *Webhook) push(w http.ResponseWriter, r *http.Request, q queryValues, start time.Time) error {
	safe := q.Get("encrypt_type") == "aes"
	limit := wh.cfg.MaxBody
	if safe {
		// The cap is on the message, as in plaintext; its base64 envelope
		// is a third larger, plus the XML around it.
		limit = wh.cfg.MaxBody*4/3 + 1024
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "body too large")
		}
		return refuse(http.StatusBadRequest, "cannot read body")
	}
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	if !equalSignature(q.Get("signature"), signature(wh.cfg.Token, timestamp, nonce)) {
		return refuse(http.StatusForbidden, "bad signature")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return refuse(http.StatusBadRequest, "bad timestamp")
	}
	if skew := start.Sub(time.Unix(ts, 0)); skew > wh.cfg.MaxClockSkew || skew < -wh.cfg.MaxClockSkew {
		return refuse(http.StatusForbidden, "stale timestamp")
	}
	plain, err := wh.open(body, safe, timestamp, nonce, q.Get("msg_signature"))
	if err != nil {
		return err
	}
	if int64(len(plain)) > wh.cfg.MaxBody {
		return refuse(http.StatusRequestEntityTooLarge, "body too large")
	}
	in, err := ParsePush(plain, start)
	if err != nil {
		return err
	}

	// In plaintext mode the signature does not cover the body, so a
	// replayed (timestamp, nonce) could carry anything: it is refused when
	// it carries another push than its first use. Redis answering slowly or
	// not at all only loses this check, never the push.
	guardCtx, cancel := context.WithTimeout(r.Context(), wh.cfg.GuardTimeout)
	replayed, err := wh.guard.CheckNonce(guardCtx, timestamp, nonce, in.DedupeKey, nonceTTL)
	cancel()
	switch {
	case err != nil:
		if ok, held := wh.guardDown.Allow(start); ok {
			wh.log.Warn("replay guard unavailable; pushes still kept", "error", err, "also_since_last", held)
		}
	case replayed:
		return refuse(http.StatusConflict, "replayed request")
	}

	// Kept (or spooled) before anything is answered; WeChat hanging up
	// does not stop that.
	ans, err := wh.pipeline.Accept(context.WithoutCancel(r.Context()), in, start.Add(wh.cfg.ReplyDeadline))
	if errors.Is(err, bot.ErrRejected) {
		wh.log.Warn("push rejected by the database", "dedupe_key", in.DedupeKey, "error", err)
		return refuse(http.StatusBadRequest, "push rejected")
	}
	if err != nil {
		return err
	}
	werr := wh.answer(w, bot.Reply{Text: ans.Text}, in, safe, timestamp, nonce)
	if werr == nil {
		// Sent now rather than when the handler returns, so a connection
		// WeChat dropped shows here and the reply can go another way.
		werr = http.NewResponseController(w).Flush()
	}
	ans.Settle(werr == nil && r.Context().Err() == nil)
	wh.meter.Push(ans.Outcome, wh.cfg.Now().Sub(start))
	if werr != nil {
		wh.log.Warn("answer not written", "dedupe_key", in.DedupeKey, "error", werr)
	}
	return nil
}

// answer writes the HTTP answer: "success" when there is nothing to say
// (WeChat's documented empty answer, in safe mode too), else a passive
// text reply in the request's mode.
func (wh *Webhook) answer(w http.ResponseWriter, reply bot.Reply, in bot.Inbound, safe bool, timestamp, nonce string) error {
	if reply.Text == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, "success")
		return err
	}
	text := message.NewText(reply.Text)
	text.SetToUserName(message.CDATA(in.OpenID))
	text.SetFromUserName(message.CDATA(in.AccountID))
	text.SetCreateTime(wh.cfg.Now().Unix())
	text.SetMsgType(message.MsgTypeText)
	out, err := xml.Marshal(text)
	if err != nil {
		return err
	}
	if safe {
		if out, err = wh.seal(out, timestamp, nonce); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, err = w.Write(out)
	return err
}

// open checks a push's body and returns its plaintext XML. In safe mode
// (encrypt_type=aes) the body is an envelope whose Encrypt field must carry
// a valid msg_signature and decrypt to a message for our AppID.
func (wh *Webhook) open(body []byte, safe bool, timestamp, nonce, msgSignature string) ([]byte, error) {
	// encoding/xml resolves no external entities, but a DOCTYPE has no place
	// in a push, and refusing it is cheap.
	if bytes.Contains(body, []byte("<!DOCTYPE")) || bytes.Contains(body, []byte("<!ENTITY")) {
		return nil, refuse(http.StatusBadRequest, "DOCTYPE not allowed")
	}
	if !safe {
		return body, nil
	}
	if wh.cfg.AESKey == "" {
		return nil, refuse(http.StatusBadRequest, "encrypted push but no WECHAT_AES_KEY configured")
	}
	var env message.EncryptedXMLMsg
	if err := xml.Unmarshal(body, &env); err != nil || env.EncryptedMsg == "" {
		return nil, refuse(http.StatusBadRequest, "malformed encrypted envelope")
	}
	if !equalSignature(msgSignature, signature(wh.cfg.Token, timestamp, nonce, env.EncryptedMsg)) {
		return nil, refuse(http.StatusForbidden, "bad msg_signature")
	}
	_, plain, err := util.DecryptMsg(wh.cfg.AppID, env.EncryptedMsg, wh.cfg.AESKey)
	if err != nil {
		if strings.Contains(err.Error(), "APPID") {
			return nil, refuse(http.StatusForbidden, "wrong AppID")
		}
		return nil, refuse(http.StatusBadRequest, "cannot decrypt")
	}
	return plain, nil
}

// seal encrypts a reply and signs it with the request's timestamp and nonce,
// as WeChat's safe mode wants.
func (wh *Webhook) seal(reply []byte, timestamp, nonce string) ([]byte, error) {
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	enc, err := util.EncryptMsg(random, reply, wh.cfg.AppID, wh.cfg.AESKey)
	if err != nil {
		return nil, err
	}
	ts, _ := strconv.ParseInt(timestamp, 10, 64)
	return xml.Marshal(message.ResponseEncryptedXMLMsg{
		EncryptedMsg: string(enc),
		MsgSignature: signature(wh.cfg.Token, timestamp, nonce, string(enc)),
		Timestamp:    ts,
		Nonce:        nonce,
	})
}

// signature is WeChat's: the parts sorted, joined, SHA-1, lower-case hex.
func signature(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	h := sha1.New()
	for _, p := range sorted {
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// equalSignature compares in constant time, so response timing leaks
// nothing about the expected signature.
func equalSignature(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}
