package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Where a director row comes from.
const (
	DirectorFromKB  = "kb"  // the knowledge-base file; each import replaces them
	DirectorFromCLI = "cli" // `nuanjia director add`; imports keep them
)

const (
	// The branch row is locked so an import of the branch, or another
	// add, waits: the next position is then the branch's own.
	sqlLockBranch = `SELECT id FROM branches WHERE id = $1 FOR UPDATE`
	// A kb row for the same person and branch: the file owns it.
	sqlFileDirector = `SELECT count(*) FROM directors WHERE branch_id = $1 AND openid = $2 AND source = 'kb'`
	// Adding a director again updates the row: the role as given now, the
	// name and phone kept when not given.
	sqlUpsertCLIDirector = `INSERT INTO directors (branch_id, position, name, openid, phone, county, source, added_at, added_by)
		VALUES ($1, (SELECT COALESCE(max(position) + 1, 0) FROM directors WHERE branch_id = $1),
			$2, $3, $4, $5, 'cli', now(), $6)
		ON CONFLICT (branch_id, openid) WHERE source = 'cli' DO UPDATE SET
			name = COALESCE(NULLIF(EXCLUDED.name, ''), directors.name),
			phone = COALESCE(NULLIF(EXCLUDED.phone, ''), directors.phone),
			county = EXCLUDED.county, added_at = now(), added_by = EXCLUDED.added_by
		RETURNING (xmax = 0) AS inserted`
	sqlDeleteDirector = `DELETE FROM directors WHERE openid = $1 AND ($2 = '' OR branch_id = $2)`
	sqlListDirectors  = `SELECT branch_id, position, name, openid, phone, county, source, added_at, added_by
		FROM directors ORDER BY branch_id, position`
)

// DirectorRow is one director of one branch, as staff manage them.
type DirectorRow struct {
	BranchID string    `db:"branch_id"`
	Position int       `db:"position"` // order within the branch: the file's first, then the CLI's
	OpenID   string    `db:"openid"`
	Name     string    `db:"name"`
	Phone    string    `db:"phone"`
	County   bool      `db:"county"` // acts on every branch's cases
	Source   string    `db:"source"` // DirectorFromKB or DirectorFromCLI
	AddedAt  time.Time `db:"added_at"`
	AddedBy  string    `db:"added_by"` // who ran the command; "" for the file's
}

// AddDirector makes d.OpenID a director of d.BranchID (of every branch
// when d.County), kept across imports. Adding the same openid to the
// same branch again updates the row; created says which happened. The
// branch must exist, and a person the file already lists there is
// changed in the file, not here.
func (s *Store) AddDirector(ctx context.Context, d DirectorRow) (created bool, err error) {
	d.OpenID, d.BranchID = strings.TrimSpace(d.OpenID), strings.TrimSpace(d.BranchID)
	d.Name, d.Phone, d.AddedBy = strings.TrimSpace(d.Name), strings.TrimSpace(d.Phone), strings.TrimSpace(d.AddedBy)
	switch {
	case d.OpenID == "":
		return false, errors.New("openid is empty")
	case d.BranchID == "":
		return false, errors.New("branch is empty")
	case d.AddedBy == "":
		return false, errors.New("who is adding the director is not said")
	}
	err = s.Transact(ctx, func(tx *sqlx.Tx) error {
		var id string
		err := tx.GetContext(ctx, &id, sqlLockBranch, d.BranchID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no branch %q", d.BranchID)
		}
		if err != nil {
			return err
		}
		var inFile int
		if err := tx.GetContext(ctx, &inFile, sqlFileDirector, d.BranchID, d.OpenID); err != nil {
			return err
		}
		if inFile > 0 {
			return fmt.Errorf("%s is already a director of %s in the knowledge-base file; change it there", d.OpenID, d.BranchID)
		}
		return tx.GetContext(ctx, &created, sqlUpsertCLIDirector, d.BranchID, d.Name, d.OpenID, d.Phone, d.County, d.AddedBy)
	})
	if err != nil {
		return false, fmt.Errorf("add director: %w", err)
	}
	return created, nil
}

// RemoveDirector takes the director role of openID away on branch (on
// every branch when branch is ""), whether the file or the CLI gave it,
// and returns how many rows went. A file's director comes back with the
// next import that still lists them.
func (s *Store) RemoveDirector(ctx context.Context, openID, branch string) (int64, error) {
	openID, branch = strings.TrimSpace(openID), strings.TrimSpace(branch)
	if openID == "" {
		return 0, errors.New("remove director: openid is empty")
	}
	res, err := s.db.ExecContext(ctx, sqlDeleteDirector, openID, branch)
	if err != nil {
		return 0, fmt.Errorf("remove director: %w", err)
	}
	return res.RowsAffected()
}

// ListDirectors is every director row, by branch, in the branch's order.
func (s *Store) ListDirectors(ctx context.Context) ([]DirectorRow, error) {
	var rows []DirectorRow
	if err := s.db.SelectContext(ctx, &rows, sqlListDirectors); err != nil {
		return nil, fmt.Errorf("list directors: %w", err)
	}
	return rows, nil
}
