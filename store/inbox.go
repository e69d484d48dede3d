package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

const (
	// sqlLockUnhandled locks a member's unhandled pushes up to the one with
	// dedupe key $2, in the order they were sent. FOR UPDATE makes a second handler (a
	// retry, another process, the sweeper) wait, and then skip the rows
	// the first one handled: PostgreSQL re-checks handled_at on the rows it
	// waited for.
	sqlLockUnhandled = `
SELECT id, type, event, event_key, text, wechat_msg_id, lat, lng, at,
	media_id, pic_url, format, thumb_media_id, title, description, url, dedupe_key
FROM messages
WHERE openid = $1 AND direction = 'in' AND handled_at IS NULL
	AND id <= (SELECT id FROM messages WHERE dedupe_key = $2)
ORDER BY at, id
FOR UPDATE`

	// sqlWriteHandled marks pushes handled and writes what they caused to
	// the outbox, in one statement of the handling transaction.
	sqlWriteHandled = `
WITH h AS (
	UPDATE messages m SET handled_at = now(), intent = u.intent
	FROM unnest($1::bigint[], $2::text[]) AS u (id, intent)
	WHERE m.id = u.id
)
INSERT INTO outbox (openid, kind, channel, fallback, text, template_id, template_url, template_data,
	cause_message_id, seq, intent, status, sent_at, next_attempt)
SELECT openid, kind, channel, fallback, text, template_id, template_url, NULLIF(template_data, '')::jsonb,
	cause, seq, intent, status, CASE WHEN status = 'answered' THEN now() END,
	now() + make_interval(secs => wait)
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
	$11::bigint[], $12::int[], $13::text[], $14::text[], $15::float8[])
	AS o (openid, kind, channel, fallback, text, template_id, template_url, template_data,
		cause, seq, intent, status, wait)`

	// sqlPassiveReply is the passive reply an earlier handling gave a
	// push: WeChat retrying the push means it did not get that answer, so
	// the retry gets it again.
	sqlPassiveReply = `SELECT o.text FROM outbox o JOIN messages m ON o.cause_message_id = m.id
	WHERE m.dedupe_key = $1 AND o.seq = 0 AND o.kind = 'reply' AND o.channel = 'passive' AND o.status = 'answered'`

	// sqlUnanswered turns a passive reply that could not be written into a
	// customer-service message, due at once.
	sqlUnanswered = `UPDATE outbox SET status = 'pending', channel = 'customer_service', next_attempt = now(), sent_at = NULL
	WHERE cause_message_id = (SELECT id FROM messages WHERE dedupe_key = $1)
		AND seq = 0 AND channel = 'passive' AND status = 'answered'`

	sqlUnhandled = `SELECT openid, dedupe_key FROM messages
	WHERE handled_at IS NULL AND stored_at < $1 ORDER BY stored_at LIMIT $2`

	sqlCountUnhandled = `SELECT count(*) FROM messages WHERE handled_at IS NULL`
)

// afterPassive is how long texts that follow a passive answer wait, so the
// answer, written a few milliseconds after the commit, reaches the member
// first. Were it not written, it becomes due at once and, being earlier,
// still goes first: the sender keeps a member's rows in order.
const afterPassive = time.Second

// Outbox row kinds and statuses this file writes.
const (
	KindReply      = "reply"
	statusAnswered = "answered"
	statusPending  = "pending"
)

// keptRow is a kept push as sqlLockUnhandled reads it back.
type keptRow struct {
	ID           int64           `db:"id"`
	Type         string          `db:"type"`
	Event        string          `db:"event"`
	EventKey     string          `db:"event_key"`
	Text         string          `db:"text"`
	MsgID        sql.NullInt64   `db:"wechat_msg_id"`
	Lat          sql.NullFloat64 `db:"lat"`
	Lng          sql.NullFloat64 `db:"lng"`
	At           time.Time       `db:"at"`
	MediaID      string          `db:"media_id"`
	PicURL       string          `db:"pic_url"`
	Format       string          `db:"format"`
	ThumbMediaID string          `db:"thumb_media_id"`
	Title        string          `db:"title"`
	Description  string          `db:"description"`
	URL          string          `db:"url"`
	DedupeKey    string          `db:"dedupe_key"`
}

func (r keptRow) inbound(openID string) bot.Inbound {
	return bot.Inbound{
		OpenID: openID, Type: r.Type, Event: r.Event, EventKey: r.EventKey, Text: r.Text,
		MsgID: r.MsgID.Int64, Lat: r.Lat.Float64, Lng: r.Lng.Float64, Located: r.Lat.Valid && r.Lng.Valid,
		At: r.At, MediaID: r.MediaID, PicURL: r.PicURL, Format: r.Format, ThumbMediaID: r.ThumbMediaID,
		Title: r.Title, Description: r.Description, URL: r.URL, DedupeKey: r.DedupeKey,
	}
}

// Handle handles a member's kept pushes up to the one with dedupeKey, in
// one transaction (see bot.Inbox).
func (s *Store) Handle(ctx context.Context, openID, dedupeKey string, passive bool, route bot.Route) (out bot.Outcome, err error) {
	err = s.Transact(ctx, func(tx *sqlx.Tx) error {
		var rows []keptRow
		if err := s.txSelect(ctx, tx, &rows, sqlLockUnhandled, openID, dedupeKey); err != nil {
			return err
		}
		if len(rows) == 0 {
			// Handled earlier: a retry gets the passive reply again.
			out = bot.Outcome{}
			err := s.txGet(ctx, tx, &out.Reply, sqlPassiveReply, dedupeKey)
			if isNoRows(err) {
				return nil
			}
			return err
		}
		var member bot.Member
		err := s.txGet(ctx, tx, &member, sqlSelectMember, openID)
		if isNoRows(err) {
			member, err = bot.Member{OpenID: openID}, nil
		}
		if err != nil {
			return err
		}
		w := newHandledWriter(len(rows))
		for _, r := range rows {
			in := r.inbound(openID)
			reply, u := route(ctx, in, member)
			target := r.DedupeKey == dedupeKey
			w.add(r.ID, openID, reply, u.Intent, passive && target)
			if target {
				out = bot.Outcome{Now: true}
				if passive {
					out.Reply = reply.Text
				}
			}
		}
		return w.write(ctx, s, tx)
	})
	if err != nil {
		return bot.Outcome{}, fmt.Errorf("handle push: %w", err)
	}
	return out, nil
}

// handledWriter gathers a transaction's handled pushes and outbox rows as
// the columns of sqlWriteHandled.
type handledWriter struct {
	ids                                             []int64
	intents                                         []string
	openIDs, kinds, channels, fallbacks, texts      pq.StringArray
	templateIDs, templateURLs, templateData, status pq.StringArray
	rowIntents                                      pq.StringArray
	causes                                          []int64
	seqs                                            []int64
	waits                                           []float64
}

func newHandledWriter(n int) *handledWriter {
	return &handledWriter{ids: make([]int64, 0, n), intents: make([]string, 0, n)}
}

// add records one handled push and the rows its reply causes: the member's
// texts first, then the messages to others. With passive, the first text
// is the HTTP answer about to be written, recorded as answered in this
// transaction: a crash before the write leaves WeChat to retry the push,
// and the retry gets the same answer; a write that fails is turned into a
// customer-service message (Unanswered).
func (w *handledWriter) add(id int64, openID string, reply bot.Reply, intent bot.Intent, passive bool) {
	w.ids, w.intents = append(w.ids, id), append(w.intents, string(intent))
	seq := 0
	var wait time.Duration // rows after a passive answer wait for it
	row := func(to, kind, channel, fallback, text string, tpl *bot.Template, status string) {
		var tplID, tplURL, tplData string
		if tpl != nil {
			b, _ := json.Marshal(tpl.Data) // a map of strings always marshals
			tplID, tplURL, tplData = tpl.ID, tpl.URL, string(b)
		}
		w.openIDs, w.kinds, w.channels = append(w.openIDs, to), append(w.kinds, kind), append(w.channels, channel)
		w.fallbacks, w.texts = append(w.fallbacks, fallback), append(w.texts, text)
		w.templateIDs, w.templateURLs, w.templateData = append(w.templateIDs, tplID), append(w.templateURLs, tplURL), append(w.templateData, tplData)
		w.causes, w.seqs = append(w.causes, id), append(w.seqs, int64(seq))
		w.rowIntents, w.status = append(w.rowIntents, string(intent)), append(w.status, status)
		w.waits = append(w.waits, wait.Seconds())
		seq++
	}
	for i, text := range reply.Texts() {
		switch {
		case i == 0 && passive && reply.Text != "":
			row(openID, KindReply, bot.ChannelPassive, "", text, nil, statusAnswered)
			wait = afterPassive
		default:
			row(openID, KindReply, bot.ChannelCustomerService, "", text, nil, statusPending)
		}
	}
	wait = 0 // messages to others need not wait for this member's answer
	for _, snd := range reply.Sends {
		channel := snd.Channel
		if channel == "" {
			channel = bot.ChannelCustomerService
		}
		row(snd.OpenID, snd.Kind, channel, snd.Fallback, snd.Text, snd.Template, statusPending)
	}
}

func (w *handledWriter) write(ctx context.Context, s *Store, tx *sqlx.Tx) error {
	stmt, err := s.inTx(ctx, tx, sqlWriteHandled)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(ctx, pq.Array(w.ids), pq.StringArray(w.intents),
		w.openIDs, w.kinds, w.channels, w.fallbacks, w.texts, w.templateIDs, w.templateURLs, w.templateData,
		pq.Array(w.causes), pq.Array(w.seqs), w.rowIntents, w.status, pq.Array(w.waits))
	return err
}

// Unanswered turns the push's passive reply, which could not be written,
// into a customer-service message due at once.
func (s *Store) Unanswered(ctx context.Context, dedupeKey string) error {
	if _, err := s.db.ExecContext(ctx, sqlUnanswered, dedupeKey); err != nil {
		return fmt.Errorf("release held reply: %w", err)
	}
	return nil
}

// Unhandled lists pushes kept before keptBefore and not handled yet.
func (s *Store) Unhandled(ctx context.Context, keptBefore time.Time, limit int) ([]bot.KeptPush, error) {
	var out []bot.KeptPush
	if err := s.db.SelectContext(ctx, &out, sqlUnhandled, keptBefore, limit); err != nil {
		return nil, fmt.Errorf("list unhandled pushes: %w", err)
	}
	return out, nil
}

// CountUnhandled is how many kept pushes are not handled yet: a few in
// flight normally, more after a crash until the sweeper is done.
func (s *Store) CountUnhandled(ctx context.Context) (int, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, sqlCountUnhandled); err != nil {
		return 0, fmt.Errorf("count unhandled pushes: %w", err)
	}
	return n, nil
}

// The InboundBatcher is the webhook's bot.Inbox: it batches keeping, and
// hands the rest to the store.

// Handle is Store.Handle.
func (b *InboundBatcher) Handle(ctx context.Context, openID, dedupeKey string, passive bool, route bot.Route) (bot.Outcome, error) {
	return b.st.Handle(ctx, openID, dedupeKey, passive, route)
}

// Unanswered is Store.Unanswered.
func (b *InboundBatcher) Unanswered(ctx context.Context, dedupeKey string) error {
	return b.st.Unanswered(ctx, dedupeKey)
}

// Unhandled is Store.Unhandled.
func (b *InboundBatcher) Unhandled(ctx context.Context, keptBefore time.Time, limit int) ([]bot.KeptPush, error) {
	return b.st.Unhandled(ctx, keptBefore, limit)
}
