// Package store keeps nuanjia's data: members, messages and the knowledge
// base in PostgreSQL, and short-lived coordination (retry claims, replay
// guards, pending questions, the access token) in Redis.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	_ "github.com/lib/pq" // the PostgreSQL driver sqlx opens by name
	"nuanjia/bot"
)

// Store is the PostgreSQL side of the store.
type Store struct {
	db *sqlx.DB

	// Statements on the webhook's hot path, prepared once per connection:
	// lib/pq otherwise spends a round trip preparing every query that has
	// arguments.
	stmtMu sync.Mutex
	stmts  map[string]*sqlx.Stmt

	// phones masks phone numbers in what a member without consent sent.
	phones bot.PhoneMasker
}

// Open connects to PostgreSQL and checks that it answers.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	db, err := sqlx.Open("postgres", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// The push writers and the handling writers hold a connection each for
	// their statements (4 + 4), a handler may need a second one; the outbox
	// sender, the sweeper, the probes and the tools need the rest.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{db: db, stmts: map[string]*sqlx.Stmt{}, phones: bot.NewPhoneMasker()}, nil
}

// prepared returns query as a prepared statement, preparing it on first use
// (after migrations, when the tables it names exist).
func (s *Store) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// inTx returns query prepared (once per connection, as prepared does) for
// use inside tx.
func (s *Store) inTx(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtxContext(ctx, st), nil
}

// txGet and txSelect are tx.GetContext and tx.SelectContext through a
// prepared statement: the handling transaction runs on every push.
func (s *Store) txGet(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := s.inTx(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

func (s *Store) txSelect(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := s.inTx(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// Close closes the prepared statements and the connection pool.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmtMu.Unlock()
	return s.db.Close()
}

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// DB exposes the pool to tests and tools in this module.
func (s *Store) DB() *sqlx.DB { return s.db }

// Transact runs fn in a transaction: committed when fn returns nil, rolled
// back when it returns an error or panics. Private helpers take the *sqlx.Tx
// so a transaction is never nested by accident.
func (s *Store) Transact(ctx context.Context, fn func(*sqlx.Tx) error) (err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

const (
	sqlCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`
	// Several `serve --migrate` processes may start together; the advisory
	// lock makes the second wait and then find nothing left to do.
	sqlLockMigrations    = `SELECT pg_advisory_xact_lock(727374)`
	sqlAppliedMigrations = `SELECT version FROM schema_migrations`
	sqlRecordMigration   = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
)

// Migrate applies the embedded migrations that have not been applied yet,
// each file in its own transaction, in the order of their numbers. It
// returns the names of the files it applied.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	// CREATE TABLE IF NOT EXISTS is not safe against itself: two processes
	// creating the table at once fail on pg_type's unique index. The same
	// advisory lock as the migrations serialises them.
	err := s.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlLockMigrations); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlCreateMigrations)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var applied []string
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migration %s: name must start with a number", base)
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return applied, err
		}
		ran := false
		err = s.Transact(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, sqlLockMigrations); err != nil {
				return err
			}
			var done []int
			if err := tx.SelectContext(ctx, &done, sqlAppliedMigrations); err != nil {
				return err
			}
			for _, v := range done {
				if v == version {
					return nil
				}
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlRecordMigration, version, base); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		if ran {
			applied = append(applied, base)
		}
	}
	return applied, nil
}

// isNoRows reports whether err means the query found nothing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
