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
	// A stuck Redis must not eat WeChat's 5 seconds.
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
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

// ClaimPush claims a push for processing. It sets two keys in one round
// trip: the request's (timestamp, nonce), which a replay repeats, and the
// push's dedupe key, which WeChat's retries repeat. replayed is true when
// the (timestamp, nonce) was seen within ttl; duplicate when the push was.
func (r *Redis) ClaimPush(ctx context.Context, timestamp, nonce, dedupeKey string, ttl time.Duration) (replayed, duplicate bool, err error) {
	pipe := r.rdb.Pipeline()
	nonceSet := pipe.SetNX(ctx, r.prefix+"nonce:"+timestamp+":"+nonce, 1, ttl)
	pushSet := pipe.SetNX(ctx, r.prefix+"push:"+dedupeKey, 1, ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, false, fmt.Errorf("claim push: %w", err)
	}
	replayed = !nonceSet.Val()
	duplicate = !pushSet.Val()
	if replayed && !duplicate {
		// A replayed (timestamp, nonce) carrying a new push is refused; free
		// the push key so a genuine delivery of it is not taken for a retry.
		r.rdb.Del(ctx, r.prefix+"push:"+dedupeKey)
	}
	return replayed, duplicate, nil
}

// ReleasePush undoes ClaimPush after a failure, so WeChat's retry of the
// same push is processed instead of being taken for a duplicate.
func (r *Redis) ReleasePush(ctx context.Context, timestamp, nonce, dedupeKey string) error {
	return r.rdb.Del(ctx, r.prefix+"nonce:"+timestamp+":"+nonce, r.prefix+"push:"+dedupeKey).Err()
}

// SetPendingChoice remembers the numbered question the bot asked a member,
// so a reply of "1"…"4" can be understood.
func (r *Redis) SetPendingChoice(ctx context.Context, openID string, p bot.PendingChoice, ttl time.Duration) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return r.rdb.Set(ctx, r.prefix+"choice:"+openID, b, ttl).Err()
}

// TakePendingChoice returns and forgets the member's pending question.
func (r *Redis) TakePendingChoice(ctx context.Context, openID string) (p bot.PendingChoice, found bool, err error) {
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
