package store

import (
	"context"
	"fmt"
	"time"

	"nuanjia/bot"
)

// ExportedMessage is one message in a member's data-portability copy.
type ExportedMessage struct {
	Direction string    `db:"direction" json:"direction"`
	Type      string    `db:"type" json:"type"`
	Event     string    `db:"event" json:"event,omitempty"`
	EventKey  string    `db:"event_key" json:"event_key,omitempty"`
	Text      string    `db:"text" json:"text"`
	Channel   string    `db:"channel" json:"channel,omitempty"`
	Status    string    `db:"status" json:"status,omitempty"` // the bot's messages: answered, sent, pending, failed…
	Intent    string    `db:"intent" json:"intent,omitempty"`
	Lat       *float64  `db:"lat" json:"lat,omitempty"`
	Lng       *float64  `db:"lng" json:"lng,omitempty"`
	MediaID   string    `db:"media_id" json:"media_id,omitempty"`
	PicURL    string    `db:"pic_url" json:"pic_url,omitempty"`
	Title     string    `db:"title" json:"title,omitempty"`
	URL       string    `db:"url" json:"url,omitempty"`
	Extra     rawJSON   `db:"extra" json:"extra,omitempty"` // the rest of what WeChat sent
	WeChatID  *int64    `db:"wechat_msg_id" json:"wechat_msg_id,omitempty"`
	At        time.Time `db:"at" json:"at"`
}

// rawJSON is a jsonb column as the export shows it: its JSON as it is,
// left out when NULL.
type rawJSON []byte

// Scan reads the column's text.
func (r *rawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r = nil
	case []byte:
		*r = append(rawJSON(nil), v...)
	case string:
		*r = rawJSON(v)
	default:
		return fmt.Errorf("rawJSON: cannot scan %T", src)
	}
	return nil
}

// MarshalJSON writes the JSON unchanged.
func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// ExportedCase is one help request in the copy. Cases arrive with a later
// issue; the key is there now so the format does not change under members.
type ExportedCase struct {
	Number string `json:"number"`
	Status string `json:"status"`
}

// Export is everything nuanjia holds about one member.
type Export struct {
	Member   bot.Member        `json:"member"`
	Messages []ExportedMessage `json:"messages"`
	Cases    []ExportedCase    `json:"cases"`
}

const sqlSnapshot = `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`

// The member's messages and the bot's (outbox rows addressed to them), in
// the order nuanjia wrote them. A push's time is WeChat's whole second and
// a reply's is exact, so ordering by those could put a reply before the
// message it answers; the times nuanjia stored them cannot (a push is kept
// before the transaction that answers it starts).
const sqlSelectMemberMessages = `
SELECT direction, type, event, event_key, text, channel, status, intent, lat, lng,
	media_id, pic_url, title, url, extra, wechat_msg_id, at
FROM (
	SELECT 0 AS side, id, stored_at AS written, direction, type, event, event_key, text, channel,
		'' AS status, intent, lat, lng, media_id, pic_url, title, url, extra::text AS extra, wechat_msg_id, at
	FROM messages WHERE openid = $1
	UNION ALL
	SELECT 1, id, created_at, 'out', CASE WHEN channel = 'template' THEN 'template' ELSE 'text' END, '', '', text,
		channel, status, intent, NULL, NULL, '', '', '', '', NULL, wechat_msg_id, COALESCE(sent_at, created_at)
	FROM outbox WHERE openid = $1
) AS m
ORDER BY written, side, id`

// ExportMember gathers a member's data in one read-only snapshot. found is
// false when nuanjia holds nothing about that openid.
func (s *Store) ExportMember(ctx context.Context, openID string) (ex Export, found bool, err error) {
	ex = Export{Messages: []ExportedMessage{}, Cases: []ExportedCase{}}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return ex, false, err
	}
	defer tx.Rollback()
	// One snapshot, so a message arriving mid-export cannot show up without
	// its member or the other way round.
	if _, err := tx.ExecContext(ctx, sqlSnapshot); err != nil {
		return ex, false, err
	}
	if err := tx.GetContext(ctx, &ex.Member, sqlSelectMember, openID); err != nil {
		if isNoRows(err) {
			return ex, false, nil
		}
		return ex, false, fmt.Errorf("export member: %w", err)
	}
	if err := tx.SelectContext(ctx, &ex.Messages, sqlSelectMemberMessages, openID); err != nil {
		return ex, false, fmt.Errorf("export messages: %w", err)
	}
	return ex, true, nil
}
