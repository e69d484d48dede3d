package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis/v8"

	"nuanjia/internal/wxtest"
)

func TestRedisTokensCacheAndInvalidate(t *testing.T) {
	rdb, prefix := wxtest.Redis(t)
	ctx := context.Background()
	tc := NewRedisTokens(rdb, prefix)

	if tok, err := tc.Token(ctx, "wxA"); err != nil || tok != "" {
		t.Fatalf("cold Token = %q, %v; want empty, nil", tok, err)
	}
	if err := tc.StoreToken(ctx, "wxA", "T1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if tok, _ := tc.Token(ctx, "wxA"); tok != "T1" {
		t.Fatalf("Token = %q, want T1", tok)
	}
	if ttl := rdb.TTL(ctx, prefix+"wx:token:wxA").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("token TTL = %v", ttl)
	}
	if tok, _ := tc.Token(ctx, "wxB"); tok != "" {
		t.Errorf("another appid sees %q", tok)
	}

	// Invalidating a stale token must not remove the newer one.
	if err := tc.InvalidateToken(ctx, "wxA", "T0"); err != nil {
		t.Fatal(err)
	}
	if tok, _ := tc.Token(ctx, "wxA"); tok != "T1" {
		t.Fatalf("stale invalidate removed the current token: %q", tok)
	}
	if err := tc.InvalidateToken(ctx, "wxA", "T1"); err != nil {
		t.Fatal(err)
	}
	if tok, _ := tc.Token(ctx, "wxA"); tok != "" {
		t.Fatalf("token still cached after invalidate: %q", tok)
	}
	if err := tc.StoreToken(ctx, "wxA", "", time.Minute); err == nil {
		t.Error("StoreToken accepted an empty token")
	}
}

func TestRedisTokensLock(t *testing.T) {
	rdb, prefix := wxtest.Redis(t)
	ctx := context.Background()
	a := NewRedisTokens(rdb, prefix)
	b := NewRedisTokens(rdb, prefix) // a second process

	unlockA, ok, err := a.LockRefresh(ctx, "wxA", time.Second)
	if err != nil || !ok {
		t.Fatalf("first lock = %v, %v", ok, err)
	}
	if _, ok, err := b.LockRefresh(ctx, "wxA", time.Second); err != nil || ok {
		t.Fatalf("second lock while held = %v, %v", ok, err)
	}
	unlockA()
	unlockB, ok, err := b.LockRefresh(ctx, "wxA", 200*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("lock after unlock = %v, %v", ok, err)
	}

	// b's lock expires; a takes it; b's late unlock must not free a's lock.
	time.Sleep(300 * time.Millisecond)
	unlockA2, ok, err := a.LockRefresh(ctx, "wxA", time.Second)
	if err != nil || !ok {
		t.Fatalf("lock after TTL = %v, %v", ok, err)
	}
	unlockB()
	if _, ok, _ := b.LockRefresh(ctx, "wxA", time.Second); ok {
		t.Fatal("a stale unlock released someone else's lock")
	}
	unlockA2()
}

func TestRedisTokensLockIsExclusive(t *testing.T) {
	rdb, prefix := wxtest.Redis(t)
	ctx := context.Background()
	var winners atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, err := NewRedisTokens(rdb, prefix).LockRefresh(ctx, "wxA", 5*time.Second); err != nil {
				t.Error(err)
			} else if ok {
				winners.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := winners.Load(); n != 1 {
		t.Fatalf("%d goroutines got the lock, want 1", n)
	}
}

func TestRedisTokensRedisDown(t *testing.T) {
	// Nothing listens on port 1: errors must surface, not read as a cache
	// miss (which would make every call fetch a token, as the SDK does).
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	down := NewRedisTokens(rdb, "test:down:")
	ctx := context.Background()
	if _, err := down.Token(ctx, "wxA"); err == nil {
		t.Error("Token on a dead Redis returned no error")
	}
	if _, _, err := down.LockRefresh(ctx, "wxA", time.Second); err == nil {
		t.Error("LockRefresh on a dead Redis returned no error")
	}
}
