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
	// sqlLockUnhandled locks, for each (member $1[i], push $2[i]), the
	// member's unhandled pushes up to that one, in the order they were sent.
	// FOR UPDATE makes a second handler (a retry, another process, the
	// sweeper) wait, and then skip the rows the first one handled:
	// PostgreSQL re-checks handled_at on the rows it waited for. Rows are
	// locked in (openid, at, id) order by every handler, so handlers wait
	// for each other instead of deadlocking.
	sqlLockUnhandled = `
SELECT m.id, m.openid, m.type, m.event, m.event_key, m.text, m.wechat_msg_id, m.lat, m.lng, m.at,
	m.media_id, m.pic_url, m.format, m.thumb_media_id, m.title, m.description, m.url, m.extra, m.dedupe_key
FROM unnest($1::text[], $2::text[]) AS t (openid, dedupe_key)
JOIN messages target ON target.dedupe_key = t.dedupe_key AND target.openid = t.openid
JOIN messages m ON m.openid = t.openid AND m.direction = 'in' AND m.handled_at IS NULL AND m.id <= target.id
ORDER BY m.openid, m.at, m.id
FOR UPDATE OF m`

	// A savepoint around each push's routing.
	sqlSavepoint         = `SAVEPOINT route`
	sqlReleaseSavepoint  = `RELEASE SAVEPOINT route`
	sqlRollbackSavepoint = `ROLLBACK TO SAVEPOINT route`

	// director: the openid is a director's (from the directors table, as
	// serve's knowledge base is): what they write is the association's
	// own, so it is never masked.
	sqlSelectMembers = `SELECT openid, first_seen, last_seen, subscribed, last_inbound_at, branch_id, no_broadcasts,
		consent, consent_version, consent_asked,
		EXISTS (SELECT 1 FROM directors d WHERE d.openid = members.openid AND d.openid <> '') AS director
		FROM members WHERE openid = ANY($1)`

	// sqlInsertOutbox writes outbox rows from the columns outboxColumns
	// gathers ($1…$17): a reply's rows in the handling transaction, and
	// the rows a case book enqueues.
	sqlInsertOutbox = `
INSERT INTO outbox (openid, kind, channel, fallback, text, template_id, template_url, template_data,
	cause_message_id, seq, intent, status, sent_at, next_attempt, case_id, media_kind, media_id, at_most_once)
SELECT openid, kind, channel, fallback, text, template_id, template_url, NULLIF(template_data, '')::jsonb,
	NULLIF(cause, 0), seq, intent, status, CASE WHEN status = 'answered' THEN now() END,
	now() + make_interval(secs => wait), NULLIF(case_id, 0), media_kind, media_id, at_most_once
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::bigint[], $10::int[], $11::text[], $12::text[], $13::float8[], $14::bigint[], $15::text[], $16::text[],
	$17::bool[])
	AS o (openid, kind, channel, fallback, text, template_id, template_url, template_data,
		cause, seq, intent, status, wait, case_id, media_kind, media_id, at_most_once)`

	// sqlWriteHandled marks pushes handled ($18, $19) and writes what they
	// caused to the outbox, in one statement of the handling transaction.
	sqlWriteHandled = `
WITH h AS (
	UPDATE messages m SET handled_at = now(), intent = u.intent
	FROM unnest($18::bigint[], $19::text[]) AS u (id, intent)
	WHERE m.id = u.id
)` + sqlInsertOutbox

	// sqlPassiveReplies are the passive replies earlier handlings gave
	// pushes: WeChat retrying a push means it did not get that answer, so
	// the retry gets it again.
	sqlPassiveReplies = `SELECT m.dedupe_key, o.text FROM outbox o JOIN messages m ON o.cause_message_id = m.id
	WHERE m.dedupe_key = ANY($1) AND o.seq = 0 AND o.kind = 'reply' AND o.channel = 'passive' AND o.status = 'answered'`

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
	OpenID       string          `db:"openid"`
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
	Extra        []byte          `db:"extra"`
	DedupeKey    string          `db:"dedupe_key"`
}

func (r keptRow) inbound() bot.Inbound {
	var extra map[string]string
	_ = json.Unmarshal(r.Extra, &extra) // written from a map of strings; NULL leaves it nil
	return bot.Inbound{
		OpenID: r.OpenID, Type: r.Type, Event: r.Event, EventKey: r.EventKey, Text: r.Text,
		MsgID: r.MsgID.Int64, Lat: r.Lat.Float64, Lng: r.Lng.Float64, Located: r.Lat.Valid && r.Lng.Valid,
		At: r.At, MediaID: r.MediaID, PicURL: r.PicURL, Format: r.Format, ThumbMediaID: r.ThumbMediaID,
		Title: r.Title, Description: r.Description, URL: r.URL, Extra: extra, DedupeKey: r.DedupeKey,
		StoredID: r.ID,
	}
}

// Handle handles a member's kept pushes up to the one with dedupeKey, in
// one transaction (see bot.Inbox).
func (s *Store) Handle(ctx context.Context, openID, dedupeKey string, passive bool, route bot.Route) (bot.Outcome, error) {
	outs, err := s.handle(ctx, []handleRequest{{openID: openID, dedupeKey: dedupeKey, passive: passive, route: route}})
	if err != nil {
		return bot.Outcome{}, err
	}
	return outs[0], nil
}

// handleRequest is one push to handle, with its member's earlier ones.
type handleRequest struct {
	openID, dedupeKey string
	passive           bool
	route             bot.Route
}

// handle handles pushes of distinct members in one transaction and returns
// each one's outcome, in the order of reqs.
func (s *Store) handle(ctx context.Context, reqs []handleRequest) ([]bot.Outcome, error) {
	outs := make([]bot.Outcome, len(reqs))
	err := s.Transact(ctx, func(tx *sqlx.Tx) error {
		clear(outs) // a deadlock retry starts again
		openIDs, keys := make(pq.StringArray, len(reqs)), make(pq.StringArray, len(reqs))
		of := make(map[string]int, len(reqs))
		for i, r := range reqs {
			openIDs[i], keys[i], of[r.openID] = r.openID, r.dedupeKey, i
		}
		var rows []keptRow
		if err := s.txSelect(ctx, tx, &rows, sqlLockUnhandled, openIDs, keys); err != nil {
			return err
		}
		var members []bot.Member
		if err := s.txSelect(ctx, tx, &members, sqlSelectMembers, openIDs); err != nil {
			return err
		}
		memberOf := make(map[string]bot.Member, len(members))
		for _, m := range members {
			memberOf[m.OpenID] = m
		}
		w := newHandledWriter(len(rows))
		cases := &txCases{s: s, tx: tx}
		for _, row := range rows {
			i := of[row.OpenID]
			r := reqs[i]
			member, ok := memberOf[row.OpenID]
			if !ok {
				member = bot.Member{OpenID: row.OpenID}
			}
			// A handler whose statement failed leaves the transaction
			// aborted; the savepoint takes back only its writes, so the
			// member still gets the router's apology and the other
			// members of the batch their answers.
			if _, err := tx.ExecContext(ctx, sqlSavepoint); err != nil {
				return err
			}
			// Without consent no phone number is kept, not even in what
			// the handlers write from the member's words (a case, an
			// alert), and a location serves this one look-up.
			in := row.inbound()
			consented := member.Consented() || member.Director
			if !consented {
				in.Text = s.phones.Mask(in.Text)
			}
			reply, u := r.route(ctx, in, member, cases)
			if _, err := tx.ExecContext(ctx, sqlReleaseSavepoint); err != nil {
				if _, err := tx.ExecContext(ctx, sqlRollbackSavepoint); err != nil {
					return err
				}
				reply.Sends = nil // what they were about did not happen
			}
			if !consented && (in.Text != row.Text || row.Lat.Valid) {
				kept := in.Text
				if row.Lat.Valid {
					kept = "" // a location's label is the place too
				}
				if err := cases.Minimise(ctx, row.ID, kept); err != nil {
					return err
				}
			}
			target := row.DedupeKey == r.dedupeKey
			w.add(row.ID, row.OpenID, reply, u.Intent, r.passive && target)
			if target {
				outs[i] = bot.Outcome{Now: true}
				if r.passive {
					outs[i].Reply = reply.Text
				}
			}
		}
		if err := s.passiveRepliesOf(ctx, tx, reqs, outs); err != nil {
			return err
		}
		return w.write(ctx, s, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("handle pushes: %w", err)
	}
	return outs, nil
}

// passiveRepliesOf fills in, for pushes an earlier handling took, the
// passive answer it gave: their retry gets it again.
func (s *Store) passiveRepliesOf(ctx context.Context, tx *sqlx.Tx, reqs []handleRequest, outs []bot.Outcome) error {
	var earlier pq.StringArray
	for i, r := range reqs {
		if !outs[i].Now {
			earlier = append(earlier, r.dedupeKey)
		}
	}
	if len(earlier) == 0 {
		return nil
	}
	var replies []struct {
		DedupeKey string `db:"dedupe_key"`
		Text      string `db:"text"`
	}
	if err := s.txSelect(ctx, tx, &replies, sqlPassiveReplies, earlier); err != nil {
		return err
	}
	for _, rep := range replies {
		for i, r := range reqs {
			if r.dedupeKey == rep.DedupeKey {
				outs[i].Reply = rep.Text
			}
		}
	}
	return nil
}

// outboxColumns gathers outbox rows as the arrays sqlInsertOutbox unnests.
type outboxColumns struct {
	openIDs, kinds, channels, fallbacks, texts pq.StringArray
	templateIDs, templateURLs, templateData    pq.StringArray
	intents, statuses, mediaKinds, mediaIDs    pq.StringArray
	causes, seqs, caseIDs                      []int64
	waits                                      []float64
	atMostOnce                                 pq.BoolArray
}

// add gathers one row: snd, caused by the push cause (0 for none) as its
// seq'th row, with status, due after wait.
func (c *outboxColumns) add(snd bot.Send, cause int64, seq int, intent, status string, wait time.Duration) {
	var tplID, tplURL, tplData string
	if snd.Template != nil {
		b, _ := json.Marshal(snd.Template.Data) // a map of strings always marshals
		tplID, tplURL, tplData = snd.Template.ID, snd.Template.URL, string(b)
	}
	channel := snd.Channel
	if channel == "" {
		channel = bot.ChannelCustomerService
	}
	c.openIDs, c.kinds, c.channels = append(c.openIDs, snd.OpenID), append(c.kinds, snd.Kind), append(c.channels, channel)
	c.fallbacks, c.texts = append(c.fallbacks, snd.Fallback), append(c.texts, snd.Text)
	c.templateIDs, c.templateURLs, c.templateData = append(c.templateIDs, tplID), append(c.templateURLs, tplURL), append(c.templateData, tplData)
	c.causes, c.seqs = append(c.causes, cause), append(c.seqs, int64(seq))
	c.intents, c.statuses = append(c.intents, intent), append(c.statuses, status)
	c.waits = append(c.waits, wait.Seconds())
	c.caseIDs = append(c.caseIDs, snd.CaseID)
	c.mediaKinds, c.mediaIDs = append(c.mediaKinds, snd.MediaKind), append(c.mediaIDs, snd.MediaID)
	c.atMostOnce = append(c.atMostOnce, snd.AtMostOnce)
}

func (c *outboxColumns) len() int { return len(c.openIDs) }

// args are sqlInsertOutbox's $1…$17.
func (c *outboxColumns) args() []any {
	return []any{c.openIDs, c.kinds, c.channels, c.fallbacks, c.texts, c.templateIDs, c.templateURLs, c.templateData,
		pq.Array(c.causes), pq.Array(c.seqs), c.intents, c.statuses, pq.Array(c.waits), pq.Array(c.caseIDs),
		c.mediaKinds, c.mediaIDs, c.atMostOnce}
}

// handledWriter gathers a transaction's handled pushes and outbox rows as
// the columns of sqlWriteHandled.
type handledWriter struct {
	ids     []int64
	intents []string
	rows    outboxColumns
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
	for i, text := range reply.Texts() {
		snd := bot.Send{OpenID: openID, Kind: KindReply, Channel: bot.ChannelCustomerService, Text: text}
		status := statusPending
		if i == 0 && passive && reply.Text != "" {
			snd.Channel, status = bot.ChannelPassive, statusAnswered
		}
		w.rows.add(snd, id, seq, string(intent), status, wait)
		if status == statusAnswered {
			wait = afterPassive
		}
		seq++
	}
	// Messages to others need not wait for this member's answer.
	for _, snd := range reply.Sends {
		w.rows.add(snd, id, seq, string(intent), statusPending, 0)
		seq++
	}
}

func (w *handledWriter) write(ctx context.Context, s *Store, tx *sqlx.Tx) error {
	stmt, err := s.inTx(ctx, tx, sqlWriteHandled)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(ctx, append(w.rows.args(), pq.Array(w.ids), pq.StringArray(w.intents))...)
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

// Unanswered is Store.Unanswered.
func (b *InboundBatcher) Unanswered(ctx context.Context, dedupeKey string) error {
	return b.st.Unanswered(ctx, dedupeKey)
}

// Unhandled is Store.Unhandled.
func (b *InboundBatcher) Unhandled(ctx context.Context, keptBefore time.Time, limit int) ([]bot.KeptPush, error) {
	return b.st.Unhandled(ctx, keptBefore, limit)
}
