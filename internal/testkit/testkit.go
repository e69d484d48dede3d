// Package testkit builds the real parts tests need: the demo knowledge base
// and its understanding index, and the store over PostgreSQL and Redis, each
// test with its own schema and key prefix.
package testkit

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// DemoKBPath is kb/demo.yaml, found from this file so any package's tests
// can use it.
func DemoKBPath(tb testing.TB) string {
	tb.Helper()
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testkit: cannot locate itself")
	}
	return filepath.Join(filepath.Dir(here), "..", "..", "kb", "demo.yaml")
}

// DemoKnowledge is kb/demo.yaml, validated as `nuanjia import` validates it.
func DemoKnowledge(tb testing.TB) bot.Knowledge {
	tb.Helper()
	raw, err := os.ReadFile(DemoKBPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := nlu.ParseKnowledge(raw)
	if err == nil {
		err = nlu.Validate(kb)
	}
	if err != nil {
		tb.Fatalf("kb/demo.yaml: %v", err)
	}
	return kb
}

// normalizer is shared by every test in a binary: it is immutable once
// built, and building its OpenCC tables takes seconds under -race. Test
// code only; the serving process builds its own and passes it down.
var normalizer = sync.OnceValues(nlu.NewNormalizer)

// Index is the understanding index over the demo knowledge base.
func Index(tb testing.TB) *nlu.Index {
	tb.Helper()
	n, err := normalizer()
	if err != nil {
		tb.Fatal(err)
	}
	ix, err := nlu.New(n, DemoKnowledge(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return ix
}

// Store is a migrated store in a PostgreSQL schema of the test's own.
func Store(tb testing.TB) *store.Store {
	tb.Helper()
	return StoreAt(tb, pgtest.URL(tb))
}

// StoreAt is a migrated store with a connection pool of its own on the
// database url names: a second process on a test's schema.
func StoreAt(tb testing.TB, url string) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return st
}

// Redis is the store's Redis side under a key prefix of the test's own,
// removed when the test ends.
func Redis(tb testing.TB) *store.Redis {
	tb.Helper()
	_, prefix := wxtest.Redis(tb) // skips, or fails under CI=true, when Redis is absent
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	rd, err := store.OpenRedis(context.Background(), url, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rd.Close() })
	return rd
}
