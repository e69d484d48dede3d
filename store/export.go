package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

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

// ExportedCase is one of the member's cases in the copy: its log and
// what they sent as evidence, never the bytes.
type ExportedCase struct {
	Number    int64              `db:"number" json:"number"`
	Status    string             `db:"status" json:"status"`
	Category  string             `db:"category" json:"category"`
	Kind      string             `db:"kind" json:"kind"`
	Urgent    bool               `db:"urgent" json:"urgent"`
	Branch    string             `db:"branch_id" json:"branch"`
	CreatedAt time.Time          `db:"created_at" json:"created_at"`
	ClosedAt  *time.Time         `db:"closed_at" json:"closed_at"`
	Rating    int                `db:"rating" json:"rating"`
	Actions   []ExportedAction   `db:"-" json:"actions"`
	Evidence  []ExportedEvidence `db:"-" json:"evidence"`
}

// ExportedAction is one line of a case's log. Actor is "member", "bot" or
// "director": a director's openid is theirs, not the member's.
type ExportedAction struct {
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// ExportedEvidence is a photo, voice, video or file the member sent.
type ExportedEvidence struct {
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	Fetched bool      `json:"fetched"`
	Size    int       `json:"size"`
}

// Export is everything nuanjia holds about one member.
type Export struct {
	Member   bot.Member        `json:"member"`
	Profile  bot.Profile       `json:"profile"` // what 我的信息 shows
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
	SELECT 1, id, created_at, 'out',
		CASE WHEN channel = 'template' THEN 'template' WHEN media_kind <> '' THEN media_kind ELSE 'text' END, '', '', text,
		channel, status, intent, NULL, NULL, media_id, '', '', '', NULL, wechat_msg_id, COALESCE(sent_at, created_at)
	FROM outbox WHERE openid = $1
) AS m
ORDER BY written, side, id`

// The member's cases, oldest first, and their actions and evidence.
const (
	sqlExportCases = `SELECT id, number, status, category, kind, urgent, branch_id, created_at, closed_at, rating
	FROM cases WHERE openid = $1 ORDER BY created_at, id`

	sqlExportCaseActions = `SELECT a.case_id, a.action,
		CASE WHEN a.actor = $1 THEN 'member' WHEN a.actor = 'bot' THEN 'bot' ELSE 'director' END AS actor,
		a.text, a.at
	FROM case_actions a JOIN cases c ON c.id = a.case_id
	WHERE c.openid = $1 ORDER BY a.case_id, a.id`

	sqlExportCaseEvidence = `SELECT e.case_id, e.kind, e.at, e.fetched_at IS NOT NULL AS fetched, e.size
	FROM case_evidence e JOIN cases c ON c.id = e.case_id
	WHERE c.openid = $1 ORDER BY e.case_id, e.at, e.id`
)

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
	if err := tx.GetContext(ctx, &ex.Profile, sqlProfile, openID); err != nil {
		return ex, false, fmt.Errorf("export profile: %w", err)
	}
	if err := tx.SelectContext(ctx, &ex.Messages, sqlSelectMemberMessages, openID); err != nil {
		return ex, false, fmt.Errorf("export messages: %w", err)
	}
	if ex.Cases, err = exportCases(ctx, tx, openID); err != nil {
		return ex, false, err
	}
	return ex, true, nil
}

// exportCases reads the member's cases with their logs and evidence.
func exportCases(ctx context.Context, tx *sqlx.Tx, openID string) ([]ExportedCase, error) {
	var rows []struct {
		ID int64 `db:"id"`
		ExportedCase
	}
	if err := tx.SelectContext(ctx, &rows, sqlExportCases, openID); err != nil {
		return nil, fmt.Errorf("export cases: %w", err)
	}
	cases := make([]ExportedCase, len(rows))
	of := make(map[int64]*ExportedCase, len(rows))
	for i, r := range rows {
		cases[i] = r.ExportedCase
		cases[i].Actions, cases[i].Evidence = []ExportedAction{}, []ExportedEvidence{}
		of[r.ID] = &cases[i]
	}
	var actions []struct {
		CaseID int64     `db:"case_id"`
		Action string    `db:"action"`
		Actor  string    `db:"actor"`
		Text   string    `db:"text"`
		At     time.Time `db:"at"`
	}
	if err := tx.SelectContext(ctx, &actions, sqlExportCaseActions, openID); err != nil {
		return nil, fmt.Errorf("export case actions: %w", err)
	}
	for _, a := range actions {
		if c := of[a.CaseID]; c != nil {
			c.Actions = append(c.Actions, ExportedAction{Action: a.Action, Actor: a.Actor, Text: a.Text, At: a.At})
		}
	}
	var evidence []struct {
		CaseID  int64     `db:"case_id"`
		Kind    string    `db:"kind"`
		At      time.Time `db:"at"`
		Fetched bool      `db:"fetched"`
		Size    int       `db:"size"`
	}
	if err := tx.SelectContext(ctx, &evidence, sqlExportCaseEvidence, openID); err != nil {
		return nil, fmt.Errorf("export case evidence: %w", err)
	}
	for _, e := range evidence {
		if c := of[e.CaseID]; c != nil {
			c.Evidence = append(c.Evidence, ExportedEvidence{Kind: e.Kind, At: e.At, Fetched: e.Fetched, Size: e.Size})
		}
	}
	return cases, nil
}
