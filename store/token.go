package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis/v8"
)

// compareAndDelete deletes KEYS[1] only while it still holds ARGV[1]. A
// plain GET-then-DEL would race: between the two another process may have
// stored a fresh token, or taken over an expired lock, and we would delete
// theirs.
const compareAndDelete = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// unlockTimeout bounds the unlock, which runs after the caller's work and
// so cannot use its (possibly spent) context. A lost unlock only delays the
// next refresher until the lock's TTL runs out.
const unlockTimeout = 2 * time.Second

// RedisTokens keeps the WeChat access token in Redis so every serve
// process shares one token and one refresher (wxapi.TokenCache). Keys are
// <prefix>wx:token:<appid> and <prefix>wx:token-lock:<appid>.
type RedisTokens struct {
	rdb    *redis.Client
	prefix string
	cad    *redis.Script
}

// NewRedisTokens returns a token cache over rdb with every key under prefix.
func NewRedisTokens(rdb *redis.Client, prefix string) *RedisTokens {
	return &RedisTokens{rdb: rdb, prefix: prefix, cad: redis.NewScript(compareAndDelete)}
}

func (t *RedisTokens) tokenKey(appID string) string { return t.prefix + "wx:token:" + appID }
func (t *RedisTokens) lockKey(appID string) string  { return t.prefix + "wx:token-lock:" + appID }

// Token returns the cached token, or "" and a nil error when there is none.
func (t *RedisTokens) Token(ctx context.Context, appID string) (string, error) {
	tok, err := t.rdb.Get(ctx, t.tokenKey(appID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read access token: %w", err)
	}
	return tok, nil
}

// LockRefresh tries to become the one process that fetches a new token.
// ok is false, with a nil error, when another process holds the lock. The
// lock expires by itself after ttl, so a process that dies while holding it
// blocks the others for at most ttl. unlock releases it only if it is still
// ours: after the TTL another process may own it.
func (t *RedisTokens) LockRefresh(ctx context.Context, appID string, ttl time.Duration) (unlock func(), ok bool, err error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("token lock: ttl %v must be positive", ttl)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, false, fmt.Errorf("token lock: %w", err)
	}
	owner := hex.EncodeToString(b)
	key := t.lockKey(appID)
	ok, err = t.rdb.SetNX(ctx, key, owner, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("token lock: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	unlock = func() {
		ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
		defer cancel()
		_ = t.cad.Run(ctx, t.rdb, []string{key}, owner).Err()
	}
	return unlock, true, nil
}

// StoreToken caches token for ttl.
func (t *RedisTokens) StoreToken(ctx context.Context, appID, token string, ttl time.Duration) error {
	if token == "" || ttl <= 0 {
		return fmt.Errorf("store access token: empty token or ttl %v", ttl)
	}
	if err := t.rdb.Set(ctx, t.tokenKey(appID), token, ttl).Err(); err != nil {
		return fmt.Errorf("store access token: %w", err)
	}
	return nil
}

// InvalidateToken drops the cached token if it is still token, the one
// WeChat just rejected. If another process has already stored a newer one,
// that one stays.
func (t *RedisTokens) InvalidateToken(ctx context.Context, appID, token string) error {
	if err := t.cad.Run(ctx, t.rdb, []string{t.tokenKey(appID)}, token).Err(); err != nil {
		return fmt.Errorf("invalidate access token: %w", err)
	}
	return nil
}
