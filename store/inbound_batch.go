package store

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/lib/pq"

	"nuanjia/bot"
)

// InboundBatcher records pushes for the webhook. Pushes that arrive while
// a write is under way are written together, in one statement and one
// commit, so under load each costs PostgreSQL a fraction of a round trip;
// alone, a push is written at once. Every caller still waits for its own
// push to be committed before WeChat is answered.
//
// Pushes from members already stored that change nothing about them go
// through a cheaper statement that does not write the member rows; those
// members' last-seen times are written a moment later, in bulk.
type InboundBatcher struct {
	st      *Store
	log     *slog.Logger
	queue   chan *inboundCall
	handles chan *handleCall
	touches chan touch
	stop    chan struct{}
	done    sync.WaitGroup // batch writers
	handled sync.WaitGroup // handling writers
	touched sync.WaitGroup // the touch writer
	once    sync.Once
}

type inboundCall struct {
	ctx    context.Context
	in     bot.Inbound
	result chan inboundOutcome
}

type inboundOutcome struct {
	inboundResult
	err error
}

const (
	// inboundBatch caps a batch; beyond a few dozen rows the statement's
	// own work dominates and waiting callers gain nothing.
	inboundBatch = 64
	// inboundWriters write batches in parallel, enough to keep two cores'
	// worth of PostgreSQL busy while one batch waits on its commit.
	inboundWriters = 4
	// inboundTimeout bounds one batch's statement.
	inboundTimeout = 5 * time.Second
	// touchEvery is how often last-seen times are written: a member's
	// stored times lag their pushes by at most about this much.
	touchEvery = 200 * time.Millisecond
	// deadlockDetected is PostgreSQL's SQLSTATE for a transaction it
	// cancelled to break a deadlock.
	deadlockDetected = "40P01"
)

// NewInboundBatcher starts the writers; Close stops them.
func (s *Store) NewInboundBatcher(log *slog.Logger) *InboundBatcher {
	b := &InboundBatcher{
		st: s, log: log,
		queue:   make(chan *inboundCall, inboundBatch*inboundWriters),
		handles: make(chan *handleCall, handleBatch*handleWriters),
		touches: make(chan touch, inboundBatch*inboundWriters),
		stop:    make(chan struct{}),
	}
	for range inboundWriters {
		b.done.Add(1)
		go b.write()
	}
	for range handleWriters {
		b.handled.Add(1)
		go b.handleWriter()
	}
	b.touched.Add(1)
	go b.touch()
	return b
}

// RecordInbound stores a push as Store.RecordInbound does, batched with
// others in flight.
func (b *InboundBatcher) RecordInbound(ctx context.Context, in bot.Inbound) (bot.Member, bool, error) {
	call := &inboundCall{ctx: ctx, in: in, result: make(chan inboundOutcome, 1)}
	select {
	case b.queue <- call:
	case <-ctx.Done():
		return bot.Member{}, false, ctx.Err()
	}
	select {
	case r := <-call.result:
		return r.member, r.fresh, r.err
	case <-ctx.Done():
		// The batch may still commit; the push is then kept, and its spooled
		// copy or WeChat's retry is recognised as a retry.
		return bot.Member{}, false, ctx.Err()
	}
}

// Keep stores a push, batched with others in flight (bot.Inbox).
func (b *InboundBatcher) Keep(ctx context.Context, in bot.Inbound) (bool, error) {
	_, fresh, err := b.RecordInbound(ctx, in)
	return fresh, err
}

// KeepJob stores a job report; these are rare and are not batched.
func (b *InboundBatcher) KeepJob(ctx context.Context, in bot.Inbound) (bool, error) {
	return b.st.RecordJob(ctx, in)
}

// Close stops the writers once the queued pushes and handlings, and the
// last-seen times they move, are written. The webhook and the pipeline must
// have stopped calling.
func (b *InboundBatcher) Close() {
	b.once.Do(func() {
		close(b.queue)
		close(b.handles)
		b.done.Wait()
		b.handled.Wait()
		close(b.stop)
	})
	b.done.Wait()
	b.handled.Wait()
	b.touched.Wait()
}

// memberCall is a call waiting in one of the batchers' queues.
type memberCall interface {
	member() string
	// expired hands the caller its context's error if it has given up.
	expired() bool
}

func (c *inboundCall) member() string { return c.in.OpenID }

func (c *inboundCall) expired() bool {
	if err := c.ctx.Err(); err != nil {
		c.result <- inboundOutcome{err: err}
		return true
	}
	return false
}

// batches takes calls off queue in batches of at most max with one call per
// member — a member's later call waits for the next batch, so it is written
// after the earlier one — sorted by openid, and runs each batch, until the
// queue is closed and empty. Batches written at the same time lock member
// rows in one order, openid order, so they wait for each other instead of
// deadlocking.
func batches[C memberCall](queue <-chan C, max int, run func([]C)) {
	var carry []C // calls of a member already in the last batch
	for {
		var batch []C
		members := map[string]bool{}
		add := func(c C) {
			if c.expired() {
				return
			}
			if members[c.member()] {
				carry = append(carry, c)
				return
			}
			members[c.member()] = true
			batch = append(batch, c)
		}
		waiting := carry
		carry = nil
		for _, c := range waiting {
			add(c)
		}
		if len(batch) == 0 && len(carry) == 0 {
			c, ok := <-queue
			if !ok {
				return
			}
			add(c)
		}
		drainInto(queue, max-len(batch), add)
		if len(batch) == 0 {
			continue
		}
		sort.Slice(batch, func(i, j int) bool { return batch[i].member() < batch[j].member() })
		run(batch)
	}
}

// write takes batches of pushes off the queue and hands each caller its
// result.
func (b *InboundBatcher) write() {
	defer b.done.Done()
	batches(b.queue, inboundBatch, func(batch []*inboundCall) {
		ins := make([]bot.Inbound, len(batch))
		for k, c := range batch {
			ins[k] = c.in
		}
		res, known, err := b.writeBatch(ins)
		if err != nil && len(ins) > 1 && errors.Is(rejected(err), bot.ErrRejected) {
			// One push PostgreSQL refuses must not fail the others: write
			// each alone, so only the bad one is refused.
			b.writeAlone(batch)
			return
		}
		for k, c := range batch {
			if err != nil {
				b.deliver(c, inboundResult{}, false, err)
			} else {
				b.deliver(c, res[k], known[k], nil)
			}
		}
	})
}

// writeAlone stores each push of a failed batch on its own.
func (b *InboundBatcher) writeAlone(batch []*inboundCall) {
	for _, c := range batch {
		res, known, err := b.writeBatch([]bot.Inbound{c.in})
		if err != nil {
			b.deliver(c, inboundResult{}, false, err)
		} else {
			b.deliver(c, res[0], known[0], nil)
		}
	}
}

// deliver hands a caller its push's result, and queues the last-seen times
// a fresh push of a known member moves.
func (b *InboundBatcher) deliver(c *inboundCall, r inboundResult, known bool, err error) {
	if err != nil {
		c.result <- inboundOutcome{err: rejected(err)}
		return
	}
	c.result <- inboundOutcome{inboundResult: r}
	if known && r.fresh {
		b.touches <- touchOf(c.in)
	}
}

// writeBatch stores a batch: pushes that leave their known member as it
// was through the cheap statement, the rest through the full one. known
// marks the pushes whose member times are still to be touched.
func (b *InboundBatcher) writeBatch(ins []bot.Inbound) (res []inboundResult, known []bool, err error) {
	res, known = make([]inboundResult, len(ins)), make([]bool, len(ins))
	var plain []bot.Inbound
	for _, in := range ins {
		if !changesMember(in) {
			plain = append(plain, in)
		}
	}
	stored := map[string]inboundResult{}
	if len(plain) > 0 {
		err = retryDeadlock(inboundTimeout, func(ctx context.Context) (err error) {
			stored, err = b.st.recordKnownMembers(ctx, plain)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
	}
	var rest []bot.Inbound
	var restAt []int
	for k, in := range ins {
		if r, ok := stored[in.DedupeKey]; ok {
			res[k], known[k] = r, true
			continue
		}
		rest, restAt = append(rest, in), append(restAt, k)
	}
	if len(rest) == 0 {
		return res, known, nil
	}
	var full []inboundResult
	err = retryDeadlock(inboundTimeout, func(ctx context.Context) (err error) {
		full, err = b.st.recordInbounds(ctx, rest)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for j, k := range restAt {
		res[k] = full[j]
	}
	return res, known, nil
}

// retryDeadlock runs a statement, once more if PostgreSQL cancelled it to
// break a deadlock: the second try finds the other transaction committed.
func retryDeadlock(timeout time.Duration, run func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := run(ctx)
		cancel()
		var pqErr *pq.Error
		if attempt == 0 && errors.As(err, &pqErr) && pqErr.Code == deadlockDetected {
			continue
		}
		return err
	}
}

// touch collects last-seen times, the latest per member, and writes them
// every touchEvery, and once more when the batcher closes.
func (b *InboundBatcher) touch() {
	defer b.touched.Done()
	pending := map[string]touch{}
	add := func(t touch) {
		if old, seen := pending[t.openID]; seen {
			t = old.later(t)
		}
		pending[t.openID] = t
	}
	flush := func() {
		if len(pending) == 0 {
			return
		}
		batch := make([]touch, 0, len(pending))
		for _, t := range pending {
			batch = append(batch, t)
		}
		clear(pending)
		// Member rows are locked in openid order, as the batches do.
		sort.Slice(batch, func(i, j int) bool { return batch[i].openID < batch[j].openID })
		if err := retryDeadlock(inboundTimeout, func(ctx context.Context) error { return b.st.touchMembers(ctx, batch) }); err != nil {
			b.log.Warn("last-seen times not written", "members", len(batch), "error", err)
		}
	}
	tick := time.NewTicker(touchEvery)
	defer tick.Stop()
	for {
		select {
		case t := <-b.touches:
			add(t)
		case <-tick.C:
			flush()
		case <-b.stop:
			drainInto(b.touches, cap(b.touches), add)
			flush()
			return
		}
	}
}

// drainInto hands add what is waiting in queue, up to max items, without
// blocking: the batch is whatever arrived while the last write was going on.
func drainInto[T any](queue <-chan T, max int, add func(T)) {
	for range max {
		select {
		case v, ok := <-queue:
			if !ok {
				return
			}
			add(v)
		default:
			return
		}
	}
}
