// Package pgtest gives each test (and each benchmark run) its own
// PostgreSQL schema on the real server nuanjia runs against.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	_ "github.com/lib/pq" // the driver for the set-up connection
)

// DefaultURL is the server make test and CI provide when DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Schema names are made here from random hex, never from input, so they
// are safe to splice into these statements.
const (
	sqlCreateSchema = `CREATE SCHEMA `
	sqlDropSchema   = `DROP SCHEMA %s CASCADE`
)

// CreateSchema creates an empty schema on the server baseURL names and
// returns a DATABASE_URL whose search_path points at it, and a func that
// drops it again.
func CreateSchema(ctx context.Context, baseURL, prefix string) (schemaURL string, drop func() error, err error) {
	db, err := sql.Open("postgres", baseURL)
	if err != nil {
		return "", nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, sqlCreateSchema+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop = func() error {
		defer db.Close()
		_, err := db.Exec(fmt.Sprintf(sqlDropSchema, schema))
		return err
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// URL creates an empty schema for this test and returns a DATABASE_URL
// whose search_path points at it; the schema is dropped when the test ends.
// When PostgreSQL is unreachable the test is skipped on a developer machine
// and FAILS when CI=true, so CI never passes by skipping.
func URL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = DefaultURL
	}
	schemaURL, drop, err := CreateSchema(context.Background(), base, "t_")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("postgres unreachable with CI=true: %v", err)
		}
		tb.Skipf("postgres unreachable (set CI=true to fail instead): %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("drop test schema: %v", err)
		}
	})
	return schemaURL
}
