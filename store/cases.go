package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

// The case book (bot.Cases, bot.CaseClock) inside one transaction: the
// handling transaction's, or one WithCases opens for the case clock.

// caseColumns reads a case of the cases table aliased c. Erasing a member
// clears openid and member_no, which bot.Case holds as "" and 0.
const caseColumns = `c.id, c.number, COALESCE(c.openid, '') AS openid, COALESCE(c.member_no, 0) AS member_no,
	c.branch_id, c.category, c.urgent, c.kind, c.status, c.assignee, c.summary, c.rating,
	c.created_at, c.updated_at, c.accepted_at, c.closed_at, c.last_reply_at,
	c.alerted_at, c.escalated_at, c.reminded_at, c.unreached_at`

// caseFilter is a CaseQuery's WHERE: $1 branches, $2 statuses (NULL for
// any), $3 assignee (empty for anyone's), $4 created since (NULL for ever).
const caseFilter = `($1::text[] IS NULL OR c.branch_id = ANY($1))
	AND ($2::text[] IS NULL OR c.status = ANY($2))
	AND ($3 = '' OR c.assignee = $3)
	AND ($4::timestamptz IS NULL OR c.created_at >= $4)`

// mediaTypes are the pushes that can be a case's evidence.
const mediaTypes = `('image', 'voice', 'video', 'shortvideo', 'file')`

// evidenceRecent is how far before the push that opens a case the
// member's media are taken as part of it: people send the photo of the
// wage slip first and then say what it is.
const evidenceRecent = 5 * time.Minute

const (
	// sqlGiveMemberNo gives the member a number unless they have one, and
	// returns it; a stranger (a director's tool, a test) gets a members row.
	// Under a concurrent first number the statement's snapshot sees neither
	// its own row nor the other's: it returns nothing, and is run again.
	sqlGiveMemberNo = `
WITH given AS (
	UPDATE members SET member_no = nextval('member_numbers')
	WHERE openid = $1 AND member_no IS NULL
	RETURNING member_no
), added AS (
	INSERT INTO members (openid, first_seen, last_seen, member_no)
	SELECT $1, now(), now(), nextval('member_numbers')
	WHERE NOT EXISTS (SELECT 1 FROM members WHERE openid = $1)
	ON CONFLICT (openid) DO NOTHING
	RETURNING member_no
)
SELECT member_no FROM given
UNION ALL SELECT member_no FROM added
UNION ALL SELECT member_no FROM members WHERE openid = $1 AND member_no IS NOT NULL`

	// sqlOpenCase inserts a case unless the member has one that is not
	// closed. The NOT EXISTS spares a case number in the usual refusal;
	// ON CONFLICT covers a concurrent open without aborting the
	// transaction, which a handler still uses for the case they have.
	sqlOpenCase = `
INSERT INTO cases AS c (openid, member_no, branch_id, category, urgent, kind, status, summary)
SELECT $1::text, $2::bigint, $3::text, $4::text, $5::boolean, $6::text, 'open', $7::text
WHERE NOT EXISTS (SELECT 1 FROM cases WHERE openid = $1 AND status <> 'closed')
ON CONFLICT (openid) WHERE status <> 'closed' DO NOTHING
RETURNING ` + caseColumns

	// sqlAttachRecentMedia makes the member's media pushes sent between
	// $3 and $4 (WeChat's times, like NewCase.At; the times nuanjia stored
	// them can be much later, after a spool replay) evidence of case $1,
	// each with its log line. A file has no MediaId: it is kept as given
	// up, so the fetcher never tries it.
	sqlAttachRecentMedia = `
WITH e AS (
	INSERT INTO case_evidence (case_id, message_id, openid, kind, media_id, at, expires, failed, last_error)
	SELECT $1, m.id, m.openid, m.type, m.media_id, m.at, m.at + make_interval(secs => $5),
		m.media_id = '', CASE WHEN m.media_id = '' THEN 'no media id' ELSE '' END
	FROM messages m
	WHERE m.openid = $2 AND m.direction = 'in' AND m.type IN ` + mediaTypes + `
		AND m.at >= $3 AND m.at <= $4
		AND NOT EXISTS (SELECT 1 FROM case_evidence x WHERE x.message_id = m.id)
	ORDER BY m.at, m.id
	ON CONFLICT (message_id) DO NOTHING
	RETURNING case_id, openid, kind, id
), logged AS (
	INSERT INTO case_actions (case_id, action, actor, text)
	SELECT case_id, 'evidence', openid, kind FROM e ORDER BY id
)
SELECT count(*) FROM e`

	// sqlAttach makes one push evidence of a case, once: a second attach
	// of the same push writes nothing, not even a log line.
	sqlAttach = `
WITH e AS (
	INSERT INTO case_evidence (case_id, message_id, openid, kind, media_id, at, expires, failed, last_error)
	VALUES ($1, $2, $3, $4, $5, $6, $6::timestamptz + make_interval(secs => $7), $5 = '',
		CASE WHEN $5 = '' THEN 'no media id' ELSE '' END)
	ON CONFLICT (message_id) DO NOTHING
	RETURNING case_id, openid, kind
), logged AS (
	INSERT INTO case_actions (case_id, action, actor, text)
	SELECT case_id, 'evidence', openid, kind FROM e
)
UPDATE cases SET updated_at = now() WHERE id = (SELECT case_id FROM e)`

	sqlCurrentCase = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.openid = $1 AND c.status <> 'closed' FOR UPDATE`

	sqlCaseByNumber = `SELECT ` + caseColumns + ` FROM cases c WHERE c.number = $1 FOR UPDATE`
	sqlCaseByID     = `SELECT ` + caseColumns + ` FROM cases c WHERE c.id = $1 FOR UPDATE`

	sqlSaveCase = `UPDATE cases SET branch_id = $2, category = $3, urgent = $4, kind = $5, status = $6,
		assignee = $7, summary = $8, rating = $9, accepted_at = $10, closed_at = $11, last_reply_at = $12,
		alerted_at = $13, escalated_at = $14, reminded_at = $15, unreached_at = $16, updated_at = now()
	WHERE id = $1`

	sqlLogCase = `
WITH a AS (
	INSERT INTO case_actions (case_id, action, actor, text) VALUES ($1, $2, $3, $4) RETURNING case_id
)
UPDATE cases SET updated_at = now() WHERE id = (SELECT case_id FROM a)`

	// sqlFindCases counts the matches in the same scan: the window is
	// computed before the LIMIT ($5, NULL for none).
	sqlFindCases = `SELECT ` + caseColumns + `, count(*) OVER () AS total FROM cases c
	WHERE ` + caseFilter + `
	ORDER BY c.urgent DESC, c.created_at, c.id
	LIMIT $5`

	sqlListCases = `SELECT ` + caseColumns + ` FROM cases c
	WHERE ` + caseFilter + `
	ORDER BY c.created_at, c.id
	LIMIT $5`

	sqlMemberCases = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.openid = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT $2`

	sqlLastActions = `SELECT case_id, action, actor, text, at FROM (
		SELECT id, case_id, action, actor, text, at FROM case_actions
		WHERE case_id = $1 ORDER BY id DESC LIMIT $2
	) a ORDER BY id`

	sqlCaseEvidence = `SELECT id, case_id, message_id, kind, media_id, at, expires, size,
		fetched_at IS NOT NULL AS fetched
	FROM case_evidence WHERE case_id = $1 ORDER BY at, id`

	// sqlLastLocation: only location messages and the LOCATION and
	// location_select events have coordinates.
	sqlLastLocation = `SELECT lat, lng FROM messages
	WHERE openid = $1 AND direction = 'in' AND lat IS NOT NULL AND lng IS NOT NULL
	ORDER BY at DESC, id DESC LIMIT 1`

	sqlConversation = `SELECT openid, topic, state, COALESCE(case_id, 0) AS case_id, text, until
	FROM conversations WHERE openid = $1 AND topic = $2 AND until > now()`

	sqlSetConversation = `INSERT INTO conversations (openid, topic, state, case_id, text, until)
	VALUES ($1, $2, $3, NULLIF($4, 0), $5, $6)
	ON CONFLICT (openid, topic) DO UPDATE SET
		state = EXCLUDED.state, case_id = EXCLUDED.case_id, text = EXCLUDED.text, until = EXCLUDED.until`

	sqlEndConversation = `DELETE FROM conversations WHERE openid = $1 AND topic = $2`

	sqlCorrect = `INSERT INTO nlu_corrections (case_id, openid, text, intent, category, actor)
		VALUES (NULLIF($1, 0), NULLIF($2, ''), $3, $4, $5, $6)`

	// sqlCorrections are the intent corrections, oldest first, as training
	// examples (the latest word on a text wins in training by coming last).
	sqlCorrections = `SELECT text, intent FROM nlu_corrections WHERE intent <> '' ORDER BY id`

	// sqlMemberWithWindow is the member with their last message read from
	// the messages too: the push writer moves members.last_inbound_at
	// forward in bulk, a fraction of a second late, and a director
	// answering a member's first message at once must see it.
	sqlMemberWithWindow = `SELECT openid, first_seen, last_seen, subscribed,
		GREATEST(last_inbound_at, (SELECT max(g.at) FROM messages g
			WHERE g.openid = mb.openid AND g.direction = 'in' AND g.type <> 'event')) AS last_inbound_at,
		branch_id, no_broadcasts
	FROM members mb WHERE openid = $1`

	// The case clock's lists. Each locks what it returns and skips what
	// another clock holds, so two clocks never do the same one-off work.

	// sqlUnaccepted counts from the latest alert (a case moved to another
	// branch, or reopened, waits afresh there), else from its opening.
	sqlUnaccepted = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.status = 'open' AND c.escalated_at IS NULL
		AND COALESCE(c.alerted_at, c.created_at) < now() - make_interval(secs => CASE WHEN c.urgent THEN $2::float8 ELSE $1::float8 END)
	ORDER BY c.urgent DESC, c.created_at, c.id
	LIMIT $3
	FOR UPDATE OF c SKIP LOCKED`

	// sqlUnreplied: a reply before the acceptance (the case was reopened,
	// or moved and accepted again) does not count.
	sqlUnreplied = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.status = 'accepted' AND c.reminded_at IS NULL
		AND c.accepted_at < now() - make_interval(secs => $1)
		AND (c.last_reply_at IS NULL OR c.last_reply_at < c.accepted_at)
	ORDER BY c.accepted_at, c.id
	LIMIT $2
	FOR UPDATE OF c SKIP LOCKED`

	// sqlQuestionsToAlert: questions are alerted per branch in batches,
	// once the branch's oldest waiting one has waited $1. Urgent ones are
	// alerted at once, by the handler.
	sqlQuestionsToAlert = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.kind = 'question' AND c.status = 'open' AND c.alerted_at IS NULL AND NOT c.urgent
		AND c.branch_id IN (
			SELECT q.branch_id FROM cases q
			WHERE q.kind = 'question' AND q.status = 'open' AND q.alerted_at IS NULL AND NOT q.urgent
			GROUP BY q.branch_id
			HAVING min(q.created_at) <= now() - make_interval(secs => $1))
	ORDER BY c.created_at, c.id
	LIMIT $2
	FOR UPDATE OF c SKIP LOCKED`

	// sqlUnreached: an alert still pending or being sent may yet arrive,
	// and one that was sent did; a case someone accepted reached them.
	sqlUnreached = `SELECT ` + caseColumns + ` FROM cases c
	WHERE c.status = 'open' AND c.unreached_at IS NULL
		AND EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.kind = 'alert' AND o.status = 'failed')
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND o.kind = 'alert'
			AND o.status IN ('pending', 'sending', 'sent', 'answered'))
	ORDER BY c.created_at, c.id
	LIMIT $1
	FOR UPDATE OF c SKIP LOCKED`

	// sqlUndeliveredReplies takes failed replies to members, marks them
	// followed up, and returns each with its case.
	sqlUndeliveredReplies = `
WITH r AS (
	SELECT o.id, o.case_id, o.failed_reason FROM outbox o
	WHERE o.case_id IS NOT NULL AND o.status = 'failed' AND o.followed_up_at IS NULL AND o.kind = 'case_reply'
	ORDER BY o.id
	LIMIT $1
	FOR UPDATE OF o SKIP LOCKED
), marked AS (
	UPDATE outbox o SET followed_up_at = now() FROM r WHERE o.id = r.id
)
SELECT ` + caseColumns + `, r.failed_reason FROM r JOIN cases c ON c.id = r.case_id ORDER BY r.id`
)

// WithCases runs fn with the case book in one transaction, committed when
// fn returns nil: the case clock's unit of work.
func (s *Store) WithCases(ctx context.Context, fn func(bot.CaseClock) error) error {
	return s.Transact(ctx, func(tx *sqlx.Tx) error { return fn(&txCases{s: s, tx: tx}) })
}

// ListCases lists the cases q selects, oldest first, for reports.
func (s *Store) ListCases(ctx context.Context, q bot.CaseQuery) ([]bot.Case, error) {
	out := []bot.Case{}
	if err := s.db.SelectContext(ctx, &out, sqlListCases, caseQueryArgs(q)...); err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	return out, nil
}

// txCases is the case book inside tx.
type txCases struct {
	s  *Store
	tx *sqlx.Tx
}

var _ bot.CaseClock = (*txCases)(nil)

func (c *txCases) get(ctx context.Context, dest any, query string, args ...any) error {
	return c.s.txGet(ctx, c.tx, dest, query, args...)
}

func (c *txCases) sel(ctx context.Context, dest any, query string, args ...any) error {
	return c.s.txSelect(ctx, c.tx, dest, query, args...)
}

func (c *txCases) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.s.inTx(ctx, c.tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// OpenCase opens a case (see bot.Cases). A member with a case that is not
// closed gets that case, locked, and bot.ErrCaseOpen.
func (c *txCases) OpenCase(ctx context.Context, nc bot.NewCase) (bot.Case, error) {
	memberNo, err := c.MemberNo(ctx, nc.OpenID)
	if err != nil {
		return bot.Case{}, fmt.Errorf("open case: %w", err)
	}
	var opened bot.Case
	err = c.get(ctx, &opened, sqlOpenCase, nc.OpenID, memberNo, nc.BranchID, nc.Category, nc.Urgent, nc.Kind, nc.Summary)
	if isNoRows(err) {
		current, ok, err := c.CurrentCase(ctx, nc.OpenID)
		if err != nil {
			return bot.Case{}, fmt.Errorf("open case: %w", err)
		}
		if !ok {
			// It was closed between the two statements; the member asks
			// again and gets one.
			return bot.Case{}, fmt.Errorf("open case: %w", bot.ErrCaseOpen)
		}
		return current, bot.ErrCaseOpen
	}
	if err != nil {
		return bot.Case{}, fmt.Errorf("open case: %w", err)
	}
	if _, err := c.exec(ctx, sqlLogCase, opened.ID, bot.ActionOpened, nc.OpenID, nc.Summary); err != nil {
		return bot.Case{}, fmt.Errorf("open case: log: %w", err)
	}
	at := nc.At
	if at.IsZero() {
		at = time.Now()
	}
	var attached int
	if err := c.get(ctx, &attached, sqlAttachRecentMedia, opened.ID, nc.OpenID, at.Add(-evidenceRecent), at,
		bot.MediaLifetime.Seconds()); err != nil {
		return bot.Case{}, fmt.Errorf("open case: attach recent media: %w", err)
	}
	return opened, nil
}

func (c *txCases) CurrentCase(ctx context.Context, openID string) (bot.Case, bool, error) {
	return c.oneCase(ctx, "current case", sqlCurrentCase, openID)
}

func (c *txCases) CaseByNumber(ctx context.Context, number int64) (bot.Case, bool, error) {
	return c.oneCase(ctx, "case by number", sqlCaseByNumber, number)
}

func (c *txCases) CaseByID(ctx context.Context, id int64) (bot.Case, bool, error) {
	return c.oneCase(ctx, "case by id", sqlCaseByID, id)
}

func (c *txCases) oneCase(ctx context.Context, what, query string, arg any) (bot.Case, bool, error) {
	var k bot.Case
	err := c.get(ctx, &k, query, arg)
	if isNoRows(err) {
		return bot.Case{}, false, nil
	}
	if err != nil {
		return bot.Case{}, false, fmt.Errorf("%s: %w", what, err)
	}
	return k, true, nil
}

func (c *txCases) SaveCase(ctx context.Context, k bot.Case) error {
	res, err := c.exec(ctx, sqlSaveCase, k.ID, k.BranchID, k.Category, k.Urgent, k.Kind, k.Status,
		k.Assignee, k.Summary, k.Rating, k.AcceptedAt, k.ClosedAt, k.LastReplyAt,
		k.AlertedAt, k.EscalatedAt, k.RemindedAt, k.UnreachedAt)
	if err != nil {
		return fmt.Errorf("save case %d: %w", k.Number, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("save case %d: no such case (id %d)", k.Number, k.ID)
	}
	return nil
}

func (c *txCases) Log(ctx context.Context, caseID int64, action, actor, text string) error {
	if _, err := c.exec(ctx, sqlLogCase, caseID, action, actor, text); err != nil {
		return fmt.Errorf("log %s on case id %d: %w", action, caseID, err)
	}
	return nil
}

func (c *txCases) FindCases(ctx context.Context, q bot.CaseQuery) ([]bot.Case, int, error) {
	var rows []struct {
		bot.Case
		Total int `db:"total"`
	}
	if err := c.sel(ctx, &rows, sqlFindCases, caseQueryArgs(q)...); err != nil {
		return nil, 0, fmt.Errorf("find cases: %w", err)
	}
	out := make([]bot.Case, len(rows))
	total := 0
	for i, r := range rows {
		out[i], total = r.Case, r.Total
	}
	return out, total, nil
}

// caseQueryArgs are caseFilter's $1…$4 and the LIMIT $5.
func caseQueryArgs(q bot.CaseQuery) []any {
	var since sql.NullTime
	if !q.Since.IsZero() {
		since = sql.NullTime{Time: q.Since, Valid: true}
	}
	return []any{pq.StringArray(q.Branches), pq.StringArray(q.Statuses), q.Assignee, since, limitOf(q.Limit)}
}

// limitOf is a LIMIT parameter: NULL, no limit, for 0.
func limitOf(n int) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(n), Valid: n > 0}
}

func (c *txCases) MemberCases(ctx context.Context, openID string, limit int) ([]bot.Case, error) {
	var out []bot.Case
	if err := c.sel(ctx, &out, sqlMemberCases, openID, limitOf(limit)); err != nil {
		return nil, fmt.Errorf("member's cases: %w", err)
	}
	return out, nil
}

func (c *txCases) LastActions(ctx context.Context, caseID int64, limit int) ([]bot.CaseAction, error) {
	var out []bot.CaseAction
	if err := c.sel(ctx, &out, sqlLastActions, caseID, limitOf(limit)); err != nil {
		return nil, fmt.Errorf("case actions: %w", err)
	}
	return out, nil
}

// Attach makes msg, a kept media push, evidence of the case; again for
// the same push it does nothing.
func (c *txCases) Attach(ctx context.Context, caseID int64, msg bot.Inbound) error {
	if msg.StoredID == 0 {
		return errors.New("attach evidence: the push is not kept (no StoredID)")
	}
	if !isMedia(msg.Type) {
		return fmt.Errorf("attach evidence: a %s push is not media", msg.Type)
	}
	if _, err := c.exec(ctx, sqlAttach, caseID, msg.StoredID, msg.OpenID, msg.Type, msg.MediaID, msg.At,
		bot.MediaLifetime.Seconds()); err != nil {
		return fmt.Errorf("attach evidence: %w", err)
	}
	return nil
}

func isMedia(typ string) bool {
	switch typ {
	case bot.TypeImage, bot.TypeVoice, bot.TypeVideo, bot.TypeShortVideo, bot.TypeFile:
		return true
	}
	return false
}

func (c *txCases) CaseEvidence(ctx context.Context, caseID int64) ([]bot.Evidence, error) {
	var out []bot.Evidence
	if err := c.sel(ctx, &out, sqlCaseEvidence, caseID); err != nil {
		return nil, fmt.Errorf("case evidence: %w", err)
	}
	return out, nil
}

// memberNoAttempts bounds sqlGiveMemberNo's reruns; a second run sees the
// concurrent number committed.
const memberNoAttempts = 3

func (c *txCases) MemberNo(ctx context.Context, openID string) (int64, error) {
	for range memberNoAttempts {
		var no int64
		err := c.get(ctx, &no, sqlGiveMemberNo, openID)
		if err == nil {
			return no, nil
		}
		if !isNoRows(err) {
			return 0, fmt.Errorf("member number: %w", err)
		}
	}
	return 0, fmt.Errorf("member number of %s: not given after %d attempts", openID, memberNoAttempts)
}

func (c *txCases) MemberOf(ctx context.Context, openID string) (bot.Member, bool, error) {
	var m bot.Member
	err := c.get(ctx, &m, sqlMemberWithWindow, openID)
	if isNoRows(err) {
		return bot.Member{OpenID: openID}, false, nil
	}
	if err != nil {
		return bot.Member{}, false, fmt.Errorf("load member: %w", err)
	}
	return m, true, nil
}

func (c *txCases) LastLocation(ctx context.Context, openID string) (lat, lng float64, ok bool, err error) {
	var p struct {
		Lat float64 `db:"lat"`
		Lng float64 `db:"lng"`
	}
	err = c.get(ctx, &p, sqlLastLocation, openID)
	if isNoRows(err) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("last location: %w", err)
	}
	return p.Lat, p.Lng, true, nil
}

// Conversation is the one on topic that has not run out.
func (c *txCases) Conversation(ctx context.Context, openID, topic string) (bot.Conversation, bool, error) {
	var conv bot.Conversation
	err := c.get(ctx, &conv, sqlConversation, openID, topic)
	if isNoRows(err) {
		return bot.Conversation{}, false, nil
	}
	if err != nil {
		return bot.Conversation{}, false, fmt.Errorf("conversation: %w", err)
	}
	return conv, true, nil
}

func (c *txCases) SetConversation(ctx context.Context, conv bot.Conversation) error {
	if conv.Until.IsZero() {
		return fmt.Errorf("set conversation %s/%s: no until", conv.OpenID, conv.Topic)
	}
	if _, err := c.exec(ctx, sqlSetConversation, conv.OpenID, conv.Topic, conv.State, conv.CaseID, conv.Text, conv.Until); err != nil {
		return fmt.Errorf("set conversation: %w", err)
	}
	return nil
}

func (c *txCases) Correct(ctx context.Context, k bot.Correction) error {
	if _, err := c.exec(ctx, sqlCorrect, k.CaseID, k.OpenID, k.Text, string(k.Intent), k.Category, k.Actor); err != nil {
		return fmt.Errorf("correct: %w", err)
	}
	return nil
}

// Corrections are directors' intent corrections as labelled examples.
func (s *Store) Corrections(ctx context.Context) ([]bot.Correction, error) {
	var rows []struct {
		Text   string `db:"text"`
		Intent string `db:"intent"`
	}
	if err := s.db.SelectContext(ctx, &rows, sqlCorrections); err != nil {
		return nil, fmt.Errorf("corrections: %w", err)
	}
	out := make([]bot.Correction, len(rows))
	for i, r := range rows {
		out[i] = bot.Correction{Text: r.Text, Intent: bot.Intent(r.Intent)}
	}
	return out, nil
}

func (c *txCases) EndConversation(ctx context.Context, openID, topic string) error {
	if _, err := c.exec(ctx, sqlEndConversation, openID, topic); err != nil {
		return fmt.Errorf("end conversation: %w", err)
	}
	return nil
}

// Enqueue writes sends as outbox rows due now, through the same columns
// as a reply's.
func (c *txCases) Enqueue(ctx context.Context, sends []bot.Send) error {
	if len(sends) == 0 {
		return nil
	}
	var rows outboxColumns
	for i, snd := range sends {
		rows.add(snd, 0, i, "", statusPending, 0)
	}
	if _, err := c.exec(ctx, sqlInsertOutbox, rows.args()...); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	return nil
}

func (c *txCases) Unaccepted(ctx context.Context, sla, urgentSLA time.Duration, limit int) ([]bot.Case, error) {
	return c.clockList(ctx, "unaccepted cases", sqlUnaccepted, sla.Seconds(), urgentSLA.Seconds(), limitOf(limit))
}

func (c *txCases) Unreplied(ctx context.Context, sla time.Duration, limit int) ([]bot.Case, error) {
	return c.clockList(ctx, "unreplied cases", sqlUnreplied, sla.Seconds(), limitOf(limit))
}

func (c *txCases) QuestionsToAlert(ctx context.Context, wait time.Duration, limit int) ([]bot.Case, error) {
	return c.clockList(ctx, "questions to alert", sqlQuestionsToAlert, wait.Seconds(), limitOf(limit))
}

func (c *txCases) Unreached(ctx context.Context, limit int) ([]bot.Case, error) {
	return c.clockList(ctx, "unreached cases", sqlUnreached, limitOf(limit))
}

func (c *txCases) clockList(ctx context.Context, what, query string, args ...any) ([]bot.Case, error) {
	var out []bot.Case
	if err := c.sel(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (c *txCases) UndeliveredReplies(ctx context.Context, limit int) ([]bot.UndeliveredReply, error) {
	var rows []struct {
		bot.Case
		Reason string `db:"failed_reason"`
	}
	if err := c.sel(ctx, &rows, sqlUndeliveredReplies, limitOf(limit)); err != nil {
		return nil, fmt.Errorf("undelivered replies: %w", err)
	}
	out := make([]bot.UndeliveredReply, len(rows))
	for i, r := range rows {
		out[i] = bot.UndeliveredReply{Case: r.Case, Reason: r.Reason}
	}
	return out, nil
}

// CaseSummary is what a report counts of the cases opened in a period.
type CaseSummary struct {
	Total      int
	ByStatus   []CaseCount // most first
	ByCategory []CaseCount
	ByBranch   []CaseCount
	// How many were accepted, and closed, and the median time from opening
	// to each (0 when none).
	Accepted, Closed              int
	MedianToAccept, MedianToClose time.Duration
}

// CaseCount is how many cases have Key.
type CaseCount struct {
	Key string
	N   int
}

// sqlCaseSummary counts the cases since $1 (NULL: all) of branch $2
// (empty: every branch) by status, category and branch, and in all, in one scan.
// Only the grand-total row's medians are read. A case reopened since it
// was closed does not count as closed.
const sqlCaseSummary = `
SELECT c.status, c.category, c.branch_id, count(*) AS n,
	count(c.accepted_at) AS accepted,
	count(*) FILTER (WHERE c.status = 'closed') AS closed,
	percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM c.accepted_at - c.created_at)::float8)
		AS to_accept,
	percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM c.closed_at - c.created_at)::float8)
		FILTER (WHERE c.status = 'closed') AS to_close
FROM cases c
WHERE ($1::timestamptz IS NULL OR c.created_at >= $1) AND ($2 = '' OR c.branch_id = $2)
GROUP BY GROUPING SETS ((c.status), (c.category), (c.branch_id), ())`

// CaseSummary counts the cases opened since since (zero: ever) in branch
// ("" for every branch).
func (s *Store) CaseSummary(ctx context.Context, since time.Time, branch string) (CaseSummary, error) {
	var rows []struct {
		Status   sql.NullString  `db:"status"`
		Category sql.NullString  `db:"category"`
		Branch   sql.NullString  `db:"branch_id"`
		N        int             `db:"n"`
		Accepted int             `db:"accepted"`
		Closed   int             `db:"closed"`
		ToAccept sql.NullFloat64 `db:"to_accept"`
		ToClose  sql.NullFloat64 `db:"to_close"`
	}
	sinceArg := sql.NullTime{Time: since, Valid: !since.IsZero()}
	if err := s.db.SelectContext(ctx, &rows, sqlCaseSummary, sinceArg, branch); err != nil {
		return CaseSummary{}, fmt.Errorf("case summary: %w", err)
	}
	var sum CaseSummary
	seconds := func(f sql.NullFloat64) time.Duration { return time.Duration(f.Float64 * float64(time.Second)) }
	for _, r := range rows {
		switch {
		case r.Status.Valid:
			sum.ByStatus = append(sum.ByStatus, CaseCount{r.Status.String, r.N})
		case r.Category.Valid:
			sum.ByCategory = append(sum.ByCategory, CaseCount{r.Category.String, r.N})
		case r.Branch.Valid:
			sum.ByBranch = append(sum.ByBranch, CaseCount{r.Branch.String, r.N})
		default:
			sum.Total, sum.Accepted, sum.Closed = r.N, r.Accepted, r.Closed
			sum.MedianToAccept, sum.MedianToClose = seconds(r.ToAccept), seconds(r.ToClose)
		}
	}
	for _, counts := range [][]CaseCount{sum.ByStatus, sum.ByCategory, sum.ByBranch} {
		slices.SortFunc(counts, func(a, b CaseCount) int {
			if a.N != b.N {
				return b.N - a.N
			}
			return strings.Compare(a.Key, b.Key)
		})
	}
	return sum, nil
}
