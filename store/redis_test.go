package store

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/internal/wxtest"
)

// newRedis opens the store's Redis side under a key prefix of this test's own.
func newRedis(t *testing.T) *Redis {
	t.Helper()
	_, prefix := wxtest.Redis(t) // skips or fails when Redis is absent, and cleans the prefix
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	r, err := OpenRedis(context.Background(), url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// The replay guard refuses a (timestamp, nonce) only when it comes back
// carrying another push: the same push again is WeChat's retry.
func TestCheckNonce(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	const ttl = time.Minute
	steps := []struct {
		name           string
		ts, nonce, key string
		wantReplayed   bool
	}{
		{"new push", "1700000000", "n1", "m:1", false},
		{"WeChat's retry with the same timestamp and nonce", "1700000000", "n1", "m:1", false},
		{"same timestamp and nonce carrying another push", "1700000000", "n1", "m:2", true},
		{"WeChat's retry with a new nonce", "1700000005", "n2", "m:1", false},
		{"the push a replay carried, delivered for real", "1700000006", "n3", "m:2", false},
	}
	for _, st := range steps {
		replayed, err := r.CheckNonce(ctx, st.ts, st.nonce, st.key, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if replayed != st.wantReplayed {
			t.Errorf("%s: replayed %v, want %v", st.name, replayed, st.wantReplayed)
		}
	}
	key := r.Prefix() + "nonce:1700000000:n1"
	if d := r.Client().TTL(ctx, key).Val(); d <= 0 || d > ttl {
		t.Errorf("TTL of %s = %v, want within (0, %v]", key, d, ttl)
	}
}

func TestPendingChoice(t *testing.T) {
	r := newRedis(t)
	ctx := context.Background()
	want := bot.PendingChoice{Text: "孩子", FAQs: []string{"left-behind-children", "child-schooling", "maternity-insurance"}}

	if _, found, err := r.TakePendingChoice(ctx, "o-a"); err != nil || found {
		t.Fatalf("Take with nothing pending = found %v, %v", found, err)
	}
	if err := r.SetPendingChoice(ctx, "o-a", want, bot.ChoiceTTL); err != nil {
		t.Fatal(err)
	}
	if d := r.Client().TTL(ctx, r.Prefix()+"choice:o-a").Val(); d <= 0 || d > bot.ChoiceTTL {
		t.Errorf("pending choice TTL = %v, want within (0, %v]", d, bot.ChoiceTTL)
	}
	// Another member's question is theirs alone.
	if _, found, _ := r.TakePendingChoice(ctx, "o-b"); found {
		t.Error("o-b sees o-a's question")
	}

	got, found, err := r.TakePendingChoice(ctx, "o-a")
	if err != nil || !found {
		t.Fatalf("Take = found %v, %v", found, err)
	}
	if got.Text != want.Text || !slices.Equal(got.FAQs, want.FAQs) || len(got.Choices) != 0 {
		t.Errorf("Take = %+v, want %+v", got, want)
	}
	// A question is answered once: a second number is a new message.
	if _, found, err := r.TakePendingChoice(ctx, "o-a"); err != nil || found {
		t.Errorf("second Take = found %v, %v; want nothing", found, err)
	}
}
