package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis/v8"

	"nuanjia/bot"
)

// Redis is the Redis side of the store. Every key starts with the prefix, so
// tests (and a second deployment on the same server) stay apart.
type Redis struct {
	rdb    *redis.Client
	prefix string
}

// OpenRedis connects to Redis and checks that it answers.
func OpenRedis(ctx context.Context, redisURL, prefix string) (*Redis, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// A stuck Redis must not eat WeChat's 5 seconds. Callers bound each
	// call with a deadline of their own, and nothing is retried blindly:
	// go-redis's default of three retries re-runs a SET NX, which then
	// sees its own first attempt.
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = -1
	rdb := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return &Redis{rdb: rdb, prefix: prefix}, nil
}

// Client exposes the go-redis client, for the token cache and tests.
func (r *Redis) Client() *redis.Client { return r.rdb }

// Prefix is the key prefix this store writes under.
func (r *Redis) Prefix() string { return r.prefix }

// Close closes the connection pool.
func (r *Redis) Close() error { return r.rdb.Close() }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }

// CheckNonce records a request's (timestamp, nonce) with the push it
// carried, in one round trip. replayed is true when the pair was used
// before for a different push; the same push again is WeChat's retry (its
// docs do not say whether retries reuse the pair) and is let through. It
// decides nothing else: PostgreSQL's dedupe key tells retries apart.
func (r *Redis) CheckNonce(ctx context.Context, timestamp, nonce, dedupeKey string, ttl time.Duration) (replayed bool, err error) {
	key := r.prefix + "nonce:" + timestamp + ":" + nonce
	pipe := r.rdb.Pipeline()
	pipe.SetNX(ctx, key, dedupeKey, ttl)
	first := pipe.Get(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("check nonce: %w", err)
	}
	return first.Val() != dedupeKey, nil
}

// choiceTimeout bounds the numbered-question calls, made while a push is
// handled: a stalled Redis costs the member the question, not the answer.
const choiceTimeout = 300 * time.Millisecond

// SetPendingChoice remembers the numbered question the bot asked a member,
// so a reply of "1"…"4" can be understood.
func (r *Redis) SetPendingChoice(ctx context.Context, openID string, p bot.PendingChoice, ttl time.Duration) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, choiceTimeout)
	defer cancel()
	return r.rdb.Set(ctx, r.prefix+"choice:"+openID, b, ttl).Err()
}

// TakePendingChoice returns and forgets the member's pending question.
func (r *Redis) TakePendingChoice(ctx context.Context, openID string) (p bot.PendingChoice, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, choiceTimeout)
	defer cancel()
	b, err := r.rdb.GetDel(ctx, r.prefix+"choice:"+openID).Bytes()
	if errors.Is(err, redis.Nil) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("pending choice: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, false, fmt.Errorf("pending choice: %w", err)
	}
	return p, true, nil
}
