package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

const (
	// sqlMarkUnsubscribed marks the member gone and cancels what was waiting
	// to reach them: WeChat would refuse it, and they asked for quiet.
	sqlMarkUnsubscribed = `UPDATE members SET unsubscribed_at = $2 WHERE openid = $1`
	sqlResubscribed     = `UPDATE members SET unsubscribed_at = NULL WHERE openid = $1`
	sqlCancelPending    = `UPDATE outbox SET status = 'cancelled', cancelled_reason = $2
	WHERE openid = $1 AND status = 'pending'`

	// The erasure, statement by statement, of member $1. Rows being sent
	// right now (status 'sending') keep their text until the sender is
	// done with them; the retention job blanks them later.
	sqlEraseMessages = `UPDATE messages SET text = '', lat = NULL, lng = NULL, media_id = '', pic_url = '',
		thumb_media_id = '', title = '', description = '', url = '', extra = NULL, event_key = ''
	WHERE openid = $1 AND (text <> '' OR lat IS NOT NULL OR media_id <> '' OR pic_url <> '' OR title <> ''
		OR description <> '' OR url <> '' OR extra IS NOT NULL OR event_key <> '')`
	// Messages to the member, and alerts and relays about their cases.
	sqlEraseOutbox = `UPDATE outbox SET
		cancelled_reason = CASE WHEN status = 'pending' THEN $2 ELSE cancelled_reason END,
		status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,
		text = '', template_data = NULL, media_id = ''
	WHERE (openid = $1 OR case_id IN (SELECT id FROM cases WHERE openid = $1)) AND status <> 'sending'
		AND (text <> '' OR template_data IS NOT NULL OR media_id <> '' OR status = 'pending')
	RETURNING status = 'cancelled' AND cancelled_reason = $2 AS cancelled`
	sqlCloseErasedCases = `WITH c AS (
		UPDATE cases SET status = 'closed', closed_at = now(), updated_at = now()
		WHERE openid = $1 AND status <> 'closed' RETURNING id)
	INSERT INTO case_actions (case_id, action, actor, text) SELECT id, 'closed', 'bot', '' FROM c`
	sqlEraseCaseActions = `UPDATE case_actions SET text = '', actor = CASE WHEN actor = $1 THEN 'erased' ELSE actor END
	WHERE case_id IN (SELECT id FROM cases WHERE openid = $1) AND (text <> '' OR actor = $1)`
	sqlEraseEvidence      = `DELETE FROM case_evidence WHERE openid = $1`
	sqlEraseCorrections   = `DELETE FROM nlu_corrections WHERE openid = $1 OR case_id IN (SELECT id FROM cases WHERE openid = $1)`
	sqlEraseConversations = `DELETE FROM conversations WHERE openid = $1`
	// Which broadcasts reached them: kept for the monthly quota, and theirs.
	sqlEraseDeliveries = `DELETE FROM broadcast_deliveries WHERE openid = $1`
	// Last, the cases lose the link to the person: category, branch,
	// kind, rating and dates stay for the association's statistics.
	sqlUnlinkCases  = `UPDATE cases SET openid = NULL, member_no = NULL, summary = '' WHERE openid = $1`
	sqlEraseProfile = `UPDATE members SET branch_id = NULL, member_no = NULL, phone = '', hometown = '', city = '',
		consent = NULL, consent_version = '', consent_at = NULL, erased_at = now() WHERE openid = $1`

	// sqlDueForErasure: members who left longer ago than the grace period
	// and did not come back, oldest first, locked so one process erases
	// each.
	sqlDueForErasure = `SELECT openid FROM members
	WHERE unsubscribed_at < $1 AND erased_at IS NULL AND NOT subscribed
	ORDER BY unsubscribed_at LIMIT $2 FOR UPDATE SKIP LOCKED`

	// Retention: texts past their time are blanked, the rows kept.
	sqlPurgeMessages = `UPDATE messages SET text = '', lat = NULL, lng = NULL, media_id = '', pic_url = '',
		thumb_media_id = '', title = '', description = '', url = '', extra = NULL
	WHERE at < $1 AND (text <> '' OR lat IS NOT NULL OR media_id <> '' OR pic_url <> '' OR title <> ''
		OR description <> '' OR url <> '' OR extra IS NOT NULL)`
	sqlPurgeReplies = `UPDATE outbox SET text = '', template_data = NULL
	WHERE created_at < $1 AND case_id IS NULL AND status NOT IN ('pending', 'sending')
		AND (text <> '' OR template_data IS NOT NULL)`
	sqlPurgeCaseTexts = `WITH old AS (SELECT id FROM cases WHERE status = 'closed' AND closed_at < $1),
	a AS (UPDATE case_actions SET text = '' WHERE case_id IN (SELECT id FROM old) AND text <> ''),
	e AS (DELETE FROM case_evidence WHERE case_id IN (SELECT id FROM old)),
	o AS (UPDATE outbox SET text = '', template_data = NULL
		WHERE case_id IN (SELECT id FROM old) AND status NOT IN ('pending', 'sending') AND text <> '')
	UPDATE cases SET summary = '' WHERE id IN (SELECT id FROM old) AND summary <> ''`

	// retentionLock is the advisory lock the retention job holds for its
	// round: with several serve processes, one purges and the others skip.
	sqlRetentionLock = `SELECT pg_try_advisory_xact_lock(7340021)`

	sqlMemberKnown = `SELECT EXISTS (SELECT 1 FROM members WHERE openid = $1)`

	sqlConsentAsked = `UPDATE members SET consent_asked = $2 WHERE openid = $1`
	sqlSetConsent   = `UPDATE members SET consent = $2, consent_version = $3, consent_at = $4 WHERE openid = $1`
	// Without consent nothing it allowed stays: the profile's details,
	// the coordinates of location messages, and phone numbers in texts
	// (masked in Go: $2 and $3 are the ids and texts to write).
	sqlDropConsented   = `UPDATE members SET phone = '', hometown = '', city = '' WHERE openid = $1`
	sqlDropLocations   = `UPDATE messages SET lat = NULL, lng = NULL WHERE openid = $1 AND lat IS NOT NULL`
	sqlTextsWithDigits = `SELECT id, text FROM messages WHERE openid = $1 AND text ~ '[0-9]{6}'`
	sqlRewriteTexts    = `UPDATE messages m SET text = t.text FROM unnest($1::bigint[], $2::text[]) AS t (id, text)
	WHERE m.id = t.id AND m.text <> t.text`
	sqlProfile = `SELECT member_no, branch_id, phone, hometown, city, consent, consent_version, consent_at
	FROM members WHERE openid = $1`
	sqlProfileByNo = `SELECT openid, member_no, branch_id, phone, hometown, city, consent, consent_version, consent_at
	FROM members WHERE member_no = $1 AND erased_at IS NULL`
	sqlSetBranch = `UPDATE members SET branch_id = $2 WHERE openid = $1`
	sqlMinimise  = `UPDATE messages SET text = $2, lat = NULL, lng = NULL WHERE id = $1`
)

func (c *txCases) Unsubscribed(ctx context.Context, openID string, at time.Time) (int, error) {
	if _, err := c.exec(ctx, sqlMarkUnsubscribed, openID, at); err != nil {
		return 0, fmt.Errorf("unsubscribe: %w", err)
	}
	res, err := c.exec(ctx, sqlCancelPending, openID, bot.CancelUnsubscribed)
	if err != nil {
		return 0, fmt.Errorf("unsubscribe: cancel pending: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (c *txCases) Resubscribed(ctx context.Context, openID string) error {
	if _, err := c.exec(ctx, sqlResubscribed, openID); err != nil {
		return fmt.Errorf("resubscribe: %w", err)
	}
	return nil
}

func (c *txCases) Erase(ctx context.Context, openID string) (bot.Erasure, error) {
	return eraseMember(ctx, c.tx, openID)
}

// eraseMember erases one member inside tx (see bot.MemberBook.Erase).
func eraseMember(ctx context.Context, tx *sqlx.Tx, openID string) (bot.Erasure, error) {
	var e bot.Erasure
	count := func(query string, into *int) error {
		res, err := tx.ExecContext(ctx, query, openID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		*into += int(n)
		return nil
	}
	var ignored int
	if err := count(sqlEraseMessages, &e.Messages); err != nil {
		return e, fmt.Errorf("erase messages: %w", err)
	}
	var cancelled []bool
	if err := tx.SelectContext(ctx, &cancelled, sqlEraseOutbox, openID, bot.CancelErased); err != nil {
		return e, fmt.Errorf("erase sent messages: %w", err)
	}
	for _, c := range cancelled {
		if c {
			e.Cancelled++
		} else {
			e.Sent++
		}
	}
	for _, step := range []struct {
		name  string
		query string
		into  *int
	}{
		{"close cases", sqlCloseErasedCases, &ignored},
		{"case texts", sqlEraseCaseActions, &ignored},
		{"evidence", sqlEraseEvidence, &e.Evidence},
		{"corrections", sqlEraseCorrections, &ignored},
		{"conversations", sqlEraseConversations, &ignored},
		{"broadcast deliveries", sqlEraseDeliveries, &ignored},
		{"cases", sqlUnlinkCases, &e.Cases},
		{"profile", sqlEraseProfile, &ignored},
	} {
		if err := count(step.query, step.into); err != nil {
			return e, fmt.Errorf("erase %s: %w", step.name, err)
		}
	}
	return e, nil
}

// EraseMember erases a member for staff (nuanjia member erase), with the
// audit row saying who and why in the same transaction. found is false
// when no such member is known.
func (s *Store) EraseMember(ctx context.Context, openID, actor, reason string) (e bot.Erasure, found bool, err error) {
	err = s.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &found, sqlMemberKnown, openID); err != nil || !found {
			return err
		}
		if e, err = eraseMember(ctx, tx, openID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlInsertAudit, actor, openID, bot.AuditErase, reason)
		return err
	})
	return e, found, err
}

// Retention is how long the association keeps what members said.
type Retention struct {
	Messages    time.Duration // MESSAGE_RETENTION: message texts, places and media
	Cases       time.Duration // CASE_RETENTION: a closed case's texts
	EraseAfter  time.Duration // MEMBER_ERASE_AFTER: a member who left, not back by then, is erased
	EraseAtOnce int           // members erased per round at most (0: 100)
}

// Purged is what one retention round did, in counts (all the job logs).
type Purged struct {
	Ran      bool // false: another process held the round
	Messages int  // message texts blanked
	Replies  int  // the bot's replies blanked
	Cases    int  // closed cases whose texts were blanked
	Members  int  // members who left and were erased
}

// Purge runs one retention round as of now, in one transaction under an
// advisory lock: with several processes, one does the round.
func (s *Store) Purge(ctx context.Context, r Retention, now time.Time) (Purged, error) {
	var p Purged
	err := s.Transact(ctx, func(tx *sqlx.Tx) error {
		p = Purged{}
		if err := tx.GetContext(ctx, &p.Ran, sqlRetentionLock); err != nil || !p.Ran {
			return err
		}
		blank := func(query string, before time.Time, into *int) error {
			res, err := tx.ExecContext(ctx, query, before)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			*into = int(n)
			return nil
		}
		if r.Messages > 0 {
			if err := blank(sqlPurgeMessages, now.Add(-r.Messages), &p.Messages); err != nil {
				return fmt.Errorf("purge messages: %w", err)
			}
			if err := blank(sqlPurgeReplies, now.Add(-r.Messages), &p.Replies); err != nil {
				return fmt.Errorf("purge replies: %w", err)
			}
		}
		if r.Cases > 0 {
			if err := blank(sqlPurgeCaseTexts, now.Add(-r.Cases), &p.Cases); err != nil {
				return fmt.Errorf("purge case texts: %w", err)
			}
		}
		if r.EraseAfter <= 0 {
			return nil
		}
		limit := r.EraseAtOnce
		if limit <= 0 {
			limit = 100
		}
		var due []string
		if err := tx.SelectContext(ctx, &due, sqlDueForErasure, now.Add(-r.EraseAfter), limit); err != nil {
			return fmt.Errorf("members due for erasure: %w", err)
		}
		for _, openID := range due {
			if _, err := eraseMember(ctx, tx, openID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlInsertAudit, bot.ActorBot, openID, bot.AuditErase, "retention: left"); err != nil {
				return fmt.Errorf("audit erasure: %w", err)
			}
		}
		p.Members = len(due)
		return nil
	})
	return p, err
}

func (c *txCases) ConsentAsked(ctx context.Context, openID, version string) error {
	if _, err := c.exec(ctx, sqlConsentAsked, openID, version); err != nil {
		return fmt.Errorf("consent asked: %w", err)
	}
	return nil
}

func (c *txCases) SetConsent(ctx context.Context, openID string, agree bool, version string, at time.Time) error {
	if _, err := c.exec(ctx, sqlSetConsent, openID, agree, version, at); err != nil {
		return fmt.Errorf("set consent: %w", err)
	}
	if agree {
		return nil
	}
	for _, q := range []string{sqlDropConsented, sqlDropLocations} {
		if _, err := c.exec(ctx, q, openID); err != nil {
			return fmt.Errorf("withdraw consent: %w", err)
		}
	}
	var rows []struct {
		ID   int64  `db:"id"`
		Text string `db:"text"`
	}
	if err := c.sel(ctx, &rows, sqlTextsWithDigits, openID); err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	var ids []int64
	var texts pq.StringArray
	for _, r := range rows {
		if masked := c.s.phones.Mask(r.Text); masked != r.Text {
			ids, texts = append(ids, r.ID), append(texts, masked)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := c.exec(ctx, sqlRewriteTexts, pq.Array(ids), texts); err != nil {
		return fmt.Errorf("withdraw consent: mask phones: %w", err)
	}
	return nil
}

func (c *txCases) Profile(ctx context.Context, openID string) (bot.Profile, error) {
	var p bot.Profile
	err := c.get(ctx, &p, sqlProfile, openID)
	if isNoRows(err) {
		return bot.Profile{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("profile: %w", err)
	}
	return p, nil
}

func (c *txCases) ProfileByNo(ctx context.Context, no int64) (string, bot.Profile, bool, error) {
	var row struct {
		OpenID string `db:"openid"`
		bot.Profile
	}
	err := c.get(ctx, &row, sqlProfileByNo, no)
	if isNoRows(err) {
		return "", bot.Profile{}, false, nil
	}
	if err != nil {
		return "", bot.Profile{}, false, fmt.Errorf("profile by number: %w", err)
	}
	return row.OpenID, row.Profile, true, nil
}

func (c *txCases) SetProfile(ctx context.Context, openID, field, value string) error {
	var column string
	switch field {
	case bot.FieldPhone, bot.FieldHometown, bot.FieldCity:
		column = field
	default:
		return fmt.Errorf("set profile: unknown field %q", field)
	}
	// The column is one of three constants above, never the caller's text.
	if _, err := c.exec(ctx, `UPDATE members SET `+column+` = $2 WHERE openid = $1`, openID, value); err != nil {
		return fmt.Errorf("set profile %s: %w", field, err)
	}
	return nil
}

func (c *txCases) SetBranch(ctx context.Context, openID, branchID string) error {
	if _, err := c.exec(ctx, sqlSetBranch, openID, branchID); err != nil {
		return fmt.Errorf("set branch: %w", err)
	}
	return nil
}

func (c *txCases) Minimise(ctx context.Context, messageID int64, text string) error {
	if _, err := c.exec(ctx, sqlMinimise, messageID, text); err != nil {
		return fmt.Errorf("minimise message: %w", err)
	}
	return nil
}
