package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

const (
	sqlSelectMember = `SELECT openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id, no_broadcasts
		FROM members WHERE openid = $1`

	// sqlRecordInbound stores a batch of pushes and touches their members in
	// one statement (one round trip, one commit), and returns each member as
	// it is after its push. A push's insert does nothing when WeChat's retry
	// got here first (dedupe_key); fresh then says so. The batch holds at
	// most one push per member: ON CONFLICT DO UPDATE may touch a row once.
	sqlRecordInbound = `
WITH p AS (
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::bigint[], $8::text[], $9::float8[], $10::float8[], $11::bool[], $12::bool[], $13::text[])
	AS p (openid, at, type, event, event_key, text, msg_id, dedupe_key, lat, lng,
		subscribed, opens_window, scene)
), m AS (
	INSERT INTO members AS mb (openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id)
	SELECT openid, at, at, COALESCE(subscribed, true), CASE WHEN opens_window THEN at END,
		(SELECT id FROM branches WHERE id = p.scene)
	FROM p
	ON CONFLICT (openid) DO UPDATE SET
		last_seen       = GREATEST(mb.last_seen, EXCLUDED.last_seen),
		-- subscribed is NULL in p when the push leaves it unchanged.
		subscribed      = COALESCE((SELECT p.subscribed FROM p WHERE p.openid = mb.openid), mb.subscribed),
		last_inbound_at = GREATEST(mb.last_inbound_at, EXCLUDED.last_inbound_at),
		branch_id       = COALESCE(EXCLUDED.branch_id, mb.branch_id)
	RETURNING openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id, no_broadcasts
), i AS (
	INSERT INTO messages (openid, direction, type, event, event_key, text, wechat_msg_id, dedupe_key, lat, lng, at)
	SELECT openid, 'in', type, event, event_key, text, msg_id, dedupe_key, lat, lng, at FROM p
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING dedupe_key
)
SELECT m.*, p.dedupe_key, i.dedupe_key IS NOT NULL AS fresh
FROM p JOIN m USING (openid) LEFT JOIN i USING (dedupe_key)`

	// sqlRecordReplies stores a batch of replies.
	// A reply record is the bot's own log, not something a member sent: its
	// commit need not wait for the disk (set_config(…, true) lasts for this
	// statement's own transaction). A crash may lose the last fraction of a
	// second of them; the pushes they answer are already durable.
	sqlRecordReplies = `
WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO messages (openid, direction, type, text, channel, intent, at)
SELECT openid, 'out', 'text', text, channel, intent, at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
	AS r (openid, text, channel, intent, at), async
WHERE text <> ''`

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

// RecordInbound stores a push and touches its member, atomically, and
// returns the member as stored after it. fresh is false when the push was
// already stored: a retry of WeChat's, which must have no second effect.
func (s *Store) RecordInbound(ctx context.Context, in bot.Inbound) (bot.Member, bool, error) {
	res, err := s.recordInbounds(ctx, []bot.Inbound{in})
	if err != nil {
		return bot.Member{}, false, err
	}
	return res[0].member, res[0].fresh, nil
}

// inboundResult is what recording one push of a batch gave.
type inboundResult struct {
	member bot.Member
	fresh  bool
}

// recordInbounds stores a batch of pushes from distinct members; results
// are in the order of ins.
func (s *Store) recordInbounds(ctx context.Context, ins []bot.Inbound) ([]inboundResult, error) {
	n := len(ins)
	var (
		openIDs, types, events, keys, texts, dedupe, scenes = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats        = make([]time.Time, n)
		msgIDs     = make([]sql.NullInt64, n)
		lats, lngs = make([]sql.NullFloat64, n), make([]sql.NullFloat64, n)
		subscribed = make([]sql.NullBool, n)
		window     = make([]bool, n)
	)
	for k, in := range ins {
		openIDs[k], ats[k], types[k], events[k], keys[k], texts[k] = in.OpenID, in.At, in.Type, in.Event, in.EventKey, in.Text
		dedupe[k], scenes[k] = in.DedupeKey, sceneBranch(in)
		msgIDs[k] = sql.NullInt64{Int64: in.MsgID, Valid: in.MsgID != 0}
		lats[k] = sql.NullFloat64{Float64: in.Lat, Valid: in.Located}
		lngs[k] = sql.NullFloat64{Float64: in.Lng, Valid: in.Located}
		switch in.Event {
		case bot.EventSubscribe:
			subscribed[k] = sql.NullBool{Bool: true, Valid: true}
		case bot.EventUnsubscribe:
			subscribed[k] = sql.NullBool{Bool: false, Valid: true}
		}
		window[k] = opensWindow(in)
	}
	stmt, err := s.prepared(ctx, sqlRecordInbound)
	if err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	rows, err := stmt.QueryxContext(ctx, pq.StringArray(openIDs), pq.Array(ats), pq.StringArray(types),
		pq.StringArray(events), pq.StringArray(keys), pq.StringArray(texts), pq.Array(msgIDs),
		pq.StringArray(dedupe), pq.Array(lats), pq.Array(lngs), pq.Array(subscribed),
		pq.BoolArray(window), pq.StringArray(scenes))
	if err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	byKey, err := scanInboundResults(rows, n)
	if err != nil {
		return nil, err
	}
	out := make([]inboundResult, n)
	for k, in := range ins {
		r, ok := byKey[in.DedupeKey]
		if !ok {
			return nil, fmt.Errorf("record message: no result for %s", in.DedupeKey)
		}
		out[k] = r
	}
	return out, nil
}

// scanInboundResults reads the rows both push statements return, one per
// stored push, keyed by dedupe key.
func scanInboundResults(rows *sqlx.Rows, n int) (map[string]inboundResult, error) {
	defer rows.Close()
	byKey := make(map[string]inboundResult, n)
	for rows.Next() {
		var row struct {
			bot.Member
			DedupeKey string `db:"dedupe_key"`
			Fresh     bool   `db:"fresh"`
		}
		if err := rows.StructScan(&row); err != nil {
			return nil, fmt.Errorf("record message: %w", err)
		}
		byKey[row.DedupeKey] = inboundResult{member: row.Member, fresh: row.Fresh}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	return byKey, nil
}

// RecordReplies stores replies the bot sent, in one statement.
func (s *Store) RecordReplies(ctx context.Context, replies []bot.SentReply) error {
	n := len(replies)
	openIDs, texts, channels, intents := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, r := range replies {
		openIDs[i], texts[i], channels[i], intents[i], ats[i] = r.OpenID, r.Text, r.Channel, string(r.Intent), r.At
	}
	stmt, err := s.prepared(ctx, sqlRecordReplies)
	if err == nil {
		_, err = stmt.ExecContext(ctx, pq.StringArray(openIDs), pq.StringArray(texts),
			pq.StringArray(channels), pq.StringArray(intents), pq.Array(ats))
	}
	if err != nil {
		return fmt.Errorf("record replies: %w", err)
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

// opensWindow: messages typed by the member open WeChat's 48-hour
// customer-service window; menu clicks and follows only open a one-minute
// one, which nuanjia does not track.
func opensWindow(in bot.Inbound) bool { return in.Type != bot.TypeEvent }

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
