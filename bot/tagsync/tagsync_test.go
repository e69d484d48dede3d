package tagsync_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot/tagsync"
	"nuanjia/bot/wxapi"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// The parts serve wires together fit the sync's interfaces.
var (
	_ tagsync.Store  = (*store.Store)(nil)
	_ tagsync.Client = (*wxapi.Client)(nil)
)

const (
	tagging   = "tags/members/batchtagging"
	untagging = "tags/members/batchuntagging"
	createTag = "tags/create"

	xinzhou = "longlin-xinzhou" // 安龙县驻隆林新州镇流动人口计生协
	zhebao  = "longlin-zhebao"  // 安龙县驻隆林者保乡流动人口计生协
	county  = "county"          // 安龙县计生协
)

// env is one database with the demo branches, one fake WeChat and one
// Redis token cache; every syncer made from it acts like a separate serve
// process.
type env struct {
	url  string
	st   *store.Store
	rd   *store.Redis
	fake *wxtest.FakeAPI
	api  string
	logs *testkit.LogBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{url: pgtest.URL(t), fake: wxtest.NewFakeAPI(), logs: &testkit.LogBuffer{}}
	e.st = testkit.StoreAt(t, e.url)
	e.rd = testkit.Redis(t)
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	e.api = srv.URL
	if err := e.st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) client(t *testing.T) *wxapi.Client {
	t.Helper()
	c, err := wxapi.New(wxapi.Config{
		AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: e.api,
		Tokens: store.NewRedisTokens(e.rd.Client(), e.rd.Prefix()),
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// syncer is a syncer of its own process: its own pool and client. Failed
// members are due again at once unless cfg says otherwise.
func (e *env) syncer(t *testing.T, cfg tagsync.Config) *tagsync.Syncer {
	t.Helper()
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Millisecond
	}
	return tagsync.New(cfg, testkit.StoreAt(t, e.url), e.client(t), slog.New(slog.NewTextHandler(e.logs, nil)))
}

func round(t *testing.T, s *tagsync.Syncer) tagsync.Result {
	t.Helper()
	time.Sleep(5 * time.Millisecond) // past the failed members' millisecond wait
	res, err := s.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// member adds a follower of branch ("" for none), as a QR code scan does.
func (e *env) member(t *testing.T, openID, branch string) {
	t.Helper()
	if _, err := e.st.DB().Exec(`INSERT INTO members (openid, first_seen, last_seen, branch_id)
		VALUES ($1, now(), now(), NULLIF($2, ''))`, openID, branch); err != nil {
		t.Fatal(err)
	}
}

func (e *env) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := e.st.DB().Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// branchTag is the tag id recorded for the branch, 0 for none.
func (e *env) branchTag(t *testing.T, branch string) int64 {
	t.Helper()
	var id int64
	if err := e.st.DB().Get(&id, `SELECT COALESCE(tag_id, 0) FROM branches WHERE id = $1`, branch); err != nil {
		t.Fatal(err)
	}
	return id
}

// held is what WeChat holds: each follower's tag ids, replayed from the
// (un)tagging calls the fake carried out.
func (e *env) held() map[string][]int64 {
	tags := map[string]map[int64]bool{}
	for _, c := range e.fake.Calls("") {
		add := c.Path == "/cgi-bin/"+tagging
		if (!add && c.Path != "/cgi-bin/"+untagging) || c.Errcode != 0 || c.Status != 200 {
			continue
		}
		id, _ := c.JSON["tagid"].(float64)
		for _, o := range c.JSON["openid_list"].([]any) {
			openID := o.(string)
			if tags[openID] == nil {
				tags[openID] = map[int64]bool{}
			}
			if add {
				tags[openID][int64(id)] = true
			} else {
				delete(tags[openID], int64(id))
			}
		}
	}
	out := map[string][]int64{}
	for openID, ids := range tags {
		for id := range ids {
			out[openID] = append(out[openID], id)
		}
		sort.Slice(out[openID], func(i, j int) bool { return out[openID][i] < out[openID][j] })
	}
	return out
}

// wantHeld checks that WeChat holds exactly the given tag for each member
// (0: none).
func (e *env) wantHeld(t *testing.T, want map[string]int64) {
	t.Helper()
	held := e.held()
	for openID, tag := range want {
		got := held[openID]
		switch {
		case tag == 0 && len(got) != 0:
			t.Errorf("%s holds tags %v, want none", openID, got)
		case tag != 0 && (len(got) != 1 || got[0] != tag):
			t.Errorf("%s holds tags %v, want only %d", openID, got, tag)
		}
	}
}

// wechatTags is the account's tags by name, WeChat's own 星标组 left out.
func (e *env) wechatTags(t *testing.T) map[string]int64 {
	t.Helper()
	tags, err := e.client(t).Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, tag := range tags {
		if tag.ID > 2 {
			out[tag.Name] = tag.ID
		}
	}
	return out
}

// due counts members the database says are out of step with WeChat.
func (e *env) due(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.st.DB().Get(&n, `SELECT count(*) FROM members
		WHERE (subscribed AND branch_id IS DISTINCT FROM tagged_branch) OR (NOT subscribed AND tagged_branch IS NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMembersGetTheirBranchTag(t *testing.T) {
	e := newEnv(t)
	s := e.syncer(t, tagsync.Config{})
	e.member(t, "oXinzhou1", xinzhou)
	e.member(t, "oXinzhou2", xinzhou)
	e.member(t, "oCounty", county)
	e.member(t, "oNoBranch", "")
	e.member(t, "oGone", xinzhou)
	e.exec(t, `UPDATE members SET subscribed = false WHERE openid = 'oGone'`)

	res := round(t, s)
	if res.Tagged != 3 || res.TagsCreated != 2 || res.Failed != 0 {
		t.Errorf("round = %+v, want 3 tagged with 2 new tags", res)
	}
	tags := e.wechatTags(t)
	if len(tags) != 2 || tags["新州镇计生协"] == 0 || tags["安龙县计生协"] == 0 {
		t.Fatalf("WeChat's tags = %v, want one for each branch with members", tags)
	}
	if e.branchTag(t, xinzhou) != tags["新州镇计生协"] || e.branchTag(t, county) != tags["安龙县计生协"] {
		t.Errorf("recorded tags %d, %d; WeChat's %v", e.branchTag(t, xinzhou), e.branchTag(t, county), tags)
	}
	if e.branchTag(t, zhebao) != 0 {
		t.Errorf("a branch without members got a tag")
	}
	e.wantHeld(t, map[string]int64{
		"oXinzhou1": tags["新州镇计生协"], "oXinzhou2": tags["新州镇计生协"], "oCounty": tags["安龙县计生协"],
		"oNoBranch": 0, "oGone": 0,
	})
	if calls := len(e.fake.Calls(tagging)); calls != 2 {
		t.Errorf("%d tagging calls, want one per branch", calls)
	}

	// In step now: the next round calls nothing.
	before := len(e.fake.Calls(""))
	if res := round(t, s); res != (tagsync.Result{}) || len(e.fake.Calls("")) != before || e.due(t) != 0 {
		t.Errorf("a round with nothing due did %+v and made %d calls; %d due", res, len(e.fake.Calls(""))-before, e.due(t))
	}

	// An import of the knowledge base keeps the tags.
	if err := e.st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	if e.branchTag(t, xinzhou) != tags["新州镇计生协"] {
		t.Errorf("an import cleared the branch's tag")
	}
}

func TestMovingBranchMovesTheTag(t *testing.T) {
	e := newEnv(t)
	s := e.syncer(t, tagsync.Config{})
	e.member(t, "oMover", xinzhou)
	e.member(t, "oStayer", xinzhou)
	e.member(t, "oForgotten", county)
	e.member(t, "oLeaver", county)
	round(t, s)
	oldTag := e.branchTag(t, xinzhou)

	e.exec(t, `UPDATE members SET branch_id = $1 WHERE openid = 'oMover'`, zhebao)
	// "forget": the erasure clears the member's branch; they still follow.
	e.exec(t, `UPDATE members SET branch_id = NULL WHERE openid = 'oForgotten'`)
	// Unfollowed: WeChat dropped their tags itself.
	e.exec(t, `UPDATE members SET subscribed = false WHERE openid = 'oLeaver'`)
	untagsBefore := len(e.fake.Calls(untagging))

	res := round(t, s)
	newTag := e.branchTag(t, zhebao)
	if newTag == 0 || newTag == oldTag {
		t.Fatalf("the new branch's tag is %d (old %d)", newTag, oldTag)
	}
	if res.Tagged != 1 || res.Untagged != 1 || res.Unfollowed != 1 {
		t.Errorf("round = %+v, want 1 moved, 1 untagged, 1 unfollower cleared", res)
	}
	e.wantHeld(t, map[string]int64{"oMover": newTag, "oStayer": oldTag, "oForgotten": 0})
	var untagged []string
	for _, c := range e.fake.Calls(untagging)[untagsBefore:] {
		for _, o := range c.JSON["openid_list"].([]any) {
			untagged = append(untagged, o.(string))
		}
	}
	sort.Strings(untagged)
	if strings.Join(untagged, ",") != "oForgotten,oMover" {
		t.Errorf("untagged %v, want the mover and the forgotten member (no call for the unfollower)", untagged)
	}
	if e.due(t) != 0 {
		t.Errorf("%d members still due", e.due(t))
	}

	// Following again: tagged again, WeChat having dropped the tag.
	e.exec(t, `UPDATE members SET subscribed = true WHERE openid = 'oLeaver'`)
	round(t, s)
	e.wantHeld(t, map[string]int64{"oLeaver": e.branchTag(t, county)})
}

func TestTagMadeBeforeACrashIsReused(t *testing.T) {
	e := newEnv(t)
	// A round created the tag and stopped before recording it.
	made, err := e.client(t).CreateTag(context.Background(), "新州镇计生协")
	if err != nil {
		t.Fatal(err)
	}
	e.member(t, "oA", xinzhou)
	creates := len(e.fake.Calls(createTag))

	res := round(t, e.syncer(t, tagsync.Config{}))
	if n := len(e.fake.Calls(createTag)) - creates; n != 0 {
		t.Errorf("%d more tags/create calls, want the tag found instead", n)
	}
	if res.TagsFound != 1 || res.TagsCreated != 0 || e.branchTag(t, xinzhou) != made {
		t.Errorf("round = %+v, recorded tag %d, want %d", res, e.branchTag(t, xinzhou), made)
	}
	if tags := e.wechatTags(t); len(tags) != 1 {
		t.Errorf("WeChat's tags = %v, want the one", tags)
	}
	e.wantHeld(t, map[string]int64{"oA": made})
}

// otherProcessFirst is this process's WeChat client, with another
// process's create of the same tag landing between this round's look at
// the tags and its own create.
type otherProcessFirst struct {
	*wxapi.Client
	other *wxapi.Client
	made  int64
}

func (c *otherProcessFirst) CreateTag(ctx context.Context, name string) (int64, error) {
	id, err := c.other.CreateTag(ctx, name)
	if err != nil {
		return 0, err
	}
	c.made = id
	return c.Client.CreateTag(ctx, name)
}

func TestTagCreatedMeanwhileIsReused(t *testing.T) {
	e := newEnv(t)
	e.member(t, "oA", xinzhou)
	wx := &otherProcessFirst{Client: e.client(t), other: e.client(t)}
	s := tagsync.New(tagsync.Config{}, testkit.StoreAt(t, e.url), wx, nil)

	res := round(t, s)
	if wx.made == 0 || e.branchTag(t, xinzhou) != wx.made || res.Failed != 0 {
		t.Fatalf("round = %+v, recorded %d, the other process made %d", res, e.branchTag(t, xinzhou), wx.made)
	}
	if n := len(e.fake.Calls(createTag)); n != 2 || e.fake.Calls(createTag)[1].Errcode != 45157 {
		t.Errorf("tags/create calls: %d, want ours refused with 45157 after the other's", n)
	}
	if tags := e.wechatTags(t); len(tags) != 1 {
		t.Errorf("WeChat's tags = %v, want the one", tags)
	}
	e.wantHeld(t, map[string]int64{"oA": wx.made})
}

func TestFailedCallsLeaveMembersDue(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"create", createTag},
		{"tag", tagging},
		{"untag", untagging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.syncer(t, tagsync.Config{})
			e.member(t, "oA", xinzhou)
			if tc.path == untagging {
				round(t, s)
				e.exec(t, `UPDATE members SET branch_id = $1 WHERE openid = 'oA'`, zhebao)
			}
			e.fake.FailNext(tc.path, -1, 1) // WeChat's system error

			res := round(t, s)
			if res.Failed != 1 || res.Tagged != 0 || e.due(t) != 1 {
				t.Fatalf("round = %+v, %d due; want the member failed and due", res, e.due(t))
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "tag sync left members due") || !strings.Contains(logs, "errcode=-1") {
				t.Errorf("the failure was not logged with its errcode: %s", logs)
			}
			for _, secret := range []string{"新州镇", "计生协", "0776"} {
				if strings.Contains(logs, secret) {
					t.Errorf("%q leaked into the log: %s", secret, logs)
				}
			}

			res = round(t, s)
			want := e.branchTag(t, xinzhou)
			if tc.path == untagging {
				want = e.branchTag(t, zhebao)
			}
			if res.Tagged != 1 || res.Failed != 0 || e.due(t) != 0 {
				t.Errorf("next round = %+v, %d due; want the member tagged", res, e.due(t))
			}
			e.wantHeld(t, map[string]int64{"oA": want})
			if tags := e.wechatTags(t); len(tags) != map[bool]int{true: 2, false: 1}[tc.path == untagging] {
				t.Errorf("WeChat's tags = %v: a retry made a second tag", tags)
			}
		})
	}
}

func TestFailedMembersWaitBeforeTheNextTry(t *testing.T) {
	e := newEnv(t)
	s := e.syncer(t, tagsync.Config{RetryAfter: time.Hour})
	e.member(t, "oA", xinzhou)
	e.fake.FailNext(tagging, 45009, 1) // the API's daily quota
	if res := round(t, s); res.Failed != 1 {
		t.Fatalf("round = %+v", res)
	}
	calls := len(e.fake.Calls(tagging))
	if res := round(t, s); res != (tagsync.Result{}) || len(e.fake.Calls(tagging)) != calls {
		t.Errorf("the member was tried again at once: %+v", res)
	}
}

func TestTagDeletedAtWeChatIsMadeAgain(t *testing.T) {
	e := newEnv(t)
	s := e.syncer(t, tagsync.Config{})
	e.member(t, "oMover", xinzhou)
	e.member(t, "oStayer", xinzhou)
	round(t, s)
	gone := e.branchTag(t, xinzhou)
	// Someone deletes the tag in the platform's console: WeChat drops it
	// from every follower, and (un)tagging with it answers 45159. (The
	// fake forgets all its tags and calls; the branch's was the only one.)
	e.fake.Reset()
	e.exec(t, `UPDATE members SET branch_id = $1 WHERE openid = 'oMover'`, zhebao)

	round(t, s)
	if e.branchTag(t, xinzhou) == gone {
		t.Fatal("the deleted tag is still recorded")
	}
	round(t, s)
	again := e.branchTag(t, xinzhou)
	if again == 0 || again == gone {
		t.Fatalf("the branch's tag is %d after %d was deleted", again, gone)
	}
	e.wantHeld(t, map[string]int64{"oStayer": again, "oMover": e.branchTag(t, zhebao)})
	if e.due(t) != 0 {
		t.Errorf("%d members still due", e.due(t))
	}
}

func TestConcurrentRoundsTagEachMemberOnce(t *testing.T) {
	e := newEnv(t)
	branches := []string{xinzhou, zhebao, county}
	want := 0
	for i := range 150 {
		e.member(t, fmt.Sprintf("oM%03d", i), branches[i%len(branches)])
		want++
	}
	// Slow calls keep both rounds busy at once.
	e.fake.Delay(tagging, 20*time.Millisecond)
	e.fake.Delay(createTag, 20*time.Millisecond)
	a := e.syncer(t, tagsync.Config{Batch: 20})
	b := e.syncer(t, tagsync.Config{Batch: 20})

	var wg sync.WaitGroup
	results := make([]tagsync.Result, 2)
	for i, s := range []*tagsync.Syncer{a, b} {
		wg.Go(func() {
			res, err := s.Round(context.Background())
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	round(t, a) // anything a failure left

	times := map[string]int{}
	for _, c := range e.fake.Calls(tagging) {
		if c.Errcode != 0 {
			continue
		}
		for _, o := range c.JSON["openid_list"].([]any) {
			times[o.(string)]++
		}
	}
	for i := range want {
		if id := fmt.Sprintf("oM%03d", i); times[id] != 1 {
			t.Errorf("%s tagged %d times", id, times[id])
		}
	}
	if results[0].Failed+results[1].Failed != 0 {
		t.Errorf("rounds failed members (%+v, %+v): racing creates of one tag must find it", results[0], results[1])
	}
	if results[0].Tagged == 0 || results[1].Tagged == 0 {
		t.Errorf("one round did all the work (%+v, %+v): they did not run together", results[0], results[1])
	}
	if tags := e.wechatTags(t); len(tags) != 3 {
		t.Errorf("WeChat's tags = %v, want one per branch", tags)
	}
	held := e.held()
	for i := range want {
		id := fmt.Sprintf("oM%03d", i)
		if tag := e.branchTag(t, branches[i%len(branches)]); len(held[id]) != 1 || held[id][0] != tag {
			t.Errorf("%s holds %v, want %d", id, held[id], tag)
		}
	}
}

// moveDuringCall is a WeChat client during whose tagging call the member
// changes branch again (a second QR code scanned meanwhile).
type moveDuringCall struct {
	*wxapi.Client
	move func()
}

func (c *moveDuringCall) TagMembers(ctx context.Context, tagID int64, openIDs []string) error {
	if c.move != nil {
		c.move()
		c.move = nil
	}
	return c.Client.TagMembers(ctx, tagID, openIDs)
}

func TestMemberWhoMovesDuringARoundEndsOnTheRightTag(t *testing.T) {
	e := newEnv(t)
	e.member(t, "oA", xinzhou)
	wx := &moveDuringCall{Client: e.client(t), move: func() {
		e.exec(t, `UPDATE members SET branch_id = $1 WHERE openid = 'oA'`, county)
	}}
	s := tagsync.New(tagsync.Config{}, testkit.StoreAt(t, e.url), wx, nil)

	round(t, s)
	if e.due(t) != 1 {
		t.Fatalf("%d due after the member moved mid-round, want them due", e.due(t))
	}
	round(t, s)
	e.wantHeld(t, map[string]int64{"oA": e.branchTag(t, county)})
	if e.due(t) != 0 {
		t.Errorf("%d still due", e.due(t))
	}
}
