package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"nuanjia/bot"
)

const (
	sqlUpsertBranch = `INSERT INTO branches (id, name, places, lat, lng, phone, address, hours, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, places = EXCLUDED.places, lat = EXCLUDED.lat,
			lng = EXCLUDED.lng, phone = EXCLUDED.phone, address = EXCLUDED.address, hours = EXCLUDED.hours,
			updated_at = now()`
	// An import replaces the file's directors of a branch; those added by
	// `nuanjia director add` stay, unless the file now lists the same
	// person there (the file takes them over: one row, one alert each).
	sqlDeleteDirectors = `DELETE FROM directors WHERE branch_id = $1 AND (source = 'kb' OR openid = ANY($2))`
	// The CLI's directors follow the file's (positions from $2), in their
	// order; the primary key is checked at commit.
	sqlMoveCLIDirectors = `UPDATE directors d SET position = $2 + r.rank - 1
		FROM (SELECT position, row_number() OVER (ORDER BY position) AS rank
			FROM directors WHERE branch_id = $1 AND source = 'cli') r
		WHERE d.branch_id = $1 AND d.position = r.position`
	sqlInsertDirector = `INSERT INTO directors (branch_id, position, name, openid, phone, county)
		VALUES ($1, $2, $3, $4, $5, $6)`
	sqlUpsertFAQ = `INSERT INTO faqs (id, question, answer, keywords, updated, source, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())
		ON CONFLICT (id) DO UPDATE SET question = EXCLUDED.question, answer = EXCLUDED.answer,
			keywords = EXCLUDED.keywords, updated = EXCLUDED.updated, source = EXCLUDED.source, updated_at = now()`

	sqlSelectBranches  = `SELECT id, name, places, lat, lng, phone, address, hours FROM branches ORDER BY id`
	sqlSelectDirectors = `SELECT branch_id, name, openid, phone, county FROM directors ORDER BY branch_id, position`
	sqlSelectFAQs      = `SELECT id, question, answer, keywords, to_char(updated, 'YYYY-MM-DD') AS updated, source
		FROM faqs ORDER BY id`
	// The knowledge base changes through an import, which touches
	// updated_at, and through `nuanjia director add|remove`, which adds
	// (or stamps) a row or removes one; serving processes poll this to
	// reload.
	sqlKnowledgeVersion = `SELECT concat_ws('/',
		(SELECT count(*) FROM branches), (SELECT max(updated_at) FROM branches),
		(SELECT count(*) FROM faqs), (SELECT max(updated_at) FROM faqs),
		(SELECT count(*) FROM directors), (SELECT max(added_at) FROM directors))`
)

// ImportKnowledge upserts every branch (replacing the file's directors of
// it; those added from the command line stay) and every FAQ in one
// transaction: all of the file or none of it. Entries the file
// does not mention are kept. The caller validates kb first.
func (s *Store) ImportKnowledge(ctx context.Context, kb bot.Knowledge) error {
	return s.Transact(ctx, func(tx *sqlx.Tx) error {
		for i, b := range kb.Branches {
			if _, err := tx.ExecContext(ctx, sqlUpsertBranch, b.ID, b.Name, pq.StringArray(nonNil(b.Places)),
				b.Lat, b.Lng, b.Phone, b.Address, b.Hours); err != nil {
				return fmt.Errorf("branches[%d] (id %q): %w", i, b.ID, err)
			}
			var listed []string
			for _, d := range b.Directors {
				listed = append(listed, d.OpenID)
			}
			if _, err := tx.ExecContext(ctx, sqlDeleteDirectors, b.ID, pq.StringArray(nonNil(listed))); err != nil {
				return fmt.Errorf("branches[%d] (id %q): directors: %w", i, b.ID, err)
			}
			if _, err := tx.ExecContext(ctx, sqlMoveCLIDirectors, b.ID, len(b.Directors)); err != nil {
				return fmt.Errorf("branches[%d] (id %q): directors: %w", i, b.ID, err)
			}
			for j, d := range b.Directors {
				if _, err := tx.ExecContext(ctx, sqlInsertDirector, b.ID, j, d.Name, d.OpenID, d.Phone, d.County); err != nil {
					return fmt.Errorf("branches[%d] (id %q): directors[%d]: %w", i, b.ID, j, err)
				}
			}
		}
		for i, f := range kb.FAQs {
			if _, err := tx.ExecContext(ctx, sqlUpsertFAQ, f.ID, f.Question, f.Answer,
				pq.StringArray(nonNil(f.Keywords)), f.Updated, f.Source); err != nil {
				return fmt.Errorf("faqs[%d] (id %q): %w", i, f.ID, err)
			}
		}
		return nil
	})
}

// LoadKnowledge reads the whole knowledge base.
func (s *Store) LoadKnowledge(ctx context.Context) (bot.Knowledge, error) {
	var kb bot.Knowledge
	type branchRow struct {
		bot.Branch
		Places pq.StringArray `db:"places"`
	}
	var branches []branchRow
	if err := s.db.SelectContext(ctx, &branches, sqlSelectBranches); err != nil {
		return kb, fmt.Errorf("load branches: %w", err)
	}
	type directorRow struct {
		bot.Director
		BranchID string `db:"branch_id"`
	}
	var directors []directorRow
	if err := s.db.SelectContext(ctx, &directors, sqlSelectDirectors); err != nil {
		return kb, fmt.Errorf("load directors: %w", err)
	}
	byBranch := map[string][]bot.Director{}
	for _, d := range directors {
		byBranch[d.BranchID] = append(byBranch[d.BranchID], d.Director)
	}
	for _, r := range branches {
		b := r.Branch
		b.Places = []string(r.Places)
		b.Directors = byBranch[b.ID]
		kb.Branches = append(kb.Branches, b)
	}
	type faqRow struct {
		bot.FAQ
		Keywords pq.StringArray `db:"keywords"`
	}
	var faqs []faqRow
	if err := s.db.SelectContext(ctx, &faqs, sqlSelectFAQs); err != nil {
		return kb, fmt.Errorf("load faqs: %w", err)
	}
	for _, r := range faqs {
		f := r.FAQ
		f.Keywords = []string(r.Keywords)
		kb.FAQs = append(kb.FAQs, f)
	}
	return kb, nil
}

// KnowledgeVersion changes whenever an import or a director command
// changes the knowledge base.
func (s *Store) KnowledgeVersion(ctx context.Context) (string, error) {
	var v string
	err := s.db.GetContext(ctx, &v, sqlKnowledgeVersion)
	return v, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
