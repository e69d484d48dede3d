package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many pushes at once, several from the same member and some delivered
// twice, as WeChat's retries are: each push is stored once, each member once,
// and exactly one delivery of each push is told it is fresh.
func TestInboundBatcherStoresEachPushOnce(t *testing.T) {
	s := newStore(t)
	b := s.NewInboundBatcher()
	defer b.Close()
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
