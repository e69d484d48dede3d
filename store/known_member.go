package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"nuanjia/bot"
)

const (
	// sqlRecordKnownMembers is the common case of sqlRecordInbound: pushes
	// from members already stored that change nothing about them at once.
	// It inserts the messages and reads the members without writing their
	// rows. Pushes from strangers get no row back and nothing is stored for
	// them; the caller sends them down the full path.
	sqlRecordKnownMembers = `
WITH k AS (
	SELECT p.*, mb.first_seen, mb.last_seen, mb.subscribed, mb.last_inbound_at, mb.branch_id, mb.no_broadcasts
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
		$8::float8[], $9::float8[], $10::timestamptz[],
		$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[])
		AS p (openid, type, event, event_key, text, msg_id, dedupe_key, lat, lng, at,
			media_id, pic_url, format, thumb_media_id, title, description, url, extra)
	JOIN members mb USING (openid)
), i AS (
	INSERT INTO messages (openid, direction, type, event, event_key, text, wechat_msg_id, dedupe_key, lat, lng, at,
		media_id, pic_url, format, thumb_media_id, title, description, url, extra)
	SELECT openid, 'in', type, event, event_key, text, msg_id, dedupe_key, lat, lng, at,
		media_id, pic_url, format, thumb_media_id, title, description, url, NULLIF(extra, '')::jsonb FROM k
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING dedupe_key
)
SELECT k.openid, k.first_seen, k.last_seen, k.subscribed, k.last_inbound_at, k.branch_id, k.no_broadcasts,
	k.dedupe_key, i.dedupe_key IS NOT NULL AS fresh
FROM k LEFT JOIN i USING (dedupe_key)`

	// sqlTouchMembers moves members' last-seen times forward, in bulk, for
	// pushes stored by sqlRecordKnownMembers. Its commit does not wait for
	// the disk: the times can be rebuilt from the messages, which are.
	sqlTouchMembers = `
WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE members mb SET
	last_seen       = GREATEST(mb.last_seen, t.at),
	last_inbound_at = GREATEST(mb.last_inbound_at, t.inbound_at)
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS t (openid, at, inbound_at), async
WHERE mb.openid = t.openid`
)

// changesMember reports whether a push changes its member at once (a
// follow, an unfollow, a branch QR code): only the full path does that.
func changesMember(in bot.Inbound) bool {
	return in.Event == bot.EventSubscribe || in.Event == bot.EventUnsubscribe || sceneBranch(in) != ""
}

// recordKnownMembers stores pushes from known members that do not change
// them, keyed by dedupe key. Pushes from strangers are missing from the
// result; nothing was stored for them.
func (s *Store) recordKnownMembers(ctx context.Context, ins []bot.Inbound) (map[string]inboundResult, error) {
	n := len(ins)
	var (
		ids, types, events  = make([]string, n), make([]string, n), make([]string, n)
		keys, texts, dedupe = make([]string, n), make([]string, n), make([]string, n)
		msgIDs              = make([]sql.NullInt64, n)
		lats, lngs          = make([]sql.NullFloat64, n), make([]sql.NullFloat64, n)
		ats                 = make([]time.Time, n)
		media               = newMediaColumns(n)
	)
	for k, in := range ins {
		ids[k], types[k], events[k], keys[k], texts[k], dedupe[k] = in.OpenID, in.Type, in.Event, in.EventKey, in.Text, in.DedupeKey
		msgIDs[k] = sql.NullInt64{Int64: in.MsgID, Valid: in.MsgID != 0}
		lats[k] = sql.NullFloat64{Float64: in.Lat, Valid: in.Located}
		lngs[k] = sql.NullFloat64{Float64: in.Lng, Valid: in.Located}
		ats[k] = in.At
		media.set(k, in)
	}
	stmt, err := s.prepared(ctx, sqlRecordKnownMembers)
	if err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	rows, err := stmt.QueryxContext(ctx, pq.StringArray(ids), pq.StringArray(types), pq.StringArray(events),
		pq.StringArray(keys), pq.StringArray(texts), pq.Array(msgIDs), pq.StringArray(dedupe),
		pq.Array(lats), pq.Array(lngs), pq.Array(ats),
		media.ids, media.pics, media.formats, media.thumbs, media.titles, media.descriptions, media.urls, media.extras)
	if err != nil {
		return nil, fmt.Errorf("record message: %w", err)
	}
	byKey, err := scanInboundResults(rows, n)
	if err != nil {
		return nil, err
	}
	// The rows were read before these pushes' times are written; the member
	// handed on already counts them.
	for _, in := range ins {
		if r, ok := byKey[in.DedupeKey]; ok {
			r.member = touchOf(in).applyTo(r.member)
			byKey[in.DedupeKey] = r
		}
	}
	return byKey, nil
}

// touch is a push's effect on its member's last-seen times.
type touch struct {
	openID    string
	at        time.Time
	inboundAt sql.NullTime // set for messages the member typed: the 48-hour window
}

func touchOf(in bot.Inbound) touch {
	return touch{openID: in.OpenID, at: in.At, inboundAt: sql.NullTime{Time: in.At, Valid: opensWindow(in)}}
}

// applyTo moves a member's times on as writing the touch will.
func (t touch) applyTo(m bot.Member) bot.Member {
	if t.at.After(m.LastSeen) {
		m.LastSeen = t.at
	}
	if t.inboundAt.Valid && (m.LastInboundAt == nil || t.inboundAt.Time.After(*m.LastInboundAt)) {
		at := t.inboundAt.Time
		m.LastInboundAt = &at
	}
	return m
}

// later merges two touches of one member, keeping the later times.
func (t touch) later(o touch) touch {
	if o.at.After(t.at) {
		t.at = o.at
	}
	if o.inboundAt.Valid && (!t.inboundAt.Valid || o.inboundAt.Time.After(t.inboundAt.Time)) {
		t.inboundAt = o.inboundAt
	}
	return t
}

// touchMembers writes touches in one statement.
func (s *Store) touchMembers(ctx context.Context, ts []touch) error {
	ids, ats, inbound := make([]string, len(ts)), make([]time.Time, len(ts)), make([]sql.NullTime, len(ts))
	for k, t := range ts {
		ids[k], ats[k], inbound[k] = t.openID, t.at, t.inboundAt
	}
	stmt, err := s.prepared(ctx, sqlTouchMembers)
	if err == nil {
		_, err = stmt.ExecContext(ctx, pq.StringArray(ids), pq.Array(ats), pq.Array(inbound))
	}
	if err != nil {
		return fmt.Errorf("touch members: %w", err)
	}
	return nil
}
