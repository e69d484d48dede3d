package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nuanjia/bot"
)

// The evidence fetcher's queue over case_evidence (bot/evidence.Queue).
// Rows are written when a member's media push is attached to a case
// (cases.go); these statements fetch WeChat's copy into data before the
// media id expires.
//
// The outcomes are not fenced by a claim: a fetcher whose lease ran out
// may record after another claimed the row again, and that is harmless.
// Both fetched the same bytes; the first save wins; a save clears a
// failure and nothing undoes a save.
const (
	// sqlClaimEvidence leases up to $1 due rows for $2 seconds and counts
	// the attempt, in one statement: a row is due when it is neither
	// fetched nor failed and its next_attempt has come, whether that is a
	// retry's backoff or the lease of a fetcher that vanished. SKIP LOCKED
	// lets several fetchers claim at once; the lease keeps a row from a
	// second fetcher while the first downloads it.
	//
	// The same statement gives up on rows no fetch can save: WeChat's copy
	// expired (whether due or not: nothing can fetch them now), or a due
	// row has had its $3 attempts, some of which may have ended in a crash
	// or a lease running out rather than an error. It skips locked rows
	// too, so two claims never wait for each other.
	sqlClaimEvidence = `
WITH given_up AS (
	UPDATE case_evidence SET failed = true,
		last_error = left(CASE WHEN expires <= now() THEN 'WeChat''s copy expired before it was fetched'
			ELSE 'gave up after ' || attempts || ' attempts' END
			|| CASE WHEN last_error <> '' THEN ': ' || last_error ELSE '' END, 300)
	WHERE id IN (SELECT id FROM case_evidence
		WHERE fetched_at IS NULL AND NOT failed
			AND (expires <= now() OR (attempts >= $3 AND next_attempt <= now()))
		FOR UPDATE SKIP LOCKED)
), due AS (
	SELECT id FROM case_evidence
	WHERE fetched_at IS NULL AND NOT failed AND next_attempt <= now()
		AND expires > now() AND attempts < $3
	ORDER BY next_attempt
	LIMIT $1
	FOR UPDATE SKIP LOCKED
)
UPDATE case_evidence e SET attempts = e.attempts + 1, next_attempt = now() + make_interval(secs => $2)
FROM due WHERE e.id = due.id
RETURNING e.id, e.case_id, e.message_id, e.kind, e.media_id, e.at, e.expires, e.size,
	e.fetched_at IS NOT NULL AS fetched`

	sqlSaveEvidence = `UPDATE case_evidence SET fetched_at = now(), content_type = $2, data = $3,
		size = $4, last_error = '', failed = false
	WHERE id = $1 AND fetched_at IS NULL`

	sqlRetryEvidence = `UPDATE case_evidence SET next_attempt = now() + make_interval(secs => $2), last_error = $3
	WHERE id = $1 AND fetched_at IS NULL AND NOT failed`

	sqlFailEvidence = `UPDATE case_evidence SET failed = true, last_error = $2
	WHERE id = $1 AND fetched_at IS NULL`

	sqlEvidenceData = `SELECT content_type, data FROM case_evidence WHERE id = $1 AND fetched_at IS NOT NULL`
)

// ErrNotFetched: the evidence does not exist, or the bot holds no copy of
// it (yet, or ever: it failed).
var ErrNotFetched = errors.New("evidence not fetched")

// ClaimEvidence leases up to limit rows due for fetching for lease,
// counting the attempt; a fetcher that vanishes leaves its rows due again
// when the lease ends. Rows WeChat no longer has, and due rows that have
// had maxAttempts attempts, are failed instead of returned.
func (s *Store) ClaimEvidence(ctx context.Context, limit int, lease time.Duration, maxAttempts int) ([]bot.Evidence, error) {
	if limit <= 0 || maxAttempts <= 0 {
		return nil, fmt.Errorf("claim evidence: limit %d and maxAttempts %d must be positive", limit, maxAttempts)
	}
	var out []bot.Evidence
	if err := s.db.SelectContext(ctx, &out, sqlClaimEvidence, limit, lease.Seconds(), maxAttempts); err != nil {
		return nil, fmt.Errorf("claim evidence: %w", err)
	}
	return out, nil
}

// SaveEvidence stores the fetched copy of evidence id. A row already
// fetched keeps its first copy; a row that no longer exists (erased with
// its member) stays gone.
func (s *Store) SaveEvidence(ctx context.Context, id int64, contentType string, data []byte) error {
	if data == nil {
		data = []byte{} // a NULL data would read as not fetched
	}
	if _, err := s.db.ExecContext(ctx, sqlSaveEvidence, id, contentType, data, len(data)); err != nil {
		return fmt.Errorf("save evidence %d: %w", id, err)
	}
	return nil
}

// RetryEvidence makes evidence id due again after the given wait, keeping
// errText (which must not hold media bytes or a member's words) as its
// last error.
func (s *Store) RetryEvidence(ctx context.Context, id int64, after time.Duration, errText string) error {
	if _, err := s.db.ExecContext(ctx, sqlRetryEvidence, id, max(after, 0).Seconds(), errText); err != nil {
		return fmt.Errorf("retry evidence %d: %w", id, err)
	}
	return nil
}

// FailEvidence gives up on fetching evidence id, keeping errText as why.
func (s *Store) FailEvidence(ctx context.Context, id int64, errText string) error {
	if _, err := s.db.ExecContext(ctx, sqlFailEvidence, id, errText); err != nil {
		return fmt.Errorf("fail evidence %d: %w", id, err)
	}
	return nil
}

// EvidenceData is the bot's copy of evidence id; ErrNotFetched when it
// holds none.
func (s *Store) EvidenceData(ctx context.Context, id int64) (contentType string, data []byte, err error) {
	var row struct {
		ContentType string `db:"content_type"`
		Data        []byte `db:"data"`
	}
	if err := s.db.GetContext(ctx, &row, sqlEvidenceData, id); err != nil {
		if isNoRows(err) {
			return "", nil, fmt.Errorf("evidence %d: %w", id, ErrNotFetched)
		}
		return "", nil, fmt.Errorf("evidence %d: %w", id, err)
	}
	return row.ContentType, row.Data, nil
}
