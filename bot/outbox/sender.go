// Package outbox sends everything the bot says that is not the passive
// HTTP answer: replies that missed WeChat's five seconds, their follow-up
// texts, alerts to directors. The handling transaction writes each as a
// row of the outbox table; a Sender claims due rows, calls WeChat, and
// records what came of it, so a message is neither lost when a process
// dies nor sent twice when several processes send.
//
// At most one resend: a row is leased while it is sent, and the outcome
// is written by one UPDATE right after WeChat answers. A process killed
// between WeChat taking a message and that UPDATE leaves the row leased;
// when the lease ends the row is sent again. An at-most-once row (an
// alert, whose loss the case clock makes up for) is never sent a second
// time on a guess: an attempt whose outcome is unknown fails it as
// FailedUncertain, and the store fails it instead of requeueing it when its
// lease ends.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/wxapi"
)

// Queue is the outbox table as the sender needs it; *store.Store is one.
type Queue interface {
	// ClaimOutbox leases up to limit due rows for lease, counting the
	// attempt. A member's rows are claimed one at a time, in id order.
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]bot.OutboxMessage, error)
	// FinishOutbox records the outcome of m's attempt; recorded is false
	// when m's claim no longer holds the row.
	FinishOutbox(ctx context.Context, m bot.OutboxMessage, r bot.OutboxResult) (recorded bool, err error)
	// ReleaseOutbox hands back a claimed row that was not attempted.
	ReleaseOutbox(ctx context.Context, m bot.OutboxMessage) error
	// RequeueOutbox takes back rows whose lease ended (their sender
	// vanished), failing those that had their last attempt.
	RequeueOutbox(ctx context.Context, maxAttempts int) (int, error)
}

// Client is the WeChat API as the sender needs it; *wxapi.Client is one.
type Client interface {
	SendText(ctx context.Context, openID, text string) error
	SendMedia(ctx context.Context, openID, kind, mediaID string) error
	SendTemplate(ctx context.Context, msg wxapi.TemplateMessage) (msgID int64, err error)
}

// Meter counts send attempts by channel and result ("sent" or the
// wxapi.Kind name); bot.Meter is one.
type Meter interface {
	Sent(channel, result string)
}

// Config holds the sender's sizes and timings; zero values take the
// defaults below.
type Config struct {
	// Batch is the most rows claimed and not yet finished at once.
	Batch int
	// Workers is how many sends are in flight at once.
	Workers int
	// PollInterval is how often an idle sender looks for due rows; Wake
	// makes it look at once.
	PollInterval time.Duration
	// Lease is how long a claimed row stays the claimer's. It must cover
	// SendTimeout and recording the outcome.
	Lease time.Duration
	// SendTimeout bounds one send, the access token included.
	SendTimeout time.Duration
	// MaxAttempts bounds the attempts at a row; after the last, a row that
	// still fails (quota, WeChat's errors, bad credentials) is failed.
	MaxAttempts int
	// BackoffBase and BackoffCap shape the wait before a retry: doubling
	// from BackoffBase up to BackoffCap, the second half of it random.
	BackoffBase, BackoffCap time.Duration
	// RequeueEvery is how often Run looks for rows whose sender vanished.
	RequeueEvery time.Duration
	// DrainTimeout is how long sends already in flight may go on once
	// Run's context ends; then they are cancelled and their rows go back.
	DrainTimeout time.Duration
}

// Defaults for Config.
const (
	DefaultBatch        = 16
	DefaultWorkers      = 8
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultLease is more than twice the client's 10 s request timeout, so
	// a send that waited for a token and then for its own answer still
	// finishes inside its lease.
	DefaultLease        = 30 * time.Second
	DefaultSendTimeout  = 20 * time.Second
	DefaultMaxAttempts  = 10
	DefaultBackoffBase  = 2 * time.Second
	DefaultBackoffCap   = 10 * time.Minute
	DefaultRequeueEvery = 5 * time.Second
	DefaultDrainTimeout = 3 * time.Second
)

// withDefaults fills in zero values and keeps the timings consistent.
func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	c.Batch = max(c.Batch, c.Workers)
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.SendTimeout > c.Lease*2/3 {
		// Leave a third of the lease for waiting for a worker and for
		// recording the outcome.
		c.SendTimeout = c.Lease * 2 / 3
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffCap <= 0 {
		c.BackoffCap = DefaultBackoffCap
	}
	c.BackoffCap = max(c.BackoffCap, c.BackoffBase)
	if c.RequeueEvery <= 0 {
		c.RequeueEvery = DefaultRequeueEvery
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}

// Sender moves outbox rows to WeChat. Its methods are safe for concurrent
// use; call Run once.
type Sender struct {
	cfg   Config
	queue Queue
	wx    Client
	meter Meter
	log   *slog.Logger
	wake  chan struct{}
	// startWithin is how long after its claim a row may still be sent;
	// later, it is handed back. finishTimeout bounds recording an outcome.
	// Together with SendTimeout they fit in the lease.
	startWithin, finishTimeout time.Duration
}

// New returns a Sender. meter and log may be nil.
func New(cfg Config, queue Queue, client Client, meter Meter, log *slog.Logger) *Sender {
	cfg = cfg.withDefaults()
	if meter == nil {
		meter = noMeter{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spare := cfg.Lease - cfg.SendTimeout
	return &Sender{
		cfg: cfg, queue: queue, wx: client, meter: meter, log: log,
		wake:        make(chan struct{}, 1),
		startWithin: spare / 2, finishTimeout: min(spare/2, 5*time.Second),
	}
}

type noMeter struct{}

func (noMeter) Sent(string, string) {}

// Wake tells the sender rows may be due now. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// claimed is a row with the moment its claim was asked for, from which its
// lease is counted on this process's clock.
type claimed struct {
	m  bot.OutboxMessage
	at time.Time
}

// Run sends due rows until ctx ends, then lets sends in flight finish for
// up to DrainTimeout and returns nil. Rows are claimed whenever workers
// have room and something may be due: a send finished (the member's next
// row may be claimable now), Wake was called, or PollInterval passed.
func (s *Sender) Run(ctx context.Context) error {
	sendCtx, stopSends := s.sendContext(ctx)
	defer stopSends()
	jobs := make(chan claimed, s.cfg.Batch)
	done := make(chan struct{}, s.cfg.Batch)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() {
			for c := range jobs {
				s.deliver(ctx, sendCtx, c)
				done <- struct{}{}
			}
		})
	}
	// Rows still queued when ctx ends are handed back by the workers
	// (deliver sees ctx done); then the workers exit.
	defer func() { close(jobs); wg.Wait() }()

	// A database outage is one line every 10 s, not one per poll.
	claimFailed := bot.LogLimiter{Every: 10 * time.Second}
	timer := time.NewTimer(s.cfg.PollInterval)
	defer timer.Stop()
	var lastRequeue time.Time
	outstanding := 0 // claimed and not finished
	poke := true     // something may be due
	backlog := false // the last claim was full: more rows are due
	for ctx.Err() == nil {
		if time.Since(lastRequeue) >= s.cfg.RequeueEvery {
			lastRequeue = time.Now()
			s.requeue(ctx)
		}
		free := s.cfg.Batch - outstanding
		// With a backlog, claim in half batches rather than a row each time
		// a send finishes.
		if poke && free > 0 && (!backlog || outstanding <= s.cfg.Batch/2) {
			at := time.Now()
			msgs, err := s.queue.ClaimOutbox(ctx, free, s.cfg.Lease)
			if err != nil {
				if ok, held := claimFailed.Allow(time.Now()); ok && ctx.Err() == nil {
					s.log.Warn("outbox claim failed", "error", err, "also_since_last", held)
				}
				poke, backlog = false, false
			} else {
				for _, m := range msgs {
					jobs <- claimed{m, at}
				}
				outstanding += len(msgs)
				backlog = len(msgs) == free
				poke = backlog
			}
		}
		var tick <-chan time.Time
		if !poke {
			timer.Reset(s.cfg.PollInterval)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
		case <-done:
			outstanding--
			poke = true
		case <-s.wake:
			poke = true
		case <-tick:
			poke = true
		}
		timer.Stop()
	}
	return nil
}

// SendDue is one round: it takes back rows whose lease ended, claims up to
// Batch due rows, sends them with up to Workers at once and records each
// outcome. It returns how many rows it claimed. A member's next row is
// claimable only in a later round.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	if _, err := s.queue.RequeueOutbox(ctx, s.cfg.MaxAttempts); err != nil {
		return 0, err
	}
	sendCtx, stopSends := s.sendContext(ctx)
	defer stopSends()
	at := time.Now()
	msgs, err := s.queue.ClaimOutbox(ctx, s.cfg.Batch, s.cfg.Lease)
	if err != nil {
		return 0, err
	}
	slots := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for _, m := range msgs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			s.deliver(ctx, sendCtx, claimed{m, at})
		})
	}
	wg.Wait()
	return len(msgs), nil
}

// sendContext is the context WeChat calls run in: it outlives ctx by
// DrainTimeout, so a send in flight at shutdown can finish and be recorded
// rather than be cut off and sent again later.
func (s *Sender) sendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.DrainTimeout, cancel) })
	return sendCtx, func() { stop(); cancel() }
}

func (s *Sender) requeue(ctx context.Context) {
	n, err := s.queue.RequeueOutbox(ctx, s.cfg.MaxAttempts)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("outbox requeue failed", "error", err)
	case n > 0:
		s.log.Warn("outbox rows taken back from a sender that stopped mid-send", "count", n)
	}
}

// deliver attempts one claimed row and records the outcome.
func (s *Sender) deliver(ctx, sendCtx context.Context, c claimed) {
	m := c.m
	if ctx.Err() != nil || time.Since(c.at) > s.startWithin {
		// Stopping, or the lease is too far gone to send and record within
		// it: another claim will take the row.
		s.release(ctx, m)
		return
	}
	var (
		res    bot.OutboxResult
		result string
	)
	if ok, reason := s.allowed(m); !ok {
		// WeChat would refuse it (45015/45047): no call.
		res = s.channelClosed(m, bot.OutboxResult{ErrorKind: wxapi.KindOutsideWindow.String(), Error: reason}, reason)
		result = wxapi.KindOutsideWindow.String()
	} else {
		msgID, err := s.call(sendCtx, m)
		res = s.outcome(m, msgID, err, sendCtx.Err() != nil)
		result = "sent"
		if err != nil {
			result = wxapi.KindOf(err).String()
		}
	}
	s.finish(ctx, m, res)
	s.meter.Sent(m.Channel, result)
	if res.Status != bot.OutboxSent {
		s.log.Warn("outbox send not done", "outbox_id", m.ID, "channel", m.Channel, "attempts", m.Attempts,
			"kind", res.ErrorKind, "errcode", res.ErrorCode, "status", res.Status,
			"failed_reason", res.FailedReason, "next_channel", res.Channel)
	}
}

// allowed applies WeChat's customer-service quota as the claim read it.
func (s *Sender) allowed(m bot.OutboxMessage) (bool, string) {
	if m.Channel != bot.ChannelCustomerService {
		return true, ""
	}
	return m.Allowance.Allows()
}

var errNoTemplate = errors.New("outbox: the row has no template to send")

// call makes the one WeChat call for m.
func (s *Sender) call(sendCtx context.Context, m bot.OutboxMessage) (int64, error) {
	ctx, cancel := context.WithTimeout(sendCtx, s.cfg.SendTimeout)
	defer cancel()
	switch m.Channel {
	case bot.ChannelCustomerService:
		if m.MediaKind != "" {
			return 0, s.wx.SendMedia(ctx, m.OpenID, m.MediaKind, m.MediaID)
		}
		return 0, s.wx.SendText(ctx, m.OpenID, m.Text)
	case bot.ChannelTemplate:
		if m.Template == nil {
			return 0, errNoTemplate
		}
		return s.wx.SendTemplate(ctx, wxapi.TemplateMessage{
			ToUser: m.OpenID, TemplateID: m.Template.ID, URL: m.Template.URL, Data: m.Template.Data,
		})
	}
	return 0, fmt.Errorf("outbox: cannot send by channel %q", m.Channel)
}

// outcome decides what becomes of m after its call returned err.
// interrupted means the call was cut off because the sender is stopping.
func (s *Sender) outcome(m bot.OutboxMessage, msgID int64, err error, interrupted bool) bot.OutboxResult {
	if err == nil {
		return bot.OutboxResult{Status: bot.OutboxSent, WeChatMsgID: msgID}
	}
	kind := wxapi.KindOf(err)
	code, desc := describe(err, m.Text)
	r := bot.OutboxResult{ErrorKind: kind.String(), ErrorCode: code, Error: desc}
	if m.AtMostOnce && wxapi.Uncertain(err) {
		// WeChat may have taken it (a timeout, a 5xx, cut off at shutdown):
		// for these rows a lost message is made up for elsewhere, a second
		// copy is not. Definite refusals and failures before the call (the
		// token, no connection) fall through and are retried as usual.
		r.Status, r.FailedReason = bot.OutboxFailed, bot.FailedUncertain
		return r
	}
	switch kind {
	case wxapi.KindRetryLater, wxapi.KindBadToken:
		switch {
		case interrupted:
			// Due at once for whichever process is still running.
			return s.retry(m, r, 0)
		case m.Attempts >= s.cfg.MaxAttempts:
			r.Status, r.FailedReason = bot.OutboxFailed, bot.FailedMaxAttempts
			return r
		}
		return s.retry(m, r, s.backoff(m.Attempts))
	case wxapi.KindOutsideWindow:
		reason := bot.FailedOutsideWindow
		if code == 45047 {
			reason = bot.FailedCSLimit
		}
		return s.channelClosed(m, r, reason)
	case wxapi.KindUnsubscribed:
		r.Status, r.FailedReason = bot.OutboxFailed, bot.FailedUnsubscribed
		return r
	}
	// A refusal of this message as it is (a template WeChat no longer
	// has, a value outside its rules): the other channel may still carry
	// it, which for an alert is the point of having one.
	return s.channelClosed(m, r, bot.FailedPermanent)
}

func (s *Sender) retry(m bot.OutboxMessage, r bot.OutboxResult, after time.Duration) bot.OutboxResult {
	r.Status, r.Channel, r.Fallback, r.RetryIn = bot.OutboxPending, m.Channel, m.Fallback, after
	return r
}

// channelClosed is the outcome when m's channel is final for its
// recipient: its fallback at once, or failed for reason.
func (s *Sender) channelClosed(m bot.OutboxMessage, r bot.OutboxResult, reason string) bot.OutboxResult {
	if m.Fallback != "" && m.Fallback != m.Channel {
		r.Status, r.Channel, r.Fallback, r.RetryIn = bot.OutboxPending, m.Fallback, "", 0
		return r
	}
	r.Status, r.FailedReason = bot.OutboxFailed, reason
	return r
}

// backoff is the wait before the attempt after the given one: BackoffBase
// doubled per attempt up to BackoffCap, its second half random so rows
// that failed together do not come back together.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.cfg.BackoffCap
	if shift := attempt - 1; shift < 32 {
		if b := s.cfg.BackoffBase << shift; b > 0 && b < d {
			d = b
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// maxErrorLen bounds what is kept of an error on the row.
const maxErrorLen = 200

// describe is what the row keeps of an error (wxapi.Describe). None of
// it carries the message; text is checked anyway, in case an errmsg
// echoed it.
func describe(err error, text string) (code int, desc string) {
	code, desc = wxapi.Describe(err, maxErrorLen)
	if text != "" && strings.Contains(desc, text) {
		desc = wxapi.KindOf(err).String()
	}
	return code, desc
}

// finish records an outcome right after the call, on a context of its own:
// a stopping sender must still record what WeChat did.
func (s *Sender) finish(ctx context.Context, m bot.OutboxMessage, r bot.OutboxResult) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.finishTimeout)
	defer cancel()
	recorded, err := s.queue.FinishOutbox(fctx, m, r)
	switch {
	case err != nil:
		s.log.Error("outbox outcome not recorded; the row goes again when its lease ends",
			"outbox_id", m.ID, "status", r.Status, "error", err)
	case !recorded:
		s.log.Warn("outbox row was taken back before its outcome was recorded",
			"outbox_id", m.ID, "status", r.Status, "attempts", m.Attempts)
	}
}

// release hands back a row that was not attempted.
func (s *Sender) release(ctx context.Context, m bot.OutboxMessage) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.finishTimeout)
	defer cancel()
	if err := s.queue.ReleaseOutbox(rctx, m); err != nil {
		s.log.Warn("outbox row not released; it goes again when its lease ends", "outbox_id", m.ID, "error", err)
	}
}
