// Package schema makes throwaway PostgreSQL schemas, for tests and for
// nuanjia bench, which must never touch real data.
package schema

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"

	_ "github.com/lib/pq" // the driver for the set-up connection
)

// Schema names are made here from random hex, never from input, so they
// are safe to splice into these statements.
const (
	sqlCreateSchema = `CREATE SCHEMA `
	sqlDropSchema   = `DROP SCHEMA %s CASCADE`
)

// Create creates an empty schema on the server baseURL names and returns
// a DATABASE_URL whose search_path points at it, and a func that drops it
// again.
func Create(ctx context.Context, baseURL, prefix string) (schemaURL string, drop func() error, err error) {
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
