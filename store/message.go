package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
		$7::bigint[], $8::text[], $9::float8[], $10::float8[], $11::bool[], $12::bool[], $13::text[],
		$14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[])
	AS p (openid, at, type, event, event_key, text, msg_id, dedupe_key, lat, lng,
		subscribed, opens_window, scene,
		media_id, pic_url, format, thumb_media_id, title, description, url, extra)
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
	INSERT INTO messages (openid, direction, type, event, event_key, text, wechat_msg_id, dedupe_key, lat, lng, at,
		media_id, pic_url, format, thumb_media_id, title, description, url, extra)
	SELECT openid, 'in', type, event, event_key, text, msg_id, dedupe_key, lat, lng, at,
		media_id, pic_url, format, thumb_media_id, title, description, url, NULLIF(extra, '')::jsonb FROM p
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING dedupe_key
)
SELECT m.*, p.dedupe_key, i.dedupe_key IS NOT NULL AS fresh
FROM p JOIN m USING (openid) LEFT JOIN i USING (dedupe_key)`

	sqlInsertJob = `INSERT INTO send_jobs (dedupe_key, event, wechat_msg_id, status, at,
			total_count, filter_count, sent_count, error_count)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING RETURNING true`
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
		return bot.Member{}, false, rejected(err)
	}
	return res[0].member, res[0].fresh, nil
}

// Keep stores a push as RecordInbound does, unbatched: the spool replayer
// and tools use it; the webhook goes through the InboundBatcher.
func (s *Store) Keep(ctx context.Context, in bot.Inbound) (fresh bool, err error) {
	_, fresh, err = s.RecordInbound(ctx, in)
	return fresh, err
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
		media      = newMediaColumns(n)
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
		media.set(k, in)
	}
	stmt, err := s.prepared(ctx, sqlRecordInbound)
	if err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	rows, err := stmt.QueryxContext(ctx, pq.StringArray(openIDs), pq.Array(ats), pq.StringArray(types),
		pq.StringArray(events), pq.StringArray(keys), pq.StringArray(texts), pq.Array(msgIDs),
		pq.StringArray(dedupe), pq.Array(lats), pq.Array(lngs), pq.Array(subscribed),
		pq.BoolArray(window), pq.StringArray(scenes),
		media.ids, media.pics, media.formats, media.thumbs, media.titles, media.descriptions, media.urls, media.extras)
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

// RecordJob stores WeChat's report on a mass-send or template job. fresh is
// false for a retried report.
func (s *Store) RecordJob(ctx context.Context, in bot.Inbound) (fresh bool, err error) {
	j := in.Job
	err = s.db.QueryRowContext(ctx, sqlInsertJob, in.DedupeKey, in.Event, in.MsgID, j.Status, in.At,
		j.Total, j.Filtered, j.Sent, j.Errors).Scan(&fresh)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, rejected(fmt.Errorf("record job report: %w", err))
	}
	return true, nil
}

// KeepJob stores a job report; it is the Inbox's name for RecordJob.
func (s *Store) KeepJob(ctx context.Context, in bot.Inbound) (bool, error) {
	return s.RecordJob(ctx, in)
}

// mediaColumns are a batch's media and link fields and its Extra, one
// array each; Extra as JSON text, "" for none.
type mediaColumns struct {
	ids, pics, formats, thumbs, titles, descriptions, urls, extras pq.StringArray
}

func newMediaColumns(n int) mediaColumns {
	return mediaColumns{make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
		make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n), make(pq.StringArray, n),
		make(pq.StringArray, n)}
}

func (c mediaColumns) set(k int, in bot.Inbound) {
	c.ids[k], c.pics[k], c.formats[k], c.thumbs[k] = in.MediaID, in.PicURL, in.Format, in.ThumbMediaID
	c.titles[k], c.descriptions[k], c.urls[k] = in.Title, in.Description, in.URL
	c.extras[k] = ""
	if len(in.Extra) > 0 {
		b, _ := json.Marshal(in.Extra) // a map of strings always marshals
		c.extras[k] = string(b)
	}
}

// rejected marks an error PostgreSQL gave because of what a push holds
// (bad data, a value out of range, a constraint), as opposed to an outage:
// such a push is refused alone and never spooled.
func rejected(err error) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "22", "23", "54": // data exception, integrity constraint, program limit
			// PostgreSQL's message may quote the offending value, a
			// member's words: only the code goes on, to the logs.
			return fmt.Errorf("%w (SQLSTATE %s)", bot.ErrRejected, pqErr.Code)
		}
	}
	return err
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
