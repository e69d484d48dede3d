package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"nuanjia/bot"
)

const (
	sqlSelectMember = `SELECT openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id, no_broadcasts
		FROM members WHERE openid = $1`

	// sqlRecordExchange stores a push, the member it came from, and the reply
	// in one statement, so one round trip and one commit serve the hot path.
	// The inbound insert does nothing when WeChat's retry got here first
	// (dedupe_key), and then no reply is stored either; the final SELECT
	// tells the caller which happened.
	//   $1 openid  $2 at  $3 type  $4 event  $5 event_key  $6 text  $7 msg_id
	//   $8 dedupe_key  $9 lat  $10 lng  $11 subscribed after this push (NULL:
	//   unchanged)  $12 counts for the 48-hour window  $13 branch id from a
	//   QR scene  $14 reply text  $15 reply channel  $16 intent  $17 reply at
	sqlRecordExchange = `
WITH m AS (
	INSERT INTO members AS mb (openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id)
	VALUES ($1, $2, $2, COALESCE($11, true), CASE WHEN $12 THEN $2::timestamptz END,
	        (SELECT id FROM branches WHERE id = $13))
	ON CONFLICT (openid) DO UPDATE SET
		last_seen       = GREATEST(mb.last_seen, EXCLUDED.last_seen),
		subscribed      = COALESCE($11, mb.subscribed),
		last_inbound_at = CASE WHEN $12 THEN GREATEST(mb.last_inbound_at, EXCLUDED.last_inbound_at)
		                       ELSE mb.last_inbound_at END,
		branch_id       = COALESCE(EXCLUDED.branch_id, mb.branch_id)
	RETURNING openid
), i AS (
	INSERT INTO messages (openid, direction, type, event, event_key, text, wechat_msg_id, dedupe_key, lat, lng, intent, at)
	SELECT openid, 'in', $3, $4, $5, $6, $7, $8, $9, $10, $16, $2 FROM m
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING openid
), o AS (
	INSERT INTO messages (openid, direction, type, text, channel, intent, at)
	SELECT openid, 'out', 'text', $14, $15, $16, $17 FROM i WHERE $14 <> ''
	RETURNING id
)
SELECT EXISTS (SELECT 1 FROM i)`

	sqlInsertReply = `INSERT INTO messages (openid, direction, type, text, channel, intent, at)
		VALUES ($1, 'out', 'text', $2, $3, $4, $5)`

	sqlInsertJob = `INSERT INTO send_jobs (dedupe_key, event, wechat_msg_id, status, at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING RETURNING true`
)

// Member returns the member with that openid; found is false for a stranger.
func (s *Store) Member(ctx context.Context, openID string) (m bot.Member, found bool, err error) {
	stmt, err := s.prepared(ctx, sqlSelectMember)
	if err != nil {
		return m, false, fmt.Errorf("load member: %w", err)
	}
	err = stmt.GetContext(ctx, &m, openID)
	if isNoRows(err) {
		return bot.Member{OpenID: openID}, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("load member: %w", err)
	}
	return m, true, nil
}

// RecordExchange stores the push, touches its member and stores the reply,
// atomically. fresh is false when the push was already stored: a retry of
// WeChat's, which must have no second effect.
func (s *Store) RecordExchange(ctx context.Context, ex bot.Exchange) (fresh bool, err error) {
	in := ex.In
	var subscribedAfter *bool
	switch in.Event {
	case bot.EventSubscribe:
		subscribedAfter = ptr(true)
	case bot.EventUnsubscribe:
		subscribedAfter = ptr(false)
	}
	// Messages typed by the member open WeChat's 48-hour window; menu clicks
	// and follows only open a one-minute one, which nuanjia does not track.
	opensWindow := in.Type != bot.TypeEvent
	var msgID *int64
	if in.MsgID != 0 {
		msgID = &in.MsgID
	}
	var lat, lng *float64
	if in.Located {
		lat, lng = &in.Lat, &in.Lng
	}
	stmt, err := s.prepared(ctx, sqlRecordExchange)
	if err != nil {
		return false, fmt.Errorf("record message: %w", err)
	}
	err = stmt.QueryRowContext(ctx,
		in.OpenID, in.At, in.Type, in.Event, in.EventKey, in.Text, msgID,
		in.DedupeKey, lat, lng, subscribedAfter, opensWindow, sceneBranch(in),
		ex.Reply.Text, ex.Channel, string(ex.Intent), ex.RepliedAt,
	).Scan(&fresh)
	if err != nil {
		return false, fmt.Errorf("record message: %w", err)
	}
	return fresh, nil
}

// RecordReply stores a reply sent after the exchange was recorded, such as
// a customer-service message sent once the 4-second cut-off had passed.
func (s *Store) RecordReply(ctx context.Context, openID string, reply bot.Reply, channel string, intent bot.Intent, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, sqlInsertReply, openID, reply.Text, channel, string(intent), at); err != nil {
		return fmt.Errorf("record reply: %w", err)
	}
	return nil
}

// RecordJob stores WeChat's report on a mass-send or template job. fresh is
// false for a retried report.
func (s *Store) RecordJob(ctx context.Context, in bot.Inbound) (fresh bool, err error) {
	err = s.db.QueryRowContext(ctx, sqlInsertJob, in.DedupeKey, in.Event, in.MsgID, in.Status, in.At).Scan(&fresh)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record job report: %w", err)
	}
	return true, nil
}

// sceneBranch is the branch id carried by a branch's QR code: WeChat sends
// "qrscene_<scene>" when the code made someone follow, "<scene>" on SCAN.
func sceneBranch(in bot.Inbound) string {
	switch in.Event {
	case bot.EventSubscribe:
		return strings.TrimPrefix(in.EventKey, "qrscene_")
	case bot.EventScan:
		return in.EventKey
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

const sqlSetNoBroadcasts = `INSERT INTO members (openid, first_seen, last_seen, no_broadcasts)
	VALUES ($1, now(), now(), $2)
	ON CONFLICT (openid) DO UPDATE SET no_broadcasts = EXCLUDED.no_broadcasts`

// SetNoBroadcasts records whether the member wants policy broadcasts. The
// member may be writing for the first time, so the row may not exist yet.
func (s *Store) SetNoBroadcasts(ctx context.Context, openID string, off bool) error {
	if _, err := s.db.ExecContext(ctx, sqlSetNoBroadcasts, openID, off); err != nil {
		return fmt.Errorf("set broadcast preference: %w", err)
	}
	return nil
}
