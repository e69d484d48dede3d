package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"nuanjia/bot"
)

// The audit log: who was shown a member's personal data, append-only
// (migration 0008 refuses UPDATE, DELETE and TRUNCATE).

const (
	sqlInsertAudit = `INSERT INTO audit_log (actor, subject, what, detail) VALUES ($1, $2, $3, $4)`

	// sqlListAudit takes the latest $4 rows (NULL: all) of subject $1 and
	// actor $2 ('' for any) since $3 (NULL: ever), and returns them oldest
	// first, as they are read.
	sqlListAudit = `SELECT id, at, actor, subject, what, detail FROM (
		SELECT id, at, actor, subject, what, detail FROM audit_log
		WHERE ($1 = '' OR subject = $1) AND ($2 = '' OR actor = $2)
			AND ($3::timestamptz IS NULL OR at >= $3)
		ORDER BY at DESC, id DESC
		LIMIT $4
	) a ORDER BY at, id`
)

// AuditRecord is one row of the audit log.
type AuditRecord struct {
	ID int64     `db:"id"`
	At time.Time `db:"at"`
	bot.AuditEntry
}

// AuditQuery selects rows of the audit log.
type AuditQuery struct {
	Subject string    // "": anyone's
	Actor   string    // "": by anyone
	Since   time.Time // zero: from the start
	Limit   int       // the latest Limit rows; 0: all
}

// Audit records, on its own, that someone was shown a member's data: the
// command line's exports and reports, written before they print.
func (s *Store) Audit(ctx context.Context, e bot.AuditEntry) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, sqlInsertAudit, e.Actor, e.Subject, e.What, e.Detail); err != nil {
		return fmt.Errorf("audit %s: %w", e.What, err)
	}
	return nil
}

// Audit records a look in the handling transaction: it commits with the
// reply that shows the data, or neither does.
func (c *txCases) Audit(ctx context.Context, e bot.AuditEntry) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	if _, err := c.exec(ctx, sqlInsertAudit, e.Actor, e.Subject, e.What, e.Detail); err != nil {
		return fmt.Errorf("audit %s: %w", e.What, err)
	}
	return nil
}

// checkAudit refuses an entry that would not say who looked or at what.
func checkAudit(e bot.AuditEntry) error {
	switch {
	case e.Actor == "":
		return errors.New("audit: no actor")
	case e.What == "":
		return errors.New("audit: no what")
	}
	return nil
}

// AuditLog lists the rows q selects, oldest first.
func (s *Store) AuditLog(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("audit log: limit %d", q.Limit)
	}
	since := sql.NullTime{Time: q.Since, Valid: !q.Since.IsZero()}
	out := []AuditRecord{}
	if err := s.db.SelectContext(ctx, &out, sqlListAudit, q.Subject, q.Actor, since, limitOf(q.Limit)); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}
