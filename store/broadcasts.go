package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot/broadcast"
	"nuanjia/bot/tagsync"
)

// Broadcasts (bot/broadcast.Store): the schedule, one send per branch tag
// with its clientmsgid, and who each send reached per calendar month, for
// the quota. WeChat's figures are read from send_jobs by msg_id.
const (
	broadcastColumns = `b.id, b.text, b.at, b.every, b.branches, b.preview_to, b.status, b.skip_reason,
		b.preview_error, COALESCE(b.series_id, b.id) AS series_id, b.created_by, b.created_at, b.updated_at, b.attempts`

	// sqlLockBroadcastAdds makes adds one at a time, so two adds cannot
	// each pass the quota with the other's broadcast unseen.
	sqlLockBroadcastAdds = `SELECT pg_advisory_xact_lock(727375)`

	sqlKnownBranches = `SELECT id FROM branches WHERE id = ANY($1)`

	sqlInsertBroadcast = `INSERT INTO broadcasts (text, at, every, branches, preview_to, series_id, created_by)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, 0), $7) RETURNING id`

	sqlPendingBroadcasts = `SELECT ` + broadcastColumns + ` FROM broadcasts b
		WHERE b.status IN ('scheduled', 'previewed', 'sending') ORDER BY b.at, b.id`

	// sqlMostDeliveredIn counts a member for their branch and for the
	// branch whose tag they still hold: the same as the first, or the old
	// one of a member the tag sync has not moved yet.
	sqlMostDeliveredIn = `SELECT d.month::text AS month, br.id AS branch_id, max(d.n) AS n
	FROM (SELECT openid, month, count(*) AS n FROM broadcast_deliveries WHERE month = ANY($1::date[]) GROUP BY 1, 2) d
	JOIN members m USING (openid)
	CROSS JOIN LATERAL (SELECT DISTINCT v FROM unnest(ARRAY[m.branch_id, m.tagged_branch]) v WHERE v IS NOT NULL) AS br(id)
	WHERE cardinality($2::text[]) = 0 OR br.id = ANY($2)
	GROUP BY 1, 2`

	// sqlClaimDueBroadcast leases the broadcast due soonest: its time has
	// come, or its preview's. SKIP LOCKED lets rounds of several processes
	// claim at once, each a different one; the lease keeps it from others
	// while WeChat is called.
	sqlClaimDueBroadcast = `WITH due AS (
		SELECT id FROM broadcasts
		WHERE status IN ('scheduled', 'previewed', 'sending')
			AND (lease_until IS NULL OR lease_until <= $1)
			AND (at <= $1 OR (status = 'scheduled' AND preview_to <> '' AND at <= $1 + make_interval(secs => $2)))
		ORDER BY at, id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	)
	UPDATE broadcasts b SET lease_until = $1 + make_interval(secs => $3), attempts = b.attempts + 1, updated_at = now()
	FROM due WHERE b.id = due.id
	RETURNING ` + broadcastColumns

	sqlReleaseBroadcast = `UPDATE broadcasts SET lease_until = $2,
		attempts = CASE WHEN $2::timestamptz IS NULL THEN 0 ELSE attempts END, updated_at = now()
	WHERE id = $1`

	sqlRecordPreview = `UPDATE broadcasts SET preview_error = $2, updated_at = now(),
		status = CASE WHEN status = 'scheduled' THEN 'previewed' ELSE status END
	WHERE id = $1`

	// sqlTagsOutOfStep counts, among the branches ($1, empty: all), the
	// members whose tag at WeChat is not yet what it should be: opted out
	// but still tagged, or following with a branch whose tag they do not
	// hold yet (new, or moved).
	sqlTagsOutOfStep = `SELECT
		count(*) FILTER (WHERE no_broadcasts AND tagged_branch IS NOT NULL
			AND (cardinality($1::text[]) = 0 OR tagged_branch = ANY($1))) AS opted_out,
		count(*) FILTER (WHERE subscribed AND NOT no_broadcasts AND branch_id IS NOT NULL
			AND tagged_branch IS DISTINCT FROM branch_id
			AND (cardinality($1::text[]) = 0 OR branch_id = ANY($1))) AS untagged
	FROM members`

	sqlPlanSends = `SELECT b.id AS branch_id, b.tag_id FROM branches b
	WHERE b.tag_id IS NOT NULL AND (cardinality($1::text[]) = 0 OR b.id = ANY($1))
		AND EXISTS (SELECT 1 FROM members m WHERE m.tagged_branch = b.id AND m.subscribed)
	ORDER BY b.id`

	sqlStartSending = `UPDATE broadcasts SET status = 'sending', updated_at = now()
	WHERE id = $1 AND status IN ('scheduled', 'previewed') RETURNING id`

	sqlInsertSends = `INSERT INTO broadcast_sends (broadcast_id, branch_id, tag_id, client_msg_id)
	SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[])
	ON CONFLICT DO NOTHING`

	// sqlSendFigures are the sends with WeChat's latest report on each.
	sqlSendFigures = `SELECT s.broadcast_id, s.branch_id, s.tag_id, s.client_msg_id, COALESCE(s.msg_id, 0) AS msg_id,
		s.error, s.sent_at, COALESCE(j.total_count, 0) AS total, COALESCE(j.filter_count, 0) AS filtered,
		COALESCE(j.sent_count, 0) AS sent, COALESCE(j.error_count, 0) AS errors, (j.wechat_msg_id IS NOT NULL)::int AS reports
	FROM broadcast_sends s
	LEFT JOIN LATERAL (
		SELECT * FROM send_jobs j WHERE j.event = 'MASSSENDJOBFINISH' AND j.wechat_msg_id = s.msg_id
		ORDER BY j.at DESC LIMIT 1
	) j ON true
	WHERE s.broadcast_id = ANY($1)
	ORDER BY s.broadcast_id, s.branch_id`

	// sqlRecordSent records the job and who it reached: the members
	// WeChat holds the tag for, less those who opted out (whom the
	// scheduler waited for the tag sync to take off it).
	sqlRecordSent = `WITH s AS (
		UPDATE broadcast_sends SET msg_id = $3, sent_at = now(), error = ''
		WHERE broadcast_id = $1 AND branch_id = $2 AND msg_id IS NULL RETURNING branch_id
	)
	INSERT INTO broadcast_deliveries (openid, broadcast_id, month)
	SELECT m.openid, $1, $4::date FROM members m JOIN s ON m.tagged_branch = s.branch_id
	WHERE m.subscribed AND NOT m.no_broadcasts
	ON CONFLICT DO NOTHING`

	sqlRecordRefused = `UPDATE broadcast_sends SET error = $3 WHERE broadcast_id = $1 AND branch_id = $2 AND msg_id IS NULL`

	sqlFinishBroadcast = `UPDATE broadcasts SET status = $2, skip_reason = $3, lease_until = NULL, updated_at = now()
	WHERE id = $1 AND status IN ('scheduled', 'previewed', 'sending') RETURNING id`

	sqlPurgeDeliveries = `DELETE FROM broadcast_deliveries WHERE month < $1::date`

	sqlListBroadcasts = `SELECT ` + broadcastColumns + ` FROM broadcasts b ORDER BY b.at DESC, b.id DESC LIMIT $1`

	sqlBroadcastByID = `SELECT ` + broadcastColumns + ` FROM broadcasts b WHERE b.id = $1`

	sqlCancelBroadcast = `UPDATE broadcasts SET status = 'cancelled', lease_until = NULL, updated_at = now()
	WHERE id = $1 AND status IN ('scheduled', 'previewed') RETURNING id`
)

var _ broadcast.Store = (*Store)(nil)

// broadcastRow is a broadcasts row as scanned.
type broadcastRow struct {
	broadcast.Broadcast
	Branches pq.StringArray `db:"branches"`
}

func (r broadcastRow) broadcast() broadcast.Broadcast {
	b := r.Broadcast
	if len(r.Branches) > 0 {
		b.Branches = []string(r.Branches)
	}
	return b
}

// ErrNoBroadcast: no broadcast has that id.
var ErrNoBroadcast = errors.New("no such broadcast")

// AddBroadcast checks b against the quota of months (check sees what the
// quota depends on, and refuses with its error) and schedules it. Adds go
// one at a time. Unknown branches are refused.
func (s *Store) AddBroadcast(ctx context.Context, b broadcast.Broadcast, months []broadcast.Month,
	check func(broadcast.QuotaState) error) (id int64, err error) {
	err = s.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlLockBroadcastAdds); err != nil {
			return err
		}
		if len(b.Branches) > 0 {
			var known []string
			if err := tx.SelectContext(ctx, &known, sqlKnownBranches, textArray(b.Branches)); err != nil {
				return err
			}
			for _, id := range b.Branches {
				if !containsString(known, id) {
					return fmt.Errorf("no branch %q in the knowledge base", id)
				}
			}
		}
		st, err := s.quotaState(ctx, tx, months)
		if err != nil {
			return fmt.Errorf("read the quota: %w", err)
		}
		if err := check(st); err != nil {
			return err
		}
		return tx.GetContext(ctx, &id, sqlInsertBroadcast, b.Text, b.At, b.Every, textArray(b.Branches),
			b.PreviewTo, b.SeriesID, b.CreatedBy)
	})
	return id, err
}

// textArray is a text[] parameter; an empty list is '{}', never NULL.
func textArray(list []string) pq.StringArray {
	if list == nil {
		return pq.StringArray{}
	}
	return pq.StringArray(list)
}

func containsString(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// quotaState reads what the quota of months depends on.
func (s *Store) quotaState(ctx context.Context, tx *sqlx.Tx, months []broadcast.Month) (broadcast.QuotaState, error) {
	var st broadcast.QuotaState
	var err error
	if st.Branches, err = s.BranchNames(ctx); err != nil {
		return st, err
	}
	var pending []broadcastRow
	if err := tx.SelectContext(ctx, &pending, sqlPendingBroadcasts); err != nil {
		return st, err
	}
	for _, r := range pending {
		st.Pending = append(st.Pending, r.broadcast())
	}
	st.Delivered, err = s.delivered(ctx, tx, months, nil)
	return st, err
}

// delivered is mostDelivered for several months; q is a transaction or the pool.
func (s *Store) delivered(ctx context.Context, q sqlx.QueryerContext, months []broadcast.Month, branches []string) (map[broadcast.Month]map[string]int, error) {
	dates := make(pq.StringArray, len(months))
	byDate := make(map[string]broadcast.Month, len(months))
	for i, m := range months {
		dates[i] = m.Date()
		byDate[m.Date()] = m
	}
	var rows []struct {
		Month  string `db:"month"`
		Branch string `db:"branch_id"`
		N      int    `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sqlMostDeliveredIn, dates, textArray(branches)); err != nil {
		return nil, err
	}
	out := make(map[broadcast.Month]map[string]int, len(months))
	for _, m := range months {
		out[m] = map[string]int{}
	}
	for _, r := range rows {
		m := byDate[r.Month]
		out[m][r.Branch] = r.N
	}
	return out, nil
}

// BranchNames lists every branch with the short name of its tag (新州镇计生协).
func (s *Store) BranchNames(ctx context.Context) ([]broadcast.BranchName, error) {
	bs, err := s.TagBranches(ctx)
	if err != nil {
		return nil, err
	}
	names := tagsync.TagNames(bs)
	out := make([]broadcast.BranchName, len(bs))
	for i, b := range bs {
		out[i] = broadcast.BranchName{ID: b.ID, Name: names[b.ID]}
	}
	return out, nil
}

// MostDelivered is, per branch (nil: every branch), the most broadcasts one
// of its members received in month m.
func (s *Store) MostDelivered(ctx context.Context, m broadcast.Month, branches []string) (map[string]int, error) {
	d, err := s.delivered(ctx, s.db, []broadcast.Month{m}, branches)
	if err != nil {
		return nil, err
	}
	return d[m], nil
}

// ClaimDueBroadcast leases the broadcast due soonest at now for lease.
func (s *Store) ClaimDueBroadcast(ctx context.Context, now time.Time, previewLead, lease time.Duration) (broadcast.Broadcast, bool, error) {
	var r broadcastRow
	err := s.db.GetContext(ctx, &r, sqlClaimDueBroadcast, now, previewLead.Seconds(), lease.Seconds())
	if isNoRows(err) {
		return broadcast.Broadcast{}, false, nil
	}
	if err != nil {
		return broadcast.Broadcast{}, false, err
	}
	return r.broadcast(), true, nil
}

// ReleaseBroadcast ends a claim; until is when it is due again (zero: as
// its time says, and its attempts start over).
func (s *Store) ReleaseBroadcast(ctx context.Context, id int64, until time.Time) error {
	var at *time.Time
	if !until.IsZero() {
		at = &until
	}
	_, err := s.db.ExecContext(ctx, sqlReleaseBroadcast, id, at)
	return err
}

// RecordPreview records the preview's outcome ("" when it went).
func (s *Store) RecordPreview(ctx context.Context, id int64, problem string) error {
	_, err := s.db.ExecContext(ctx, sqlRecordPreview, id, problem)
	return err
}

// TagsOutOfStep counts, among the branches (nil: every branch), opted-out
// members WeChat still holds a branch tag for, and followers who do not
// hold their branch's tag yet.
func (s *Store) TagsOutOfStep(ctx context.Context, branches []string) (optedOut, untagged int, err error) {
	var row struct {
		OptedOut int `db:"opted_out"`
		Untagged int `db:"untagged"`
	}
	err = s.db.GetContext(ctx, &row, sqlTagsOutOfStep, textArray(branches))
	return row.OptedOut, row.Untagged, err
}

// PlanSends is one send per branch of b's audience whose tag some
// follower holds.
func (s *Store) PlanSends(ctx context.Context, b broadcast.Broadcast) ([]broadcast.Send, error) {
	var sends []broadcast.Send
	if err := s.db.SelectContext(ctx, &sends, sqlPlanSends, textArray(b.Branches)); err != nil {
		return nil, err
	}
	for i := range sends {
		sends[i].ClientMsgID = broadcast.ClientMsgID(b.ID, sends[i].TagID)
	}
	return sends, nil
}

// StartSending records the sends and moves the broadcast to sending, in
// one transaction; false when it is not scheduled any more (cancelled).
func (s *Store) StartSending(ctx context.Context, id int64, sends []broadcast.Send) (bool, error) {
	started := false
	err := s.Transact(ctx, func(tx *sqlx.Tx) error {
		var got int64
		if err := tx.GetContext(ctx, &got, sqlStartSending, id); err != nil {
			if isNoRows(err) {
				return nil
			}
			return err
		}
		branches := make(pq.StringArray, len(sends))
		tags := make(pq.Int64Array, len(sends))
		clientIDs := make(pq.StringArray, len(sends))
		for i, sd := range sends {
			branches[i], tags[i], clientIDs[i] = sd.BranchID, sd.TagID, sd.ClientMsgID
		}
		if _, err := tx.ExecContext(ctx, sqlInsertSends, id, branches, tags, clientIDs); err != nil {
			return err
		}
		started = true
		return nil
	})
	return started, err
}

// sendRow is a broadcast_sends row with its figures.
type sendRow struct {
	BroadcastID int64 `db:"broadcast_id"`
	broadcast.Send
	Total    int `db:"total"`
	Filtered int `db:"filtered"`
	Sent     int `db:"sent"`
	Errors   int `db:"errors"`
	Reports  int `db:"reports"`
}

// sendsOf reads the sends of the broadcasts, by broadcast.
func (s *Store) sendsOf(ctx context.Context, ids []int64) (map[int64][]broadcast.Send, error) {
	var rows []sendRow
	if err := s.db.SelectContext(ctx, &rows, sqlSendFigures, pq.Int64Array(ids)); err != nil {
		return nil, err
	}
	out := map[int64][]broadcast.Send{}
	for _, r := range rows {
		sd := r.Send
		sd.Totals = broadcast.Totals{Total: r.Total, Filtered: r.Filtered, Sent: r.Sent, Errors: r.Errors, Reports: r.Reports}
		out[r.BroadcastID] = append(out[r.BroadcastID], sd)
	}
	return out, nil
}

// BroadcastSends are the broadcast's sends, with WeChat's figures.
func (s *Store) BroadcastSends(ctx context.Context, id int64) ([]broadcast.Send, error) {
	m, err := s.sendsOf(ctx, []int64{id})
	return m[id], err
}

// RecordSent records WeChat's msg_id for the send to the branch, and who it
// reached in month m, in one statement.
func (s *Store) RecordSent(ctx context.Context, id int64, branch string, msgID int64, m broadcast.Month) error {
	_, err := s.db.ExecContext(ctx, sqlRecordSent, id, branch, msgID, m.Date())
	return err
}

// RecordRefused records why the send to the branch will not go.
func (s *Store) RecordRefused(ctx context.Context, id int64, branch, problem string) error {
	_, err := s.db.ExecContext(ctx, sqlRecordRefused, id, branch, problem)
	return err
}

// FinishBroadcast ends a pending broadcast as status, and inserts next (if
// any) in the same transaction.
func (s *Store) FinishBroadcast(ctx context.Context, id int64, status broadcast.Status, reason string, next *broadcast.Broadcast) (bool, error) {
	finished := false
	err := s.Transact(ctx, func(tx *sqlx.Tx) error {
		var got int64
		if err := tx.GetContext(ctx, &got, sqlFinishBroadcast, id, string(status), reason); err != nil {
			if isNoRows(err) {
				return nil
			}
			return err
		}
		finished = true
		if next == nil {
			return nil
		}
		var nextID int64
		return tx.GetContext(ctx, &nextID, sqlInsertBroadcast, next.Text, next.At, next.Every, textArray(next.Branches),
			next.PreviewTo, next.SeriesID, next.CreatedBy)
	})
	return finished, err
}

// PurgeDeliveries forgets who got broadcasts in months before m.
func (s *Store) PurgeDeliveries(ctx context.Context, before broadcast.Month) error {
	_, err := s.db.ExecContext(ctx, sqlPurgeDeliveries, before.Date())
	return err
}

// withSends adds each broadcast's sends and their summed figures.
func (s *Store) withSends(ctx context.Context, rows []broadcastRow) ([]broadcast.Broadcast, error) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	sends, err := s.sendsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]broadcast.Broadcast, len(rows))
	for i, r := range rows {
		b := r.broadcast()
		b.Sends = sends[b.ID]
		for _, sd := range b.Sends {
			b.Totals = b.Totals.Add(sd.Totals)
		}
		out[i] = b
	}
	return out, nil
}

// ListBroadcasts returns the latest limit broadcasts, latest first, with
// WeChat's figures.
func (s *Store) ListBroadcasts(ctx context.Context, limit int) ([]broadcast.Broadcast, error) {
	if limit <= 0 {
		limit = 50
	}
	var rows []broadcastRow
	if err := s.db.SelectContext(ctx, &rows, sqlListBroadcasts, limit); err != nil {
		return nil, err
	}
	return s.withSends(ctx, rows)
}

// Broadcast returns one broadcast with its sends (ErrNoBroadcast if none).
func (s *Store) Broadcast(ctx context.Context, id int64) (broadcast.Broadcast, error) {
	var r broadcastRow
	if err := s.db.GetContext(ctx, &r, sqlBroadcastByID, id); err != nil {
		if isNoRows(err) {
			return broadcast.Broadcast{}, ErrNoBroadcast
		}
		return broadcast.Broadcast{}, err
	}
	out, err := s.withSends(ctx, []broadcastRow{r})
	if err != nil {
		return broadcast.Broadcast{}, err
	}
	return out[0], nil
}

// CancelBroadcast cancels a broadcast that has not started sending. A
// recurring one's series ends with it. The error says why not otherwise.
func (s *Store) CancelBroadcast(ctx context.Context, id int64) error {
	var got int64
	err := s.db.GetContext(ctx, &got, sqlCancelBroadcast, id)
	if err == nil {
		return nil
	}
	if !isNoRows(err) {
		return err
	}
	b, err := s.Broadcast(ctx, id)
	if err != nil {
		return err
	}
	switch b.Status {
	case broadcast.StatusSending:
		return fmt.Errorf("broadcast %d is being sent; it can no longer be cancelled", id)
	default:
		return fmt.Errorf("broadcast %d is %s already", id, strings.ToLower(string(b.Status)))
	}
}
