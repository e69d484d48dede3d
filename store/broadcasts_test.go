package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot/broadcast"
	"nuanjia/internal/pgtest"
)

func broadcastZone(t *testing.T) *time.Location {
	t.Helper()
	zone, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// No tzdata on this machine: China has kept +08:00 all year since 1991.
		return time.FixedZone("CST", 8*60*60)
	}
	return zone
}

// addChecked adds b as `broadcast add` does, against a limit.
func addChecked(ctx context.Context, s *Store, b broadcast.Broadcast, limit int, zone *time.Location) (int64, error) {
	months := broadcast.Months(b, zone)
	return s.AddBroadcast(ctx, b, months, func(q broadcast.QuotaState) error {
		return broadcast.CheckQuota(b, limit, months, q, zone)
	})
}

// Staff adding broadcasts at the same moment cannot pass the quota
// together: of five adds for 新州镇's members in one month with a limit
// of four, four are scheduled and one is refused, naming the month.
func TestConcurrentAddsKeepTheQuota(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.ImportKnowledge(ctx, demoKB(t)); err != nil {
		t.Fatal(err)
	}
	zone := broadcastZone(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var added int
	var refusals []string
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := broadcast.Broadcast{Text: "通知", At: time.Date(2026, 12, 31, 23, 30-i, 0, 0, zone),
				Branches: []string{"longlin-xinzhou"}, CreatedBy: "staff:test"}
			_, err := addChecked(ctx, s, b, 4, zone)
			mu.Lock()
			defer mu.Unlock()
			var qe *broadcast.QuotaError
			switch {
			case err == nil:
				added++
			case errors.As(err, &qe):
				refusals = append(refusals, err.Error())
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if added != 4 || len(refusals) != 1 || refusals[0] != "2026年12月 新州镇计生协的会员已有4条群发，上限4条" {
		t.Errorf("%d added, refused %q; want 4 and one refusal naming December", added, refusals)
	}
	// January has room.
	if _, err := addChecked(ctx, s, broadcast.Broadcast{Text: "通知", At: time.Date(2027, 1, 1, 0, 30, 0, 0, zone),
		Branches: []string{"longlin-xinzhou"}, CreatedBy: "staff:test"}, 4, zone); err != nil {
		t.Errorf("00:30 on 1 January refused: %v", err)
	}
}

// An unknown branch is refused and nothing is scheduled.
func TestAddRefusesUnknownBranch(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.ImportKnowledge(ctx, demoKB(t)); err != nil {
		t.Fatal(err)
	}
	_, err := addChecked(ctx, s, broadcast.Broadcast{Text: "x", At: time.Now().Add(time.Hour),
		Branches: []string{"longlin-xinzhou", "nowhere"}, CreatedBy: "staff:test"}, 4, broadcastZone(t))
	if err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("add to an unknown branch: %v", err)
	}
	if list, err := s.ListBroadcasts(ctx, 10); err != nil || len(list) != 0 {
		t.Errorf("after the refusal: %d broadcasts (%v)", len(list), err)
	}
}

// Two processes claiming at once get different broadcasts, and none gets
// one whose claim still holds.
func TestClaimDueBroadcastOnce(t *testing.T) {
	url := pgtest.URL(t)
	a, b := storeAt(t, url), storeAt(t, url)
	ctx := context.Background()
	now := time.Now()
	if _, err := a.AddBroadcast(ctx, broadcast.Broadcast{Text: "x", At: now.Add(-time.Minute), CreatedBy: "staff:test"}, nil,
		func(broadcast.QuotaState) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]bool, 2)
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ClaimDueBroadcast(ctx, now, time.Hour, time.Minute)
			if err != nil {
				t.Error(err)
			}
			got[i] = ok
		}()
	}
	wg.Wait()
	if got[0] == got[1] {
		t.Errorf("claims %v, want exactly one", got)
	}
	if _, ok, _ := a.ClaimDueBroadcast(ctx, now.Add(30*time.Second), time.Hour, time.Minute); ok {
		t.Error("claimed again while the lease holds")
	}
	if _, ok, _ := a.ClaimDueBroadcast(ctx, now.Add(2*time.Minute), time.Hour, time.Minute); !ok {
		t.Error("not claimed after the lease ran out")
	}
}

func storeAt(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// A member who opts out of broadcasts is due for the tag sync to take
// their branch tag off, and due again for it when they opt back in.
func TestOptOutTakesTheBranchTagOff(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.ImportKnowledge(ctx, demoKB(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordBranchTag(ctx, "longlin-xinzhou", 101); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`INSERT INTO members (openid, first_seen, last_seen, branch_id, tagged_branch)
		VALUES ('o-out', now(), now(), 'longlin-xinzhou', 'longlin-xinzhou'), ('o-in', now(), now(), 'longlin-xinzhou', 'longlin-xinzhou')`); err != nil {
		t.Fatal(err)
	}
	if moves, err := s.TagsToSync(ctx, 10, time.Minute); err != nil || len(moves) != 0 {
		t.Fatalf("in step: moves %+v, %v", moves, err)
	}
	if err := s.SetNoBroadcasts(ctx, "o-out", true); err != nil {
		t.Fatal(err)
	}
	moves, err := s.TagsToSync(ctx, 10, time.Minute)
	if err != nil || len(moves) != 1 || moves[0].From != "longlin-xinzhou" || moves[0].To != "" || strings.Join(moves[0].OpenIDs, ",") != "o-out" {
		t.Fatalf("after 不要推送: moves %+v, %v; want o-out off 新州镇's tag onto none", moves, err)
	}
	if err := s.MarkTagsSynced(ctx, moves[0].OpenIDs, ""); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.TagsOutOfStep(ctx, nil); err != nil || n != 0 {
		t.Errorf("%d opted-out members still on tags (%v)", n, err)
	}
	if err := s.SetNoBroadcasts(ctx, "o-out", false); err != nil {
		t.Fatal(err)
	}
	moves, err = s.TagsToSync(ctx, 10, time.Minute)
	if err != nil || len(moves) != 1 || moves[0].To != "longlin-xinzhou" || moves[0].ToTag != 101 {
		t.Errorf("after 恢复推送: moves %+v, %v; want o-out back on 新州镇's tag", moves, err)
	}
}
