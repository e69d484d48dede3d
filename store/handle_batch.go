package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"nuanjia/bot"
)

// Handling is batched like keeping: the handlings of different members in
// flight share one transaction — one lock statement, one write, one commit
// — so under load a push costs PostgreSQL a fraction of a transaction.
const (
	// handleBatch caps the members handled in one transaction.
	handleBatch = 32
	// handleWriters run handling transactions in parallel.
	handleWriters = 4
	// handleTimeout bounds one handling transaction; it outlasts a table
	// locked for a few seconds, and routing's Redis calls (300 ms each).
	handleTimeout = 20 * time.Second
)

// handleCall is a handling waiting in the batcher's queue.
type handleCall struct {
	ctx    context.Context
	req    handleRequest
	taken  atomic.Bool // a writer took it off the queue
	result chan handleResult
}

type handleResult struct {
	out bot.Outcome
	err error
}

func (c *handleCall) member() string { return c.req.openID }

func (c *handleCall) expired() bool {
	c.taken.Store(true)
	if err := c.ctx.Err(); err != nil {
		c.result <- handleResult{err: err}
		return true
	}
	return false
}

// Handle handles as Store.Handle does, in a transaction shared with the
// handlings of other members in flight (bot.Inbox).
func (b *InboundBatcher) Handle(ctx context.Context, openID, dedupeKey string, passive bool, route bot.Route) (bot.Outcome, error) {
	call := &handleCall{ctx: ctx, result: make(chan handleResult, 1),
		req: handleRequest{openID: openID, dedupeKey: dedupeKey, passive: passive, route: route}}
	select {
	case b.handles <- call:
	case <-ctx.Done():
		return bot.Outcome{}, ctx.Err()
	}
	select {
	case r := <-call.result:
		return r.out, r.err
	case <-ctx.Done():
		if !call.taken.Load() {
			return bot.Outcome{}, ctx.Err() // the writer will see it expired
		}
	}
	// Once in a transaction, the outcome is waited for even past ctx: a
	// passive answer it commits must reach a caller, who gives it to
	// customer service if it is too late (the transaction is bounded by
	// handleTimeout).
	r := <-call.result
	return r.out, r.err
}

// handleWriter runs handling transactions until the queue is closed.
func (b *InboundBatcher) handleWriter() {
	defer b.handled.Done()
	batches(b.handles, handleBatch, func(batch []*handleCall) {
		outs, err := b.handleBatch(batch)
		if err != nil && len(batch) > 1 {
			// One member's trouble (a handler that panicked past the router's
			// guard, a row PostgreSQL refuses) must not fail the others.
			for _, c := range batch {
				outs, err := b.handleBatch([]*handleCall{c})
				c.result <- resultOf(outs, 0, err)
			}
			return
		}
		for i, c := range batch {
			c.result <- resultOf(outs, i, err)
		}
	})
}

func resultOf(outs []bot.Outcome, i int, err error) handleResult {
	if err != nil {
		return handleResult{err: err}
	}
	return handleResult{out: outs[i]}
}

// handleBatch runs one handling transaction, once more if PostgreSQL broke
// a deadlock. A panic in a route fails the batch instead of the process.
func (b *InboundBatcher) handleBatch(batch []*handleCall) (outs []bot.Outcome, err error) {
	reqs := make([]handleRequest, len(batch))
	for i, c := range batch {
		reqs[i] = c.req
	}
	defer func() {
		if p := recover(); p != nil {
			outs, err = nil, fmt.Errorf("handle pushes: panic: %v", p)
		}
	}()
	err = retryDeadlock(handleTimeout, func(ctx context.Context) (err error) {
		outs, err = b.st.handle(ctx, reqs)
		return err
	})
	return outs, err
}
