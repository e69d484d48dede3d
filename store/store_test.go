package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/internal/pgtest"
)

// migrationNames are the files Migrate must apply to an empty schema: every
// embedded file, in the order of their numbers.
func migrationNames(t testing.TB) []string {
	t.Helper()
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil || len(names) < 3 {
		t.Fatalf("embedded migrations: %v %v", names, err)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "migrations/")
	}
	return names
}

// openStore connects to this test's own empty schema, without migrating.
func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore is openStore with every migration applied.
func newStore(t testing.TB) *Store {
	t.Helper()
	s := openStore(t)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// demoKB is the knowledge base shipped in kb/demo.yaml, validated as
// `nuanjia import` validates it.
func demoKB(t *testing.T) bot.Knowledge {
	t.Helper()
	b, err := os.ReadFile("../kb/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := nlu.ParseKnowledge(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := nlu.Validate(kb); err != nil {
		t.Fatalf("kb/demo.yaml does not validate: %v", err)
	}
	return kb
}

// countRows counts the rows of table matching where (a SQL condition) with args.
func countRows(t *testing.T, s *Store, table, where string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, `SELECT count(*) FROM `+table+` WHERE `+where, args...); err != nil {
		t.Fatalf("count %s where %s: %v", table, where, err)
	}
	return n
}

func TestMigrateAppliesEachFileOnce(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if !slices.Equal(applied, migrationNames(t)) {
		t.Fatalf("first Migrate applied %q, want %q", applied, migrationNames(t))
	}
	// The tables a serving process needs are there.
	for _, table := range []string{"members", "messages", "send_jobs", "branches", "directors", "faqs"} {
		countRows(t, s, table, "true")
	}

	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second Migrate applied %q again", again)
	}
	if n := countRows(t, s, "schema_migrations", "true"); n != len(migrationNames(t)) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(migrationNames(t)))
	}
}

// Several `serve --migrate` processes may start at once: both must come up,
// and each file must be applied by exactly one of them.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	const processes = 2
	stores := make([]*Store, processes)
	for i := range stores {
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}

	applied := make([][]string, processes)
	errs := make([]error, processes)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { applied[i], errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()

	var all []string
	for i := range stores {
		if errs[i] != nil {
			t.Errorf("Migrate in process %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if !slices.Equal(all, migrationNames(t)) {
		t.Errorf("together the processes applied %q, want each of %q once", all, migrationNames(t))
	}
}

func TestTransact(t *testing.T) {
	errRefused := errors.New("refused")
	tests := []struct {
		name      string
		fn        func(tx *sqlx.Tx) error
		wantErr   error
		wantPanic bool
		wantRow   bool
	}{
		{name: "nil commits", fn: func(*sqlx.Tx) error { return nil }, wantRow: true},
		{name: "error rolls back", fn: func(*sqlx.Tx) error { return errRefused }, wantErr: errRefused},
		{name: "panic rolls back and re-panics", fn: func(*sqlx.Tx) error { panic("boom") }, wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			var err error
			panicked := func() (p any) {
				defer func() { p = recover() }()
				err = s.Transact(ctx, func(tx *sqlx.Tx) error {
					// The row is written first, so only the outcome of fn
					// decides whether it survives.
					if _, err := tx.Exec(`INSERT INTO members (openid, first_seen, last_seen) VALUES ('o-tx', now(), now())`); err != nil {
						t.Fatal(err)
					}
					return tt.fn(tx)
				})
				return nil
			}()
			if (panicked != nil) != tt.wantPanic {
				t.Fatalf("panic = %v, want panic %v", panicked, tt.wantPanic)
			}
			if tt.wantPanic && panicked != "boom" {
				t.Errorf("re-panicked with %v, want the original value boom", panicked)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Transact error = %v, want %v", err, tt.wantErr)
			}
			if got := countRows(t, s, "members", "openid = 'o-tx'") == 1; got != tt.wantRow {
				t.Errorf("row written inside the transaction is there: %v, want %v", got, tt.wantRow)
			}
		})
	}
}
