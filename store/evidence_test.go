package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/internal/pgtest"
)

// evidenceRow is a case_evidence row as a test reads it back.
type evidenceRow struct {
	Attempts    int        `db:"attempts"`
	Failed      bool       `db:"failed"`
	FetchedAt   *time.Time `db:"fetched_at"`
	Size        int        `db:"size"`
	ContentType string     `db:"content_type"`
	LastError   string     `db:"last_error"`
	Waits       bool       `db:"waits"` // next_attempt is in the future
}

func readEvidence(t *testing.T, s *Store, id int64) evidenceRow {
	t.Helper()
	var r evidenceRow
	if err := s.DB().Get(&r, `SELECT attempts, failed, fetched_at, size, content_type, last_error,
			next_attempt > now() AS waits
		FROM case_evidence WHERE id = $1`, id); err != nil {
		t.Fatalf("read evidence %d: %v", id, err)
	}
	return r
}

// evidenceCase opens a case for oMember with plain SQL and returns its id.
func evidenceCase(t *testing.T, s *Store) int64 {
	t.Helper()
	var id int64
	if err := s.DB().Get(&id, `INSERT INTO cases (openid, branch_id, category, kind, status, summary)
		VALUES ('oMember', 'anlong', 'injury', 'help', 'open', '我在煤矿受伤了') RETURNING id`); err != nil {
		t.Fatalf("insert case: %v", err)
	}
	return id
}

// addEvidence attaches a pushed medium to caseID, sent ago, with WeChat's
// copy lasting bot.MediaLifetime from then.
func addEvidence(t *testing.T, s *Store, caseID, messageID int64, kind, mediaID string, ago time.Duration) int64 {
	t.Helper()
	var id int64
	if err := s.DB().Get(&id, `INSERT INTO case_evidence (case_id, message_id, openid, kind, media_id, at, expires)
		VALUES ($1, $2, 'oMember', $3, $4, now() - make_interval(secs => $5),
			now() - make_interval(secs => $5) + make_interval(secs => $6))
		RETURNING id`, caseID, messageID, kind, mediaID, ago.Seconds(), bot.MediaLifetime.Seconds()); err != nil {
		t.Fatalf("insert evidence: %v", err)
	}
	return id
}

func claimEvidenceIDs(t *testing.T, s *Store, limit int, lease time.Duration, maxAttempts int) []int64 {
	t.Helper()
	got, err := s.ClaimEvidence(context.Background(), limit, lease, maxAttempts)
	if err != nil {
		t.Fatalf("ClaimEvidence: %v", err)
	}
	ids := make([]int64, len(got))
	for i, e := range got {
		ids[i] = e.ID
	}
	return ids
}

func TestEvidenceClaimSaveAndRead(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	caseID := evidenceCase(t, s)
	photo := addEvidence(t, s, caseID, 1, bot.TypeImage, "MEDIA_PHOTO", time.Minute)
	voice := addEvidence(t, s, caseID, 2, bot.TypeVoice, "MEDIA_VOICE", time.Second)

	got, err := s.ClaimEvidence(ctx, 10, time.Minute, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("claimed %d rows, want 2", len(got))
	}
	for _, e := range got {
		if e.CaseID != caseID || e.MediaID == "" || e.Fetched || e.Size != 0 ||
			e.Expires.Sub(e.At).Round(time.Second) != bot.MediaLifetime {
			t.Errorf("claimed %+v", e)
		}
		if r := readEvidence(t, s, e.ID); r.Attempts != 1 || !r.Waits {
			t.Errorf("row %d after the claim: %+v", e.ID, r)
		}
	}
	if ids := claimEvidenceIDs(t, s, 10, time.Minute, 5); len(ids) != 0 {
		t.Fatalf("leased rows claimed again: %v", ids)
	}

	if _, _, err := s.EvidenceData(ctx, photo); !errors.Is(err, ErrNotFetched) {
		t.Errorf("EvidenceData before the save: %v", err)
	}
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF a photo")
	if err := s.SaveEvidence(ctx, photo, "image/jpeg", jpeg); err != nil {
		t.Fatal(err)
	}
	ct, data, err := s.EvidenceData(ctx, photo)
	if err != nil || ct != "image/jpeg" || string(data) != string(jpeg) {
		t.Fatalf("EvidenceData = %q, %q, %v", ct, data, err)
	}
	if r := readEvidence(t, s, photo); r.FetchedAt == nil || r.Size != len(jpeg) || r.Failed || r.LastError != "" {
		t.Errorf("saved row: %+v", r)
	}
	// A late second save (a fetcher whose lease had run out) keeps the first copy.
	if err := s.SaveEvidence(ctx, photo, "image/png", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if ct, data, _ := s.EvidenceData(ctx, photo); ct != "image/jpeg" || string(data) != string(jpeg) {
		t.Errorf("second save replaced the copy: %q %q", ct, data)
	}
	// Fetched rows are never claimed again, even once their lease is over.
	execEvidenceSQL(t, s, `UPDATE case_evidence SET next_attempt = now() WHERE id = $1`, photo)
	if ids := claimEvidenceIDs(t, s, 10, time.Minute, 5); len(ids) != 0 {
		t.Errorf("a fetched row was claimed: %v", ids)
	}
	if _, _, err := s.EvidenceData(ctx, voice+1000); !errors.Is(err, ErrNotFetched) {
		t.Errorf("EvidenceData of no row: %v", err)
	}
}

func execEvidenceSQL(t *testing.T, s *Store, query string, args ...any) {
	t.Helper()
	if _, err := s.DB().Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// A fetcher that dies mid-fetch leaves its row to be claimed again when
// its lease ends.
func TestEvidenceLeaseEnds(t *testing.T) {
	s := newStore(t)
	id := addEvidence(t, s, evidenceCase(t, s), 1, bot.TypeImage, "MEDIA_1", time.Minute)
	if ids := claimEvidenceIDs(t, s, 1, 200*time.Millisecond, 5); len(ids) != 1 {
		t.Fatalf("claimed %v", ids)
	}
	if ids := claimEvidenceIDs(t, s, 1, time.Minute, 5); len(ids) != 0 {
		t.Fatalf("claimed during the lease: %v", ids)
	}
	time.Sleep(300 * time.Millisecond)
	if ids := claimEvidenceIDs(t, s, 1, time.Minute, 5); len(ids) != 1 || ids[0] != id {
		t.Fatalf("after the lease claimed %v", ids)
	}
	if r := readEvidence(t, s, id); r.Attempts != 2 {
		t.Errorf("row: %+v", r)
	}
}

func TestEvidenceRetryAndFail(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	caseID := evidenceCase(t, s)
	retried := addEvidence(t, s, caseID, 1, bot.TypeImage, "MEDIA_1", time.Minute)
	failed := addEvidence(t, s, caseID, 2, bot.TypeVoice, "MEDIA_2", time.Minute)
	if ids := claimEvidenceIDs(t, s, 10, time.Minute, 5); len(ids) != 2 {
		t.Fatalf("claimed %v", ids)
	}

	if err := s.RetryEvidence(ctx, retried, time.Hour, "media/get: http 502"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailEvidence(ctx, failed, "media/get: errcode 40007: invalid media_id"); err != nil {
		t.Fatal(err)
	}
	if r := readEvidence(t, s, retried); !r.Waits || r.Failed || r.LastError != "media/get: http 502" {
		t.Errorf("retried row: %+v", r)
	}
	if r := readEvidence(t, s, failed); !r.Failed || r.FetchedAt != nil || !strings.Contains(r.LastError, "40007") {
		t.Errorf("failed row: %+v", r)
	}
	execEvidenceSQL(t, s, `UPDATE case_evidence SET next_attempt = now()`)
	if ids := claimEvidenceIDs(t, s, 10, time.Minute, 5); len(ids) != 1 || ids[0] != retried {
		t.Fatalf("due again: %v, want only the retried row", ids)
	}
	if _, _, err := s.EvidenceData(ctx, failed); !errors.Is(err, ErrNotFetched) {
		t.Errorf("EvidenceData of a failed row: %v", err)
	}
	// A fetch that succeeded anyway (its fetcher's lease had run out) is kept.
	if err := s.SaveEvidence(ctx, failed, "audio/amr", []byte("#!AMR\n")); err != nil {
		t.Fatal(err)
	}
	if r := readEvidence(t, s, failed); r.Failed || r.FetchedAt == nil || r.LastError != "" {
		t.Errorf("saved after failing: %+v", r)
	}
	// A failure recorded after the save changes nothing.
	if err := s.FailEvidence(ctx, failed, "late"); err != nil {
		t.Fatal(err)
	}
	if r := readEvidence(t, s, failed); r.Failed || r.LastError != "" {
		t.Errorf("failed after the save: %+v", r)
	}
}

// WeChat keeps media 3 days; rows past that, and rows that used up their
// attempts, are failed by the claim and never handed out.
func TestEvidenceExpiredAndExhaustedRowsAreFailed(t *testing.T) {
	s := newStore(t)
	caseID := evidenceCase(t, s)
	expired := addEvidence(t, s, caseID, 1, bot.TypeImage, "MEDIA_OLD", bot.MediaLifetime+time.Minute)
	// Waiting for a retry past its expiry: failed all the same.
	waiting := addEvidence(t, s, caseID, 2, bot.TypeImage, "MEDIA_WAIT", bot.MediaLifetime+time.Minute)
	execEvidenceSQL(t, s, `UPDATE case_evidence SET next_attempt = now() + interval '1 hour' WHERE id = $1`, waiting)
	exhausted := addEvidence(t, s, caseID, 3, bot.TypeVoice, "MEDIA_TRIED", time.Hour)
	execEvidenceSQL(t, s, `UPDATE case_evidence SET attempts = 3, last_error = 'media/get: http 502' WHERE id = $1`, exhausted)
	fresh := addEvidence(t, s, caseID, 4, bot.TypeImage, "MEDIA_NEW", time.Second)

	if ids := claimEvidenceIDs(t, s, 10, time.Minute, 3); len(ids) != 1 || ids[0] != fresh {
		t.Fatalf("claimed %v, want only the fresh row %d", ids, fresh)
	}
	for _, id := range []int64{expired, waiting} {
		if r := readEvidence(t, s, id); !r.Failed || r.Attempts != 0 || !strings.Contains(r.LastError, "expired") {
			t.Errorf("expired row %d: %+v", id, r)
		}
	}
	if r := readEvidence(t, s, exhausted); !r.Failed || r.LastError != "gave up after 3 attempts: media/get: http 502" {
		t.Errorf("exhausted row: %+v", r)
	}
	if r := readEvidence(t, s, fresh); r.Failed || r.Attempts != 1 {
		t.Errorf("fresh row: %+v", r)
	}
}

// openEvidenceStore is a store with a pool of its own on url: another process.
func openEvidenceStore(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Several processes claiming at once each get rows of their own.
func TestEvidenceClaimConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	first := openEvidenceStore(t, url)
	if _, err := first.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	caseID := evidenceCase(t, first)
	const rows = 60
	execEvidenceSQL(t, first, `INSERT INTO case_evidence (case_id, message_id, openid, kind, media_id, at, expires)
		SELECT $1, i, 'oMember', 'image', 'MEDIA_' || i, now(), now() + interval '72 hours'
		FROM generate_series(1, $2) i`, caseID, rows)

	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		st := openEvidenceStore(t, url)
		wg.Go(func() {
			for {
				got, err := st.ClaimEvidence(context.Background(), 3, time.Hour, 5)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					claimed[e.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != rows {
		t.Errorf("%d rows claimed, want %d", len(claimed), rows)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("row %d claimed %d times", id, n)
		}
	}
}
