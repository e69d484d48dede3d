package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"nuanjia/bot"
)

// The outbox sender's side of the outbox table (bot/outbox.Queue). Rows
// are written by the handling transaction (inbox.go); from then on only
// these statements move them.
const (
	// sqlClaimOutbox leases up to $1 due rows for $2 seconds and counts
	// the attempt, in one statement. A row is due when it is pending and
	// its next_attempt has come. It is claimable only when no earlier row of
	// the same member is still pending or sending, so a member's rows
	// go out in id order and a claim holds at most one row per member.
	// The oldest due rows come first; ordering by next_attempt alone lets
	// the scan of outbox_due stop after $1 rows (a tie-break on id would
	// make it read every row due).
	// SKIP LOCKED lets several senders claim at once without waiting for
	// each other; a row another sender claimed meanwhile fails the status
	// re-check PostgreSQL makes on the rows it locks.
	//
	// For customer-service rows it also reads, from the snapshot before the
	// claim, what WeChat's quota needs: the recipient's last message within
	// $3 seconds (48 h) and last follow, scan or menu click within $4
	// seconds (1 min), and how many customer-service messages were sent to
	// them since each, or are being sent now.
	sqlClaimOutbox = `
WITH due AS (
	SELECT o.id FROM outbox o
	WHERE o.status = 'pending' AND o.next_attempt <= now()
		AND NOT EXISTS (SELECT 1 FROM outbox e
			WHERE e.openid = o.openid AND e.id < o.id AND e.status IN ('pending', 'sending'))
	ORDER BY o.next_attempt
	LIMIT $1
	FOR UPDATE OF o SKIP LOCKED
), claimed AS (
	UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,
		lease_until = now() + make_interval(secs => $2)
	FROM due WHERE o.id = due.id
	RETURNING o.id, o.openid, o.kind, o.channel, o.fallback, o.text, o.template_id, o.template_url,
		o.template_data, o.media_kind, o.media_id, o.at_most_once, o.cause_message_id, o.intent, o.attempts
)
SELECT c.id, c.openid, c.kind, c.channel, c.fallback, c.text, c.template_id, c.template_url,
	c.template_data, c.media_kind, c.media_id, c.at_most_once, c.cause_message_id, c.intent, c.attempts,
	now() AS now,
	w.last_message, w.last_trigger,
	COALESCE(n.since_message, 0) + COALESCE(n.sending, 0) AS since_message,
	COALESCE(n.since_trigger, 0) + COALESCE(n.sending, 0) AS since_trigger
FROM claimed c
LEFT JOIN LATERAL (
	SELECT
		(SELECT max(m.at) FROM messages m
		 WHERE m.openid = c.openid AND m.direction = 'in' AND m.type <> 'event'
			AND m.at > now() - make_interval(secs => $3)) AS last_message,
		(SELECT max(m.at) FROM messages m
		 WHERE m.openid = c.openid AND m.direction = 'in' AND m.type = 'event'
			AND m.event IN ('subscribe', 'SCAN', 'CLICK', 'scancode_push', 'scancode_waitmsg')
			AND m.at > now() - make_interval(secs => $4)) AS last_trigger
) w ON c.channel = 'customer_service'
LEFT JOIN LATERAL (
	SELECT
		(SELECT count(*) FROM outbox s
		 WHERE s.openid = c.openid AND s.channel = 'customer_service' AND s.status = 'sent'
			AND s.sent_at >= w.last_message) AS since_message,
		(SELECT count(*) FROM outbox s
		 WHERE s.openid = c.openid AND s.channel = 'customer_service' AND s.status = 'sent'
			AND s.sent_at >= w.last_trigger) AS since_trigger,
		(SELECT count(*) FROM outbox s
		 WHERE s.openid = c.openid AND s.channel = 'customer_service' AND s.status = 'sending') AS sending
) n ON c.channel = 'customer_service'
ORDER BY c.id`

	// The outcome of an attempt. Each is fenced by status and attempts:
	// only the claim that still holds the row records it, never a sender
	// whose lease ran out and whose row was claimed again.
	sqlOutboxSent = `UPDATE outbox SET status = 'sent', sent_at = now(), lease_until = NULL,
		wechat_msg_id = $3
	WHERE id = $1 AND status = 'sending' AND attempts = $2`

	sqlOutboxRetry = `UPDATE outbox SET status = 'pending', channel = $3, fallback = $4,
		next_attempt = now() + make_interval(secs => $5), lease_until = NULL,
		last_error_kind = $6, last_error_code = $7, last_error = $8
	WHERE id = $1 AND status = 'sending' AND attempts = $2`

	sqlOutboxFailed = `UPDATE outbox SET status = 'failed', lease_until = NULL, failed_reason = $3,
		last_error_kind = $4, last_error_code = $5, last_error = $6
	WHERE id = $1 AND status = 'sending' AND attempts = $2`

	// sqlOutboxRelease hands back a row that was not attempted (its lease
	// was too short by the time a worker got to it, or the sender is
	// stopping): due at once, and the claim not counted.
	sqlOutboxRelease = `UPDATE outbox SET status = 'pending', lease_until = NULL, next_attempt = now(),
		attempts = attempts - 1
	WHERE id = $1 AND status = 'sending' AND attempts = $2`

	// sqlRequeueOutbox takes back rows whose sender vanished mid-send (its
	// lease ended): due again at once, or given up when that was the last
	// attempt allowed ($1). WeChat may have taken the message already;
	// that is the one resend a crash can cost — except for an at-most-once
	// row, which is given up as uncertain instead: the case clock makes up
	// for a lost alert, and a second copy would only be noise.
	sqlRequeueOutbox = `UPDATE outbox SET
		status = CASE WHEN at_most_once OR attempts >= $1 THEN 'failed' ELSE 'pending' END,
		failed_reason = CASE WHEN at_most_once THEN 'uncertain'
			WHEN attempts >= $1 THEN 'lease_expired' ELSE failed_reason END,
		next_attempt = now(), lease_until = NULL,
		last_error_kind = 'lease_expired', last_error_code = NULL,
		last_error = 'the sender stopped before recording the outcome'
	WHERE status = 'sending' AND lease_until < now()`

	sqlOutboxStats = `SELECT
	(SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt <= now()) AS due,
	COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(next_attempt)) FROM outbox
		WHERE status = 'pending' AND next_attempt <= now()), 0)::float8 AS oldest_due,
	(SELECT count(*) FROM outbox WHERE status = 'sending') AS sending,
	(SELECT count(*) FROM outbox WHERE status = 'failed') AS failed`
)

// claimedRow is a row as sqlClaimOutbox returns it.
type claimedRow struct {
	ID           int64         `db:"id"`
	OpenID       string        `db:"openid"`
	Kind         string        `db:"kind"`
	Channel      string        `db:"channel"`
	Fallback     string        `db:"fallback"`
	Text         string        `db:"text"`
	TemplateID   string        `db:"template_id"`
	TemplateURL  string        `db:"template_url"`
	TemplateData []byte        `db:"template_data"`
	MediaKind    string        `db:"media_kind"`
	MediaID      string        `db:"media_id"`
	AtMostOnce   bool          `db:"at_most_once"`
	Cause        sql.NullInt64 `db:"cause_message_id"`
	Intent       string        `db:"intent"`
	Attempts     int           `db:"attempts"`
	Now          time.Time     `db:"now"`
	LastMessage  *time.Time    `db:"last_message"`
	LastTrigger  *time.Time    `db:"last_trigger"`
	SinceMessage int           `db:"since_message"`
	SinceTrigger int           `db:"since_trigger"`
}

func (r claimedRow) message() (bot.OutboxMessage, error) {
	m := bot.OutboxMessage{
		ID: r.ID, OpenID: r.OpenID, Kind: r.Kind, Channel: r.Channel, Fallback: r.Fallback, Text: r.Text,
		MediaKind: r.MediaKind, MediaID: r.MediaID, AtMostOnce: r.AtMostOnce,
		CauseMessageID: r.Cause.Int64, Intent: r.Intent, Attempts: r.Attempts,
	}
	if r.TemplateID != "" {
		m.Template = &bot.Template{ID: r.TemplateID, URL: r.TemplateURL}
		if len(r.TemplateData) > 0 {
			if err := json.Unmarshal(r.TemplateData, &m.Template.Data); err != nil {
				return m, fmt.Errorf("outbox row %d: template_data: %w", r.ID, err)
			}
		}
	}
	if r.Channel == bot.ChannelCustomerService {
		m.Allowance = bot.CSAllowance{
			Now: r.Now, LastMessage: r.LastMessage, SinceMessage: r.SinceMessage,
			LastTrigger: r.LastTrigger, SinceTrigger: r.SinceTrigger,
		}
	}
	return m, nil
}

// ClaimOutbox leases up to limit due rows for lease (see sqlClaimOutbox).
// A row whose template data cannot be read is still returned, without its
// template, so the sender records it as failed instead of leaving it leased.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]bot.OutboxMessage, error) {
	stmt, err := s.prepared(ctx, sqlClaimOutbox)
	if err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	var rows []claimedRow
	if err := stmt.SelectContext(ctx, &rows, limit, lease.Seconds(),
		bot.CustomerServiceWindow.Seconds(), bot.CustomerServiceTriggerWindow.Seconds()); err != nil {
		return nil, fmt.Errorf("claim outbox rows: %w", err)
	}
	out := make([]bot.OutboxMessage, 0, len(rows))
	for _, r := range rows {
		m, err := r.message()
		if err != nil {
			m.Template = nil
		}
		out = append(out, m)
	}
	return out, nil
}

// FinishOutbox records the outcome of the attempt m was claimed for.
// recorded is false when the claim no longer holds the row: its lease ran
// out and the row was taken back (and perhaps claimed again).
func (s *Store) FinishOutbox(ctx context.Context, m bot.OutboxMessage, r bot.OutboxResult) (recorded bool, err error) {
	code := sql.NullInt64{Int64: int64(r.ErrorCode), Valid: r.ErrorCode != 0}
	var query string
	var args []any
	switch r.Status {
	case bot.OutboxSent:
		query = sqlOutboxSent
		args = []any{m.ID, m.Attempts, sql.NullInt64{Int64: r.WeChatMsgID, Valid: r.WeChatMsgID != 0}}
	case bot.OutboxPending:
		query = sqlOutboxRetry
		args = []any{m.ID, m.Attempts, r.Channel, r.Fallback, r.RetryIn.Seconds(), r.ErrorKind, code, r.Error}
	case bot.OutboxFailed:
		query = sqlOutboxFailed
		args = []any{m.ID, m.Attempts, r.FailedReason, r.ErrorKind, code, r.Error}
	default:
		return false, fmt.Errorf("finish outbox row %d: unknown status %q", m.ID, r.Status)
	}
	return s.execOne(ctx, "finish outbox row", query, args...)
}

// ReleaseOutbox hands back a claimed row that was not attempted.
func (s *Store) ReleaseOutbox(ctx context.Context, m bot.OutboxMessage) error {
	_, err := s.execOne(ctx, "release outbox row", sqlOutboxRelease, m.ID, m.Attempts)
	return err
}

// RequeueOutbox takes back rows whose lease ended, and returns how many.
func (s *Store) RequeueOutbox(ctx context.Context, maxAttempts int) (int, error) {
	res, err := s.db.ExecContext(ctx, sqlRequeueOutbox, maxAttempts)
	if err != nil {
		return 0, fmt.Errorf("requeue outbox rows: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// OutboxStats reads what the operators' gauges show.
func (s *Store) OutboxStats(ctx context.Context) (bot.OutboxStats, error) {
	var r struct {
		Due       int     `db:"due"`
		OldestDue float64 `db:"oldest_due"`
		Sending   int     `db:"sending"`
		Failed    int     `db:"failed"`
	}
	if err := s.db.GetContext(ctx, &r, sqlOutboxStats); err != nil {
		return bot.OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	return bot.OutboxStats{
		Due: r.Due, OldestDue: time.Duration(r.OldestDue * float64(time.Second)), Sending: r.Sending, Failed: r.Failed,
	}, nil
}

// execOne runs a prepared statement that changes at most one row and
// reports whether it did.
func (s *Store) execOne(ctx context.Context, what, query string, args ...any) (bool, error) {
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}
