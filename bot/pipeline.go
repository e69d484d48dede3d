package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Inbox keeps pushes and the record of their handling (PostgreSQL).
type Inbox interface {
	// Keep stores a push. fresh is false when it was kept before: a retry.
	// An error wrapping ErrRejected means the database refused this push
	// itself (not an outage): it must not be spooled or retried.
	Keep(ctx context.Context, in Inbound) (fresh bool, err error)
	// KeepJob stores WeChat's report on a send job; reports are not
	// handled further.
	KeepJob(ctx context.Context, in Inbound) (fresh bool, err error)
	// Handle handles, in one transaction and in the order they were sent,
	// the member's unhandled pushes kept up to and including the one with
	// dedupeKey: it calls route for each and writes what it returned —
	// handled_at, the reply and the sends as outbox rows — before
	// committing. With passive, the first text of the push's reply is
	// recorded as the HTTP answer about to be written; otherwise every text
	// is due by customer-service message. It returns what the push with
	// dedupeKey got, whether handled now or earlier (a retry gets the same
	// passive answer).
	Handle(ctx context.Context, openID, dedupeKey string, passive bool, route Route) (Outcome, error)
	// Unanswered turns the push's passive answer, which could not be
	// written, into a customer-service message due now.
	Unanswered(ctx context.Context, dedupeKey string) error
	// Unhandled lists pushes kept before the given time and still not
	// handled, oldest first.
	Unhandled(ctx context.Context, keptBefore time.Time, limit int) ([]KeptPush, error)
}

// ErrRejected marks a push the database refused for what it holds.
var ErrRejected = errors.New("push rejected by the database")

// Route works out the reply to one push from member; Handle calls it inside
// its transaction.
type Route func(ctx context.Context, msg Inbound, member Member, cases Cases) (Reply, Understanding)

// Outcome is what handling gave one push.
type Outcome struct {
	// Reply is the text for the HTTP answer; "" when nothing is owed
	// passively (no reply, or it goes by customer-service message).
	Reply string
	// Now is true when this call handled the push, false when an earlier
	// one did.
	Now bool
}

// KeptPush names a kept push.
type KeptPush struct {
	OpenID    string `db:"openid"`
	DedupeKey string `db:"dedupe_key"`
}

// Spool keeps pushes on local disk while PostgreSQL cannot take them.
type Spool interface {
	// Append writes a push durably (fsynced) before it returns.
	Append(in Inbound) error
	// Replay hands every spooled push to keep, oldest first, and forgets
	// each one keep took. It stops at the first error keep returns.
	Replay(ctx context.Context, keep func(ctx context.Context, in Inbound) error) (replayed int, err error)
}

// Meter counts what happens to pushes, for the operators' metrics.
type Meter interface {
	// Push counts one push by how it was answered, and how long it took.
	Push(outcome string, took time.Duration)
	// Swept counts pushes the sweeper or the spool replayer handled.
	Swept(source string, n int)
	// Sent counts one outbox send attempt by channel and result: "sent",
	// or the WeChat error kind (wxapi.Kind's names).
	Sent(channel, result string)
}

// How a push was answered, for Meter.Push.
const (
	OutcomeAnswered = "answered" // a passive reply
	OutcomeSuccess  = "success"  // nothing to say, or the reply follows by customer-service message
	OutcomeLate     = "late"     // not ready by the deadline; the reply follows
	OutcomeRetry    = "retry"    // WeChat's retry of a push kept before
	OutcomeSpooled  = "spooled"  // PostgreSQL away: kept on disk
	OutcomeRefused  = "refused"  // a bad request, 4xx
	OutcomeFailed   = "failed"   // neither kept nor spooled: 503, WeChat retries
)

// PipelineConfig holds the pipeline's timings.
type PipelineConfig struct {
	// KeepReserve is how much of the time before the answer deadline is
	// left for spooling and answering when PostgreSQL is slow to keep a
	// push.
	KeepReserve time.Duration
	// HandleTimeout bounds handling that goes on after the HTTP answer.
	HandleTimeout time.Duration
	// SweepGrace is how long a kept push may stay unhandled before the
	// sweeper takes it: longer than any handling still under way.
	SweepGrace time.Duration
	// SweepBatch is how many unhandled pushes one sweep takes.
	SweepBatch int
}

// Defaults for PipelineConfig.
const (
	DefaultKeepReserve   = time.Second
	DefaultHandleTimeout = 30 * time.Second
	DefaultSweepGrace    = time.Minute
	DefaultSweepBatch    = 200
)

// Pipeline takes each push from the webhook to its answer: keep it
// (PostgreSQL, else the disk spool), handle it once, in the member's order,
// and say what the HTTP answer is. The sweeper and the spool replayer
// finish what a crash or an outage left.
type Pipeline struct {
	cfg    PipelineConfig
	inbox  Inbox
	spool  Spool
	router Responder
	meter  Meter
	log    *slog.Logger
	// wake tells the outbox sender that rows may be due; nil is fine.
	wake func()

	arrivals memberLocks    // one Keep at a time per member
	members  memberLocks    // one handling at a time per member
	late     sync.WaitGroup // handling still running after its request was answered
	// spooling keeps an outage to one log line every 10 s.
	spooling LogLimiter
}

// Responder decides the reply to a push; *Router is one.
type Responder interface {
	Route(ctx context.Context, msg Inbound, member Member, cases Cases) (Reply, Understanding, error)
}

// NewPipeline wires a pipeline. wake may be nil.
func NewPipeline(cfg PipelineConfig, inbox Inbox, spool Spool, router Responder, meter Meter, wake func(), log *slog.Logger) *Pipeline {
	if cfg.KeepReserve == 0 {
		cfg.KeepReserve = DefaultKeepReserve
	}
	if cfg.HandleTimeout == 0 {
		cfg.HandleTimeout = DefaultHandleTimeout
	}
	if cfg.SweepGrace == 0 {
		cfg.SweepGrace = DefaultSweepGrace
	}
	if cfg.SweepBatch == 0 {
		cfg.SweepBatch = DefaultSweepBatch
	}
	if wake == nil {
		wake = func() {}
	}
	return &Pipeline{
		cfg: cfg, inbox: inbox, spool: spool, router: router, meter: meter, wake: wake, log: log,
		arrivals: memberLocks{held: map[string]*memberLock{}},
		members:  memberLocks{held: map[string]*memberLock{}},
		spooling: LogLimiter{Every: 10 * time.Second},
	}
}

// Answer is what the webhook sends back for a push. Settle must be called
// once the HTTP answer was written (delivered) or could not be.
type Answer struct {
	Text    string // "" means answer "success"
	Outcome string // for the metrics
	settle  func(delivered bool)
}

// Settle records whether the passive answer was written: if not, the reply
// goes by customer-service message at once.
func (a Answer) Settle(delivered bool) {
	if a.settle != nil {
		a.settle(delivered)
	}
}

// Accept keeps a push and works out its HTTP answer before deadline. An
// error means the push could be neither kept nor spooled: WeChat must get
// a 5xx and retry. An error wrapping ErrRejected means the database refused
// this push: WeChat gets a 4xx.
func (p *Pipeline) Accept(ctx context.Context, in Inbound, deadline time.Time) (Answer, error) {
	reserve := max(0, min(p.cfg.KeepReserve, time.Until(deadline)/4))
	keepCtx, cancel := context.WithDeadline(ctx, deadline.Add(-reserve))
	fresh, err := p.keep(keepCtx, in)
	cancel()
	if errors.Is(err, ErrRejected) {
		return Answer{}, err
	}
	if err != nil {
		// PostgreSQL is away or too slow: the disk keeps the push, and the
		// replayer handles it when PostgreSQL is back (the reply then goes
		// by customer-service message).
		if serr := p.spool.Append(in); serr != nil {
			return Answer{}, errors.Join(err, serr)
		}
		if ok, held := p.spooling.Allow(time.Now()); ok {
			p.log.Warn("pushes going to the disk spool: PostgreSQL cannot take them", "dedupe_key", in.DedupeKey,
				"error", err, "also_since_last", held)
		}
		return Answer{Outcome: OutcomeSpooled}, nil
	}
	if in.IsJobReport() {
		return Answer{Outcome: outcomeOf(fresh, "")}, nil
	}
	return p.handleInTime(in, fresh, deadline), nil
}

// keep stores a push. One member's pushes are kept one after another, in
// the order they arrived, so none is handled before an earlier one of the
// same member is kept (two pushes arriving together could otherwise land in
// two batches and commit the wrong way round).
func (p *Pipeline) keep(ctx context.Context, in Inbound) (bool, error) {
	if in.IsJobReport() {
		return p.inbox.KeepJob(ctx, in)
	}
	unlock, err := p.arrivals.lock(ctx, in.OpenID)
	if err != nil {
		return false, err
	}
	defer unlock()
	return p.inbox.Keep(ctx, in)
}

func outcomeOf(fresh bool, reply string) string {
	switch {
	case !fresh:
		return OutcomeRetry
	case reply != "":
		return OutcomeAnswered
	}
	return OutcomeSuccess
}

// Phases of a handling racing the answer deadline.
const (
	phaseWorking int32 = iota
	phaseAnswering
	phaseLate
)

// handleInTime handles a kept push and returns its answer if ready by the
// deadline. Otherwise the handling goes on, and a reply it produces is
// released to customer service as soon as it is written.
func (p *Pipeline) handleInTime(in Inbound, fresh bool, deadline time.Time) Answer {
	var phase atomic.Int32
	done := make(chan Outcome, 1)
	p.late.Add(1)
	go func() {
		defer p.late.Done()
		// Detached from the request: WeChat hanging up must not stop work
		// that has to finish either way.
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.HandleTimeout)
		defer cancel()
		out, err := p.handle(ctx, in.OpenID, in.DedupeKey, true)
		if err != nil {
			// Kept but not handled: the sweeper will take it.
			p.log.Error("push kept but not handled; the sweeper will retry", "dedupe_key", in.DedupeKey, "error", err)
		}
		if phase.CompareAndSwap(phaseWorking, phaseAnswering) {
			done <- out
			return
		}
		// Only the handling that produced the answer gives it up; an earlier
		// request for the same push may have delivered it.
		if out.Reply != "" && out.Now {
			p.unanswered(in.DedupeKey)
		}
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var out Outcome
	select {
	case out = <-done:
	case <-timer.C:
		if phase.CompareAndSwap(phaseWorking, phaseLate) {
			return Answer{Outcome: OutcomeLate}
		}
		out = <-done // ready at the same moment
	}
	a := Answer{Text: out.Reply, Outcome: outcomeOf(fresh, out.Reply)}
	if out.Reply != "" && out.Now {
		a.settle = func(delivered bool) {
			if !delivered {
				p.unanswered(in.DedupeKey)
			}
		}
	}
	return a
}

// unanswered sends a passive reply that was not written by customer-service
// message instead.
func (p *Pipeline) unanswered(dedupeKey string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.inbox.Unanswered(ctx, dedupeKey); err != nil {
		// WeChat's retry of the push still gets the answer.
		p.log.Warn("unwritten answer not passed to customer service", "dedupe_key", dedupeKey, "error", err)
		return
	}
	p.wake()
}

// handle handles a member's kept pushes up to dedupeKey, one handling per
// member at a time in this process (PostgreSQL's row locks order them
// across processes).
func (p *Pipeline) handle(ctx context.Context, openID, dedupeKey string, passive bool) (Outcome, error) {
	unlock, err := p.members.lock(ctx, openID)
	if err != nil {
		return Outcome{}, err
	}
	defer unlock()
	out, err := p.inbox.Handle(ctx, openID, dedupeKey, passive, p.route)
	if err == nil && out.Now {
		p.wake()
	}
	return out, err
}

// route is the Route Handle calls: the router, with its failures logged.
func (p *Pipeline) route(ctx context.Context, msg Inbound, member Member, cases Cases) (Reply, Understanding) {
	reply, u, err := p.router.Route(ctx, msg, member, cases)
	if err != nil {
		p.log.Error("routing failed", "dedupe_key", msg.DedupeKey, "error", err)
	}
	return reply, u
}

// Wait blocks until handling that outlived its request has finished, or ctx
// ends.
func (p *Pipeline) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.late.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("handling still running at shutdown")
	}
}

// Sweep handles pushes kept more than the grace period ago and still not
// handled (a crash, a kill, a database that failed mid-way), replying by
// customer-service message. It returns how many it handled.
func (p *Pipeline) Sweep(ctx context.Context) (int, error) {
	pushes, err := p.inbox.Unhandled(ctx, time.Now().Add(-p.cfg.SweepGrace), p.cfg.SweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range pushes {
		out, err := p.handle(ctx, k.OpenID, k.DedupeKey, false)
		if err != nil {
			return n, err
		}
		if out.Now {
			n++
		}
	}
	if n > 0 {
		p.meter.Swept("sweeper", n)
		p.log.Warn("sweeper handled pushes left unhandled", "count", n)
	}
	return n, nil
}

// ReplaySpool moves spooled pushes into PostgreSQL and handles them,
// replying by customer-service message. Retries of pushes kept meanwhile
// are recognised as such.
func (p *Pipeline) ReplaySpool(ctx context.Context) (int, error) {
	n, err := p.spool.Replay(ctx, func(ctx context.Context, in Inbound) error {
		if _, err := p.keep(ctx, in); err != nil {
			if errors.Is(err, ErrRejected) {
				// It can never be kept; replaying it forever would block
				// the spool behind it.
				p.log.Error("spooled push rejected by the database; dropped", "dedupe_key", in.DedupeKey, "error", err)
				return nil
			}
			return err
		}
		if in.IsJobReport() {
			return nil
		}
		// Kept: from here the sweeper covers a failed handling.
		if _, err := p.handle(ctx, in.OpenID, in.DedupeKey, false); err != nil {
			p.log.Warn("replayed push not handled yet; the sweeper will", "dedupe_key", in.DedupeKey, "error", err)
		}
		return nil
	})
	if n > 0 {
		p.meter.Swept("spool", n)
		p.log.Info("spooled pushes replayed", "count", n)
	}
	return n, err
}

// memberLocks lets one goroutine at a time handle a member's pushes.
type memberLocks struct {
	mu   sync.Mutex
	held map[string]*memberLock
}

type memberLock struct {
	turn  chan struct{} // holds a token while the member is free
	users int           // goroutines holding or waiting
}

func (l *memberLocks) lock(ctx context.Context, openID string) (unlock func(), err error) {
	l.mu.Lock()
	m, ok := l.held[openID]
	if !ok {
		m = &memberLock{turn: make(chan struct{}, 1)}
		m.turn <- struct{}{}
		l.held[openID] = m
	}
	m.users++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if m.users--; m.users == 0 {
			delete(l.held, openID)
		}
		l.mu.Unlock()
	}
	select {
	case <-m.turn:
		return func() { m.turn <- struct{}{}; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
