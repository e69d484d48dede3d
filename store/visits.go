package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

// The visit book (bot.VisitBook, bot.VisitClock) inside one transaction:
// the handling transaction's, or one WithVisits opens for the scheduler
// and the command line.

// visitColumns reads a visit of the visits table aliased v. Erasing a
// member clears openid and member_no, which bot.Visit holds as "" and 0.
const visitColumns = `v.id, v.number, COALESCE(v.openid, '') AS openid, COALESCE(v.member_no, 0) AS member_no,
	v.branch_id, v.at, v.purpose, v.status, v.booked_by, v.note, v.created_at, v.updated_at`

const (
	sqlBookVisit = `INSERT INTO visits AS v (openid, member_no, branch_id, at, purpose, status, booked_by)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	RETURNING ` + visitColumns

	sqlVisitByNumber = `SELECT ` + visitColumns + ` FROM visits v WHERE v.number = $1 FOR UPDATE`

	// sqlMemberVisit: a visit whose time passed a few hours ago without a
	// director's 访毕 is still the member's to ask about or change.
	sqlMemberVisit = `SELECT ` + visitColumns + ` FROM visits v
	WHERE v.openid = $1 AND v.status IN ('requested', 'confirmed') AND v.at > now() - interval '6 hours'
	ORDER BY v.at, v.id LIMIT 1 FOR UPDATE`

	sqlSaveVisit = `UPDATE visits SET branch_id = $2, at = $3, purpose = $4, status = $5, note = $6, updated_at = now()
	WHERE id = $1`

	// sqlSetReminders replaces the visit's pending reminders with the rows
	// given ($2 offsets, $3 due times, $4 statuses, $5 reasons). Both parts
	// see the same snapshot: the new rows are not cancelled.
	sqlSetReminders = `
WITH gone AS (
	UPDATE visit_reminders SET status = 'cancelled', reason = 'rescheduled', updated_at = now()
	WHERE visit_id = $1 AND status = 'pending'
)
INSERT INTO visit_reminders (visit_id, offset_label, due_at, status, reason)
SELECT $1, r.offset_label, r.due_at::timestamptz, r.status, r.reason
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS r (offset_label, due_at, status, reason)`

	sqlDropReminders = `UPDATE visit_reminders SET status = 'cancelled', reason = $2, updated_at = now()
	WHERE visit_id = $1 AND status = 'pending'`

	// sqlFindVisits: $1 branches, $2 statuses (NULL for any), $3 from and
	// $4 to (NULL for unbounded), $5 the LIMIT (NULL for none).
	sqlFindVisits = `SELECT ` + visitColumns + ` FROM visits v
	WHERE ($1::text[] IS NULL OR v.branch_id = ANY($1))
		AND ($2::text[] IS NULL OR v.status = ANY($2))
		AND ($3::timestamptz IS NULL OR v.at >= $3)
		AND ($4::timestamptz IS NULL OR v.at < $4)
	ORDER BY v.at, v.id
	LIMIT $5`

	// sqlDueReminders claims pending reminders due at $1, oldest first, up
	// to $2. SKIP LOCKED lets several schedulers claim at once, each its
	// own rows; a row another claimed and sent meanwhile fails the status
	// re-check PostgreSQL makes on the rows it locks. The member's window
	// is read from their messages too, as sqlMemberWithWindow does.
	sqlDueReminders = `
WITH due AS (
	SELECT r.id FROM visit_reminders r
	WHERE r.status = 'pending' AND r.due_at <= $1
	ORDER BY r.due_at
	LIMIT $2
	FOR UPDATE OF r SKIP LOCKED
)
SELECT r.id AS reminder_id, r.offset_label, r.due_at, ` + visitColumns + `,
	COALESCE(mb.subscribed, false) AS subscribed,
	GREATEST(mb.last_inbound_at, (SELECT max(g.at) FROM messages g
		WHERE g.openid = v.openid AND g.direction = 'in' AND g.type <> 'event')) AS last_inbound_at
FROM due
JOIN visit_reminders r ON r.id = due.id
JOIN visits v ON v.id = r.visit_id
LEFT JOIN members mb ON mb.openid = v.openid
ORDER BY r.due_at, r.id`

	// sqlSendReminders writes the outbox rows ($1…$17, each row's seq its
	// place in $18) and marks reminder $18[i] sent with row i's id, in one
	// statement: a crash leaves both or neither.
	sqlSendReminders = `
WITH ob AS (` + sqlInsertOutbox + `
	RETURNING id, seq
)
UPDATE visit_reminders r SET status = 'sent', outbox_id = ob.id, updated_at = now()
FROM ob, unnest($18::bigint[]) WITH ORDINALITY AS u (reminder_id, i)
WHERE ob.seq = u.i - 1 AND r.id = u.reminder_id AND r.status = 'pending'`

	sqlSkipReminder = `UPDATE visit_reminders SET status = $2, reason = $3, updated_at = now()
	WHERE id = $1 AND status = 'pending'`

	sqlClaimDigest = `INSERT INTO visit_digests (director, day) VALUES ($1, $2::date) ON CONFLICT DO NOTHING`

	// sqlMarkMissed: open visits long past, nobody having typed 访毕. Rows
	// another round holds are skipped; it takes them next time.
	sqlMarkMissed = `WITH v AS (
		UPDATE visits SET status = 'missed', updated_at = now()
		WHERE id IN (SELECT id FROM visits WHERE status IN ('requested', 'confirmed') AND at < $1
			FOR UPDATE SKIP LOCKED)
		RETURNING id),
	r AS (UPDATE visit_reminders SET status = 'cancelled', reason = 'visit_missed', updated_at = now()
		WHERE visit_id IN (SELECT id FROM v) AND status = 'pending')
	SELECT count(*) FROM v`

	// With what became of each sent one: its outbox row's status and,
	// for a template, WeChat's TEMPLATESENDJOBFINISH report on its msg_id.
	sqlVisitReminders = `SELECT r.offset_label, r.due_at, r.status, r.reason,
		COALESCE(o.status, '') AS delivery, COALESCE(j.status, '') AS report
	FROM visit_reminders r JOIN visits v ON v.id = r.visit_id
	LEFT JOIN outbox o ON o.id = r.outbox_id
	LEFT JOIN send_jobs j ON j.wechat_msg_id = o.wechat_msg_id AND j.event = 'TEMPLATESENDJOBFINISH'
	WHERE v.number = $1 ORDER BY r.id`
)

// WithVisits runs fn with the visit book in one transaction, committed
// when fn returns nil: a scheduler round, or a command-line change.
func (s *Store) WithVisits(ctx context.Context, fn func(bot.VisitClock) error) error {
	return s.Transact(ctx, func(tx *sqlx.Tx) error { return fn(&txCases{s: s, tx: tx}) })
}

var _ bot.VisitClock = (*txCases)(nil)

// ListVisits lists the visits q selects, soonest first, for the command line.
func (s *Store) ListVisits(ctx context.Context, q bot.VisitQuery) ([]bot.Visit, error) {
	out := []bot.Visit{}
	if err := s.db.SelectContext(ctx, &out, sqlFindVisits, visitQueryArgs(q)...); err != nil {
		return nil, fmt.Errorf("list visits: %w", err)
	}
	return out, nil
}

// VisitReminders are the reminder rows of the visit with number, in the
// order they were written.
func (s *Store) VisitReminders(ctx context.Context, number int64) ([]bot.Reminder, error) {
	var out []bot.Reminder
	if err := s.db.SelectContext(ctx, &out, sqlVisitReminders, number); err != nil {
		return nil, fmt.Errorf("visit reminders: %w", err)
	}
	return out, nil
}

func (c *txCases) BookVisit(ctx context.Context, nv bot.NewVisit) (bot.Visit, error) {
	if nv.Status != bot.VisitRequested && nv.Status != bot.VisitConfirmed {
		return bot.Visit{}, fmt.Errorf("book visit: status %q", nv.Status)
	}
	memberNo, err := c.MemberNo(ctx, nv.OpenID)
	if err != nil {
		return bot.Visit{}, fmt.Errorf("book visit: %w", err)
	}
	var v bot.Visit
	if err := c.get(ctx, &v, sqlBookVisit, nv.OpenID, memberNo, nv.BranchID, nv.At, nv.Purpose, nv.Status, nv.BookedBy); err != nil {
		return bot.Visit{}, fmt.Errorf("book visit: %w", err)
	}
	return v, nil
}

func (c *txCases) VisitByNumber(ctx context.Context, number int64) (bot.Visit, bool, error) {
	return c.oneVisit(ctx, "visit by number", sqlVisitByNumber, number)
}

func (c *txCases) MemberVisit(ctx context.Context, openID string) (bot.Visit, bool, error) {
	return c.oneVisit(ctx, "member's visit", sqlMemberVisit, openID)
}

func (c *txCases) oneVisit(ctx context.Context, what, query string, arg any) (bot.Visit, bool, error) {
	var v bot.Visit
	err := c.get(ctx, &v, query, arg)
	if isNoRows(err) {
		return bot.Visit{}, false, nil
	}
	if err != nil {
		return bot.Visit{}, false, fmt.Errorf("%s: %w", what, err)
	}
	return v, true, nil
}

func (c *txCases) SaveVisit(ctx context.Context, v bot.Visit) error {
	res, err := c.exec(ctx, sqlSaveVisit, v.ID, v.BranchID, v.At, v.Purpose, v.Status, v.Note)
	if err != nil {
		return fmt.Errorf("save visit %d: %w", v.Number, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("save visit %d: no such visit (id %d)", v.Number, v.ID)
	}
	return nil
}

func (c *txCases) SetReminders(ctx context.Context, visitID int64, rs []bot.Reminder) error {
	offsets, dues, statuses, reasons := make(pq.StringArray, len(rs)), make(pq.StringArray, len(rs)),
		make(pq.StringArray, len(rs)), make(pq.StringArray, len(rs))
	for i, r := range rs {
		offsets[i], dues[i], statuses[i], reasons[i] = r.Offset, r.Due.UTC().Format(time.RFC3339Nano), r.Status, r.Reason
	}
	if _, err := c.exec(ctx, sqlSetReminders, visitID, offsets, dues, statuses, reasons); err != nil {
		return fmt.Errorf("set reminders of visit id %d: %w", visitID, err)
	}
	return nil
}

func (c *txCases) DropReminders(ctx context.Context, visitID int64, reason string) (int, error) {
	res, err := c.exec(ctx, sqlDropReminders, visitID, reason)
	if err != nil {
		return 0, fmt.Errorf("drop reminders of visit id %d: %w", visitID, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (c *txCases) FindVisits(ctx context.Context, q bot.VisitQuery) ([]bot.Visit, error) {
	var out []bot.Visit
	if err := c.sel(ctx, &out, sqlFindVisits, visitQueryArgs(q)...); err != nil {
		return nil, fmt.Errorf("find visits: %w", err)
	}
	return out, nil
}

// visitQueryArgs are sqlFindVisits' $1…$5.
func visitQueryArgs(q bot.VisitQuery) []any {
	bound := func(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }
	return []any{pq.StringArray(q.Branches), pq.StringArray(q.Statuses), bound(q.From), bound(q.To), limitOf(q.Limit)}
}

// dueRow is a reminder as sqlDueReminders returns it.
type dueRow struct {
	bot.Visit
	ReminderID    int64      `db:"reminder_id"`
	Offset        string     `db:"offset_label"`
	Due           time.Time  `db:"due_at"`
	Subscribed    bool       `db:"subscribed"`
	LastInboundAt *time.Time `db:"last_inbound_at"`
}

func (c *txCases) DueReminders(ctx context.Context, now time.Time, limit int) ([]bot.DueReminder, error) {
	var rows []dueRow
	if err := c.sel(ctx, &rows, sqlDueReminders, now, limit); err != nil {
		return nil, fmt.Errorf("due reminders: %w", err)
	}
	out := make([]bot.DueReminder, len(rows))
	for i, r := range rows {
		out[i] = bot.DueReminder{ID: r.ReminderID, Offset: r.Offset, Due: r.Due, Visit: r.Visit,
			LastInboundAt: r.LastInboundAt, Subscribed: r.Subscribed}
	}
	return out, nil
}

func (c *txCases) SendReminders(ctx context.Context, ids []int64, sends []bot.Send) error {
	if len(ids) != len(sends) {
		return fmt.Errorf("send reminders: %d ids for %d messages", len(ids), len(sends))
	}
	if len(ids) == 0 {
		return nil
	}
	var rows outboxColumns
	for i, snd := range sends {
		rows.add(snd, 0, i, "", statusPending, 0)
	}
	res, err := c.exec(ctx, sqlSendReminders, append(rows.args(), pq.Array(ids))...)
	if err != nil {
		return fmt.Errorf("send reminders: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || int(n) != len(ids) {
		// A reminder not claimed by this round: its outbox row must not go.
		return fmt.Errorf("send reminders: %d of %d reminders were pending", n, len(ids))
	}
	return nil
}

func (c *txCases) SkipReminder(ctx context.Context, id int64, status, reason string) error {
	if _, err := c.exec(ctx, sqlSkipReminder, id, status, reason); err != nil {
		return fmt.Errorf("skip reminder %d: %w", id, err)
	}
	return nil
}

func (c *txCases) MarkMissed(ctx context.Context, before time.Time) (int, error) {
	var n int
	if err := c.get(ctx, &n, sqlMarkMissed, before); err != nil {
		return 0, fmt.Errorf("mark missed visits: %w", err)
	}
	return n, nil
}

func (c *txCases) ClaimDigest(ctx context.Context, director string, day time.Time) (bool, error) {
	res, err := c.exec(ctx, sqlClaimDigest, director, day.Format(time.DateOnly))
	if err != nil {
		return false, fmt.Errorf("claim digest: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
