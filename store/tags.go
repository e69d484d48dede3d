package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"nuanjia/bot/tagsync"
)

// The tag sync's records (bot/tagsync.Store): which WeChat tag is each
// branch's, and which branch's tag WeChat holds for each member.
//
// A member is due when they follow and the tag they should hold is not the
// one tagged, or when they unfollowed while tagged. The tag they should
// hold is their branch's, or none once they wrote 不要推送
// (members.no_broadcasts): a broadcast by tag reaches everyone on the
// tag, so opting out of broadcasts means holding no branch tag. Members due are claimed with a
// lease rather than held locked while WeChat is called: a push rewrites
// its member's row, and must not wait for a sync round.
const (
	sqlTagBranches = `SELECT id, name, COALESCE(tag_id, 0) AS tag_id FROM branches ORDER BY id`

	// sqlRecordBranchTag keeps a tag recorded meanwhile (by another
	// process) and returns the one recorded. The UPDATE reads the row's
	// latest version, so the answer is never a stale NULL.
	sqlRecordBranchTag = `UPDATE branches SET tag_id = COALESCE(tag_id, $2) WHERE id = $1 RETURNING tag_id`

	// sqlForgetBranchTag: a tag WeChat no longer has was dropped from
	// every follower, so no member holds it either.
	sqlForgetBranchTag = `WITH b AS (
		UPDATE branches SET tag_id = NULL WHERE id = $1 AND tag_id = $2 RETURNING id
	)
	UPDATE members SET tagged_branch = NULL, tag_synced_at = now()
	WHERE tagged_branch = (SELECT id FROM b)`

	// sqlClearUnfollowedTags: WeChat drops an unfollower's tags itself.
	sqlClearUnfollowedTags = `UPDATE members SET tagged_branch = NULL, tag_synced_at = now(), tag_lease_until = NULL
	WHERE NOT subscribed AND tagged_branch IS NOT NULL`

	// sqlClaimTags leases up to $1 due followers for $2 seconds, those
	// never tried or waiting longest first, and groups them by the change
	// they need. A member whose branch is not in the knowledge base (no
	// foreign key: see members.branch_id) is taken off their old tag and
	// then left alone until the branch is imported. SKIP LOCKED lets
	// several rounds claim at once; the lease keeps a member from a second
	// round while the first calls WeChat.
	sqlClaimTags = `
WITH due AS (
	SELECT m.openid FROM members m
	WHERE m.subscribed AND (CASE WHEN m.no_broadcasts THEN NULL ELSE m.branch_id END) IS DISTINCT FROM m.tagged_branch
		AND (m.tag_lease_until IS NULL OR m.tag_lease_until <= now())
		AND (m.tagged_branch IS NOT NULL OR EXISTS (SELECT 1 FROM branches b WHERE b.id = m.branch_id))
	ORDER BY m.tag_lease_until NULLS FIRST
	LIMIT $1
	FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE members m SET tag_lease_until = now() + make_interval(secs => $2)
	FROM due WHERE m.openid = due.openid
	RETURNING m.openid, m.tagged_branch, CASE WHEN m.no_broadcasts THEN NULL ELSE m.branch_id END AS branch_id
)
SELECT COALESCE(c.tagged_branch, '') AS from_branch, COALESCE(f.tag_id, 0) AS from_tag,
	COALESCE(t.id, '') AS to_branch, COALESCE(t.tag_id, 0) AS to_tag,
	array_agg(c.openid ORDER BY c.openid) AS openids
FROM claimed c
LEFT JOIN branches f ON f.id = c.tagged_branch
LEFT JOIN branches t ON t.id = c.branch_id
GROUP BY 1, 2, 3, 4
ORDER BY 1, 3`

	// sqlMarkTagsSynced records what WeChat holds now, whatever the
	// member's branch became meanwhile: one who moved again stays due
	// (branch_id differs), and the next round untags the right tag.
	sqlMarkTagsSynced = `UPDATE members SET tagged_branch = NULLIF($2, ''), tag_synced_at = now(), tag_lease_until = NULL
	WHERE openid = ANY($1)`

	sqlRetryTags = `UPDATE members SET tag_lease_until = now() + make_interval(secs => $2) WHERE openid = ANY($1)`
)

// TagBranches lists every branch with its recorded tag (0: none).
func (s *Store) TagBranches(ctx context.Context) ([]tagsync.Branch, error) {
	var rows []struct {
		ID    string `db:"id"`
		Name  string `db:"name"`
		TagID int64  `db:"tag_id"`
	}
	if err := s.db.SelectContext(ctx, &rows, sqlTagBranches); err != nil {
		return nil, err
	}
	out := make([]tagsync.Branch, len(rows))
	for i, r := range rows {
		out[i] = tagsync.Branch{ID: r.ID, Name: r.Name, TagID: r.TagID}
	}
	return out, nil
}

// RecordBranchTag records tagID as the branch's WeChat tag unless it has
// one already, and returns the one it has now.
func (s *Store) RecordBranchTag(ctx context.Context, branchID string, tagID int64) (int64, error) {
	if tagID <= 0 {
		return 0, fmt.Errorf("record branch tag: bad tag id %d", tagID)
	}
	var recorded int64
	if err := s.db.GetContext(ctx, &recorded, sqlRecordBranchTag, branchID, tagID); err != nil {
		if isNoRows(err) {
			return 0, fmt.Errorf("record branch tag: no branch %q", branchID)
		}
		return 0, err
	}
	return recorded, nil
}

// ForgetBranchTag drops the branch's tag if it is still tagID, and the
// record that members hold it: WeChat no longer has the tag.
func (s *Store) ForgetBranchTag(ctx context.Context, branchID string, tagID int64) error {
	_, err := s.db.ExecContext(ctx, sqlForgetBranchTag, branchID, tagID)
	return err
}

// ClearUnfollowedTags forgets the tags of members who unfollowed while
// tagged, and returns how many they were.
func (s *Store) ClearUnfollowedTags(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, sqlClearUnfollowedTags)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// TagsToSync claims up to limit members whose tags are out of step for
// lease, grouped by the change they need.
func (s *Store) TagsToSync(ctx context.Context, limit int, lease time.Duration) ([]tagsync.Move, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim tags: limit %d and lease %s must be positive", limit, lease)
	}
	var rows []struct {
		From    string         `db:"from_branch"`
		FromTag int64          `db:"from_tag"`
		To      string         `db:"to_branch"`
		ToTag   int64          `db:"to_tag"`
		OpenIDs pq.StringArray `db:"openids"`
	}
	if err := s.db.SelectContext(ctx, &rows, sqlClaimTags, limit, lease.Seconds()); err != nil {
		return nil, err
	}
	out := make([]tagsync.Move, len(rows))
	for i, r := range rows {
		out[i] = tagsync.Move{From: r.From, FromTag: r.FromTag, To: r.To, ToTag: r.ToTag, OpenIDs: r.OpenIDs}
	}
	return out, nil
}

// MarkTagsSynced records that WeChat holds branchID's tag ("": none) for
// the members, and ends their claim.
func (s *Store) MarkTagsSynced(ctx context.Context, openIDs []string, branchID string) error {
	_, err := s.db.ExecContext(ctx, sqlMarkTagsSynced, pq.StringArray(openIDs), branchID)
	return err
}

// RetryTags makes the members due again after the wait.
func (s *Store) RetryTags(ctx context.Context, openIDs []string, after time.Duration) error {
	_, err := s.db.ExecContext(ctx, sqlRetryTags, pq.StringArray(openIDs), after.Seconds())
	return err
}
