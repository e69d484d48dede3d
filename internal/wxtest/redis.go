package wxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/go-redis/redis/v8"
)

// Redis connects a test to the real Redis the bot runs against: REDIS_URL
// if set, else 127.0.0.1:6379. When Redis is unreachable the test is
// skipped on a developer machine but FAILS when CI=true, so CI can never
// pass by skipping. It returns the client and a key prefix unique to this
// test; every key under the prefix is deleted when the test ends.
func Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	opts := &redis.Options{Addr: "127.0.0.1:6379"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		var err error
		if opts, err = redis.ParseURL(u); err != nil {
			tb.Fatalf("REDIS_URL: %v", err)
		}
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis at %s unreachable with CI=true: %v", opts.Addr, err)
		}
		tb.Skipf("redis at %s unreachable (set CI=true to fail instead): %v", opts.Addr, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 200).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("cleaning up %s*: %v", prefix, err)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}
