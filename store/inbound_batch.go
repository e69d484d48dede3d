package store

import (
	"context"
	"errors"
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
type InboundBatcher struct {
	st    *Store
	queue chan *inboundCall
	done  sync.WaitGroup
	once  sync.Once
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
)

// NewInboundBatcher starts the writers; Close stops them.
func (s *Store) NewInboundBatcher() *InboundBatcher {
	b := &InboundBatcher{st: s, queue: make(chan *inboundCall, inboundBatch*inboundWriters)}
	for range inboundWriters {
		b.done.Add(1)
		go b.write()
	}
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
		// The batch may still commit; WeChat's retry then finds the push
		// stored and it has no second effect.
		return bot.Member{}, false, ctx.Err()
	}
}

// RecordJob stores a job report; these are rare and are not batched.
func (b *InboundBatcher) RecordJob(ctx context.Context, in bot.Inbound) (bool, error) {
	return b.st.RecordJob(ctx, in)
}

// writeBatch writes one batch, once more if PostgreSQL broke a deadlock by
// cancelling it: the second try finds the other batch committed.
func (b *InboundBatcher) writeBatch(ins []bot.Inbound) ([]inboundResult, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), inboundTimeout)
		res, err := b.st.recordInbounds(ctx, ins)
		cancel()
		var pqErr *pq.Error
		if attempt == 0 && errors.As(err, &pqErr) && pqErr.Code == deadlockDetected {
			continue
		}
		return res, err
	}
}

// deadlockDetected is PostgreSQL's SQLSTATE for a transaction it cancelled
// to break a deadlock.
const deadlockDetected = "40P01"

// Close stops the writers once the queued pushes are written.
func (b *InboundBatcher) Close() {
	b.once.Do(func() { close(b.queue) })
	b.done.Wait()
}

func (b *InboundBatcher) write() {
	defer b.done.Done()
	var carry []*inboundCall // pushes from a member already in the last batch
	for {
		var batch []*inboundCall
		members := map[string]bool{}
		add := func(c *inboundCall) {
			if c.ctx.Err() != nil {
				c.result <- inboundOutcome{err: c.ctx.Err()}
				return
			}
			if members[c.in.OpenID] {
				carry = append(carry, c)
				return
			}
			members[c.in.OpenID] = true
			batch = append(batch, c)
		}
		waiting := carry
		carry = nil
		for _, c := range waiting {
			add(c)
		}
		if len(batch) == 0 && len(carry) == 0 {
			c, ok := <-b.queue
			if !ok {
				return
			}
			add(c)
		}
		drainInto(b.queue, inboundBatch-len(batch), add)
		if len(batch) == 0 {
			continue
		}
		// Batches written at the same time lock member rows and dedupe keys
		// in one order, openid order, so they wait for each other instead of
		// deadlocking.
		sort.Slice(batch, func(i, j int) bool { return batch[i].in.OpenID < batch[j].in.OpenID })
		ins := make([]bot.Inbound, len(batch))
		for k, c := range batch {
			ins[k] = c.in
		}
		res, err := b.writeBatch(ins)
		for k, c := range batch {
			if err != nil {
				c.result <- inboundOutcome{err: err}
			} else {
				c.result <- inboundOutcome{inboundResult: res[k]}
			}
		}
	}
}
