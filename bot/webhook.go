package bot

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"
)

// PushClaims guards against replays and WeChat's retries (Redis).
type PushClaims interface {
	ClaimPush(ctx context.Context, timestamp, nonce, dedupeKey string, ttl time.Duration) (replayed, duplicate bool, err error)
	ReleasePush(ctx context.Context, timestamp, nonce, dedupeKey string) error
}

// Records stores members and messages (PostgreSQL).
type Records interface {
	// RecordInbound stores a push and returns its member as stored after
	// it; fresh is false for a push already stored.
	RecordInbound(ctx context.Context, in Inbound) (m Member, fresh bool, err error)
	RecordJob(ctx context.Context, in Inbound) (fresh bool, err error)
}

// ReplyLog keeps the record of replies sent; it may write a moment later.
type ReplyLog interface {
	LogReply(r SentReply)
}

// Responder decides the reply to a push; *Router is one.
type Responder interface {
	Route(ctx context.Context, msg Inbound, member Member) (Reply, Understanding, error)
}

// CustomerService sends a customer-service text message: the way to answer
// once the passive reply's time is up.
type CustomerService interface {
	SendText(ctx context.Context, openID, text string) error
}

// WebhookConfig holds the webhook's secrets and limits.
type WebhookConfig struct {
	Token  string // WECHAT_TOKEN: signs every request
	AppID  string // WECHAT_APP_ID: must end every decrypted push
	AESKey string // WECHAT_AES_KEY: empty means plaintext only

	// ReplyDeadline is how long a push may take before the webhook answers
	// "success" and sends the reply as a customer-service message instead.
	// WeChat waits 5 s; 4 s leaves room for the network.
	ReplyDeadline time.Duration
	// MaxClockSkew refuses requests whose timestamp is further from now.
	MaxClockSkew time.Duration
	// MaxBody caps a push's size; WeChat's largest are a few KiB.
	MaxBody int64
	// Now is the clock (tests freeze it).
	Now func() time.Time
}

// Defaults for WebhookConfig's limits.
const (
	DefaultReplyDeadline = 4 * time.Second
	DefaultMaxClockSkew  = 300 * time.Second
	DefaultMaxBody       = 64 << 10
	// claimTTL outlives WeChat's retries (three within about 15 s) and the
	// replay window on both sides of now.
	claimTTL = 2*DefaultMaxClockSkew + time.Minute
	// laterTimeout bounds the work finished after "success" was answered.
	laterTimeout = 30 * time.Second
	// storeShare is the part of the reply deadline storing a push may take
	// (3.5 s of 4 s), so a stuck database still gets WeChat a 503, and a
	// retry, before WeChat gives up.
	storeShare = 7.0 / 8
)

// Webhook is the http.Handler WeChat pushes to, at /wechat.
type Webhook struct {
	cfg     WebhookConfig
	claims  PushClaims
	records Records
	replies ReplyLog
	router  Responder
	cs      CustomerService
	log     *slog.Logger
	late    sync.WaitGroup // work still running after its request was answered
}

// NewWebhook wires a webhook. cs may be nil only in tests that never pass
// the reply deadline.
func NewWebhook(cfg WebhookConfig, claims PushClaims, records Records, replies ReplyLog, router Responder, cs CustomerService, log *slog.Logger) *Webhook {
	if cfg.ReplyDeadline == 0 {
		cfg.ReplyDeadline = DefaultReplyDeadline
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhook{cfg: cfg, claims: claims, records: records, replies: replies, router: router, cs: cs, log: log}
}

// Wait blocks until work that outlived its request (replies sent as
// customer-service messages) has finished; serve calls it on shutdown.
func (wh *Webhook) Wait() { wh.late.Wait() }

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
	} else if err != nil {
		wh.log.Error("push failed", "error", err)
		http.Error(w, "temporarily unavailable, retry", http.StatusServiceUnavailable)
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wh.cfg.MaxBody))
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
	safe := q.Get("encrypt_type") == "aes"
	plain, err := wh.open(body, safe, timestamp, nonce, q.Get("msg_signature"))
	if err != nil {
		return err
	}
	in, err := parsePush(plain)
	if err != nil {
		return err
	}

	ctx := r.Context()
	replayed, duplicate, err := wh.claims.ClaimPush(ctx, timestamp, nonce, in.DedupeKey, claimTTL)
	switch {
	case err != nil:
		// Without Redis the unique key in PostgreSQL still stops retries.
		wh.log.Warn("cannot claim push; relying on the database", "error", err)
	case replayed:
		return refuse(http.StatusConflict, "replayed request")
	case duplicate:
		wh.log.Info("retry ignored", "dedupe_key", in.DedupeKey)
		return wh.answer(w, Reply{}, in, safe, timestamp, nonce)
	}
	release := func() {
		if err := wh.claims.ReleasePush(context.WithoutCancel(ctx), timestamp, nonce, in.DedupeKey); err != nil {
			wh.log.Warn("cannot release push claim", "error", err)
		}
	}

	if in.Event == EventMassSendDone || in.Event == EventTemplSendDone {
		if _, err := wh.records.RecordJob(ctx, in); err != nil {
			release()
			return err
		}
		return wh.answer(w, Reply{}, in, safe, timestamp, nonce)
	}

	// The push is stored before anything is answered: if that fails, WeChat
	// gets a 503 and retries, so nothing a member sent is lost.
	elapsed := wh.cfg.Now().Sub(start)
	storeCtx, cancel := context.WithTimeout(ctx, time.Duration(float64(wh.cfg.ReplyDeadline)*storeShare)-elapsed)
	member, fresh, err := wh.records.RecordInbound(storeCtx, in)
	cancel()
	if err != nil {
		release()
		return err
	}
	if !fresh {
		// WeChat's retry reached the database after Redis forgot the claim.
		wh.log.Info("retry ignored", "dedupe_key", in.DedupeKey)
		return wh.answer(w, Reply{}, in, safe, timestamp, nonce)
	}
	return wh.answer(w, wh.respond(in, member, start), in, safe, timestamp, nonce)
}

// Phases of a push racing the reply deadline.
const (
	phaseWorking int32 = iota
	phaseReplying
	phaseLate
)

// respond works out the reply to a stored push. When that takes longer than
// the reply deadline it returns an empty reply (the webhook answers
// "success"), and the work goes on: its reply is then sent as a
// customer-service message.
func (wh *Webhook) respond(in Inbound, member Member, start time.Time) Reply {
	var phase atomic.Int32
	done := make(chan Reply, 1)
	wh.late.Add(1)
	go func() {
		defer wh.late.Done()
		// Detached from the request: WeChat hanging up must not stop work
		// that has to finish either way.
		ctx, cancel := context.WithTimeout(context.Background(), laterTimeout)
		defer cancel()
		reply, u, _ := wh.router.Route(ctx, in, member)
		sent := SentReply{OpenID: in.OpenID, Text: reply.Text, Channel: ChannelPassive,
			Intent: u.Intent}
		if phase.CompareAndSwap(phaseWorking, phaseReplying) {
			if reply.Text != "" {
				sent.At = wh.cfg.Now()
				wh.replies.LogReply(sent)
			}
			done <- reply
			return
		}
		if reply.Text == "" {
			return
		}
		if err := wh.cs.SendText(ctx, in.OpenID, reply.Text); err != nil {
			wh.log.Error("late reply not sent", "dedupe_key", in.DedupeKey, "intent", string(u.Intent), "error", err)
			return
		}
		sent.Channel, sent.At = ChannelCustomerService, wh.cfg.Now()
		wh.replies.LogReply(sent)
	}()
	timer := time.NewTimer(wh.cfg.ReplyDeadline - wh.cfg.Now().Sub(start))
	defer timer.Stop()
	select {
	case reply := <-done:
		return reply
	case <-timer.C:
		if phase.CompareAndSwap(phaseWorking, phaseLate) {
			return Reply{}
		}
		return <-done // ready at the same moment; it is on its way
	}
}

// answer writes the HTTP answer: "success" when there is nothing to say
// (WeChat's documented empty answer, in safe mode too), else a passive
// text reply in the request's mode.
func (wh *Webhook) answer(w http.ResponseWriter, reply Reply, in Inbound, safe bool, timestamp, nonce string) error {
	if reply.Text == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "success")
		return nil
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
	_, _ = w.Write(out)
	return nil
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

// parsePush reads a push's plaintext XML into an Inbound.
func parsePush(plain []byte) (Inbound, error) {
	var m message.MixMessage
	if err := xml.Unmarshal(plain, &m); err != nil {
		return Inbound{}, refuse(http.StatusBadRequest, "malformed XML")
	}
	in := Inbound{
		OpenID:    string(m.FromUserName),
		AccountID: string(m.ToUserName),
		Type:      string(m.MsgType),
		Event:     string(m.Event),
		EventKey:  m.EventKey,
		MsgID:     m.MsgID,
		Status:    m.Status,
		At:        time.Unix(m.CreateTime, 0),
	}
	if in.OpenID == "" || in.Type == "" || m.CreateTime <= 0 {
		return Inbound{}, refuse(http.StatusBadRequest, "push lacks FromUserName, MsgType or CreateTime")
	}
	switch in.Type {
	case TypeText:
		in.Text = m.Content
	case TypeVoice:
		in.Text = m.Recognition
	case TypeLocation:
		in.Text, in.Lat, in.Lng, in.Located = m.Label, m.LocationX, m.LocationY, true
		if in.Lat < -90 || in.Lat > 90 || in.Lng < -180 || in.Lng > 180 {
			return Inbound{}, refuse(http.StatusBadRequest, "location out of range")
		}
	case TypeEvent:
		if in.Event == "" {
			return Inbound{}, refuse(http.StatusBadRequest, "event push lacks Event")
		}
		if in.Event == EventMassSendDone || in.Event == EventTemplSendDone {
			in.MsgID = m.TemplateMsgID // these two spell it MsgID
		}
	}
	if in.Type != TypeEvent && in.MsgID != 0 {
		in.DedupeKey = "m:" + strconv.FormatInt(in.MsgID, 10)
	} else {
		in.DedupeKey = "e:" + in.OpenID + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + in.Event
	}
	return in, nil
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
