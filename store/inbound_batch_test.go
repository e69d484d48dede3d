package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nuanjia/bot"
)

// Many pushes at once, several from the same member and some delivered
// twice, as WeChat's retries are: each push is stored once, each member once,
// and exactly one delivery of each push is told it is fresh.
func TestInboundBatcherStoresEachPushOnce(t *testing.T) {
	s := newStore(t)
	b := s.NewInboundBatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	const pushes, members = 120, 10
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for copy := range 2 {
		for i := range pushes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := textPush(fmt.Sprintf("o-%d", i%members), int64(9000+i), "你好", t0.Add(time.Duration(i)*time.Second))
				m, ok, err := b.RecordInbound(context.Background(), in)
				if err != nil {
					t.Errorf("push %d copy %d: %v", i, copy, err)
					return
				}
				if m.OpenID != in.OpenID {
					t.Errorf("push %d came back with member %q", i, m.OpenID)
				}
				if ok {
					fresh.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	b.Close() // writes the last-seen times still pending
	if got := fresh.Load(); got != pushes {
		t.Errorf("%d deliveries were fresh, want %d (one per push)", got, pushes)
	}
	if n := countRows(t, s, "messages", "direction = 'in'"); n != pushes {
		t.Errorf("stored %d pushes, want %d", n, pushes)
	}
	if n := countRows(t, s, "members", "true"); n != members {
		t.Errorf("stored %d members, want %d", n, members)
	}
}

// A member's stored times follow their latest push, whichever statement
// stored it: the first push creates the member, later ones leave the row
// alone and move the times on in bulk.
func TestInboundBatcherKeepsLastSeenTimes(t *testing.T) {
	s := newStore(t)
	b := s.NewInboundBatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Hour)
		if _, fresh, err := b.RecordInbound(ctx, textPush("o-wu", int64(7000+i), "你好", at)); err != nil || !fresh {
			t.Fatalf("push %d: fresh %v, %v", i, fresh, err)
		}
	}
	click := eventPush("o-wu", bot.EventClick, "contact", t0.Add(5*time.Hour))
	m, fresh, err := b.RecordInbound(ctx, click)
	if err != nil || !fresh {
		t.Fatalf("menu click: fresh %v, %v", fresh, err)
	}
	// The push being answered always counts in the member handed on.
	if !m.LastSeen.Equal(t0.Add(5 * time.Hour)) {
		t.Errorf("member handed to the router was last seen %v, want %v", m.LastSeen, t0.Add(5*time.Hour))
	}
	b.Close()
	stored := member(t, s, "o-wu")
	if !stored.FirstSeen.Equal(t0) || !stored.LastSeen.Equal(t0.Add(5*time.Hour)) ||
		stored.LastInboundAt == nil || !stored.LastInboundAt.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("stored member = first %v, last %v, inbound %v; want %v, %v, %v (a menu click opens no 48-hour window)",
			stored.FirstSeen, stored.LastSeen, stored.LastInboundAt, t0, t0.Add(5*time.Hour), t0.Add(4*time.Hour))
	}
	if n := countRows(t, s, "messages", "openid = 'o-wu' AND direction = 'in'"); n != 6 {
		t.Errorf("stored %d pushes, want 6", n)
	}
}

// One push PostgreSQL refuses (here a NUL byte, which a text column cannot
// hold) among many valid ones arriving together: only that push is
// refused, and every other is kept.
func TestInboundBatcherRefusesABadPushAlone(t *testing.T) {
	s := newStore(t)
	b := s.NewInboundBatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer b.Close()
	const pushes = 60
	bad := textPush("o-bad", 99999, "坏\x00消息", t0)
	var wg sync.WaitGroup
	var kept atomic.Int64
	for i := range pushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh, err := b.Keep(context.Background(), textPush(fmt.Sprintf("o-good-%d", i), int64(7000+i), "你好", t0))
			if err != nil || !fresh {
				t.Errorf("valid push %d: fresh %v, %v", i, fresh, err)
				return
			}
			kept.Add(1)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := b.Keep(context.Background(), bad)
		if !errors.Is(err, bot.ErrRejected) {
			t.Errorf("bad push: %v, want ErrRejected", err)
		}
		if err != nil && strings.Contains(err.Error(), "坏") {
			t.Errorf("the refusal quotes the member's words: %v", err)
		}
	}()
	wg.Wait()
	if n := countRows(t, s, "messages", "true"); n != pushes || kept.Load() != pushes {
		t.Errorf("kept %d pushes (%d said fresh), want all %d valid ones", n, kept.Load(), pushes)
	}
}
