package store

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"nuanjia/bot"
)

// inCases runs fn in one case-book transaction, failing the test on error.
func inCases(t *testing.T, s *Store, fn func(c bot.CaseClock) error) {
	t.Helper()
	if err := s.WithCases(context.Background(), fn); err != nil {
		t.Fatalf("WithCases: %v", err)
	}
}

// keepPush keeps in and returns its messages row id.
func keepPush(t *testing.T, s *Store, in bot.Inbound) int64 {
	t.Helper()
	if _, err := s.Keep(context.Background(), in); err != nil {
		t.Fatalf("Keep(%s): %v", in.DedupeKey, err)
	}
	var id int64
	if err := s.DB().Get(&id, `SELECT id FROM messages WHERE dedupe_key = $1`, in.DedupeKey); err != nil {
		t.Fatal(err)
	}
	return id
}

// mediaPush is a media message from openID at at, as the webhook builds it.
func mediaPush(openID string, msgID int64, typ, mediaID string, at time.Time) bot.Inbound {
	in := textPush(openID, msgID, "", at)
	in.Type, in.MediaID = typ, mediaID
	return in
}

// openTestCase opens a help case for openID in branch, failing the test
// on error.
func openTestCase(t *testing.T, s *Store, openID, branch string, urgent bool) bot.Case {
	t.Helper()
	var k bot.Case
	inCases(t, s, func(c bot.CaseClock) (err error) {
		k, err = c.OpenCase(context.Background(), bot.NewCase{OpenID: openID, BranchID: branch,
			Category: bot.CategoryWages, Urgent: urgent, Kind: bot.CaseHelp, Summary: "老板拖欠工资", At: time.Now()})
		return err
	})
	return k
}

// setCase runs an UPDATE of case id's row: set is its SET clause.
func setCase(t *testing.T, s *Store, id int64, set string) {
	t.Helper()
	if _, err := s.DB().Exec(`UPDATE cases SET `+set+` WHERE id = $1`, id); err != nil {
		t.Fatalf("UPDATE cases SET %s: %v", set, err)
	}
}

func caseNumbers(cs []bot.Case) []int64 {
	out := make([]int64, len(cs))
	for i, k := range cs {
		out[i] = k.Number
	}
	return out
}

func actionNames(as []bot.CaseAction) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Action + ":" + a.Text
	}
	return out
}

func TestOpenCase(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Now().Truncate(time.Second)
	// The member sent a photo of the wage slip and a contract just before
	// asking; an old voice and another member's photo are not part of it.
	keepPush(t, s, mediaPush("o-a", 1, bot.TypeVoice, "VOICE-OLD", at.Add(-10*time.Minute)))
	photo := keepPush(t, s, mediaPush("o-a", 2, bot.TypeImage, "PHOTO", at.Add(-2*time.Minute)))
	file := keepPush(t, s, mediaPush("o-a", 3, bot.TypeFile, "", at.Add(-time.Minute)))
	keepPush(t, s, mediaPush("o-b", 4, bot.TypeImage, "OTHER", at.Add(-time.Minute)))
	opening := keepPush(t, s, textPush("o-a", 5, "老板拖欠工资三个月了", at))

	var first bot.Case
	inCases(t, s, func(c bot.CaseClock) error {
		var err error
		first, err = c.OpenCase(ctx, bot.NewCase{OpenID: "o-a", BranchID: "longlin-xinzhou", Category: bot.CategoryWages,
			Kind: bot.CaseHelp, Summary: "老板拖欠工资三个月了", MessageID: opening, At: at})
		if err != nil {
			return err
		}
		actions, err := c.LastActions(ctx, first.ID, 10)
		if err != nil {
			return err
		}
		want := []string{"opened:老板拖欠工资三个月了", "evidence:image", "evidence:file"}
		if !slices.Equal(actionNames(actions), want) {
			t.Errorf("log = %q, want %q", actionNames(actions), want)
		}
		if actions[0].Actor != "o-a" {
			t.Errorf("opened by %q, want the member", actions[0].Actor)
		}
		ev, err := c.CaseEvidence(ctx, first.ID)
		if err != nil {
			return err
		}
		if len(ev) != 2 || ev[0].MessageID != photo || ev[0].MediaID != "PHOTO" || ev[1].MessageID != file ||
			ev[0].Fetched || !ev[0].Expires.Equal(ev[0].At.Add(bot.MediaLifetime)) {
			t.Errorf("evidence = %+v, want the photo and the file", ev)
		}
		return nil
	})
	if first.Number < 101 || first.MemberNo < 1001 || first.Status != bot.CaseOpen || first.OpenID != "o-a" ||
		first.BranchID != "longlin-xinzhou" || first.Summary != "老板拖欠工资三个月了" {
		t.Errorf("opened %+v", first)
	}
	// The file has no MediaId: nothing must try to fetch it.
	var failed bool
	var lastError string
	if err := s.DB().QueryRow(`SELECT failed, last_error FROM case_evidence WHERE message_id = $1`, file).
		Scan(&failed, &lastError); err != nil {
		t.Fatal(err)
	}
	if !failed || lastError != "no media id" {
		t.Errorf("file evidence: failed %v %q", failed, lastError)
	}

	// A second open for the member is refused with their case, and the
	// transaction goes on.
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.OpenCase(ctx, bot.NewCase{OpenID: "o-a", BranchID: "x", Category: bot.CategoryOther, Kind: bot.CaseHelp})
		if !errors.Is(err, bot.ErrCaseOpen) || got.Number != first.Number {
			t.Errorf("second OpenCase = %d, %v; want case %d and ErrCaseOpen", got.Number, err, first.Number)
		}
		return c.Log(ctx, first.ID, bot.ActionMessage, "o-a", "还在吗")
	})

	// Another member's case has its own number; a stranger gets a members row.
	other := openTestCase(t, s, "o-stranger", "anlong", false)
	if other.Number == first.Number || other.MemberNo == first.MemberNo {
		t.Errorf("second member's case %d, member %d; first %d, member %d", other.Number, other.MemberNo, first.Number, first.MemberNo)
	}
	if m := member(t, s, "o-stranger"); m.FirstSeen.IsZero() {
		t.Errorf("stranger's row: %+v", m)
	}

	// Closed, the member may open another; their member number stays.
	first.Status = bot.CaseClosed
	now := time.Now()
	first.ClosedAt = &now
	inCases(t, s, func(c bot.CaseClock) error { return c.SaveCase(ctx, first) })
	again := openTestCase(t, s, "o-a", "longlin-xinzhou", false)
	if again.Number == first.Number || again.MemberNo != first.MemberNo {
		t.Errorf("after the close: case %d member %d, want a new number and member %d", again.Number, again.MemberNo, first.MemberNo)
	}
	inCases(t, s, func(c bot.CaseClock) error {
		no, err := c.MemberNo(ctx, "o-a")
		if no != first.MemberNo {
			t.Errorf("MemberNo = %d, want %d", no, first.MemberNo)
		}
		// The photo stays with the first case.
		ev, _ := c.CaseEvidence(ctx, again.ID)
		if len(ev) != 0 {
			t.Errorf("evidence attached twice: %+v", ev)
		}
		return err
	})
	if n := countRows(t, s, "members", "member_no IS NOT NULL"); n != 2 {
		t.Errorf("%d members have numbers, want 2", n)
	}
}

func TestCaseLockSaveAndLog(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := openTestCase(t, s, "o-a", "anlong", false)
	setCase(t, s, k.ID, `updated_at = now() - interval '1 hour'`)

	inCases(t, s, func(c bot.CaseClock) error {
		got, ok, err := c.CaseByNumber(ctx, k.Number)
		if err != nil || !ok || got.ID != k.ID {
			t.Fatalf("CaseByNumber = %+v, %v, %v", got, ok, err)
		}
		// Another transaction cannot take the case while this one holds it.
		if _, err := s.DB().Exec(`SELECT 1 FROM cases WHERE id = $1 FOR UPDATE NOWAIT`, k.ID); err == nil {
			t.Error("the case was not locked")
		}
		accepted := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
		got.Status, got.Assignee, got.AcceptedAt, got.Urgent, got.BranchID = bot.CaseAccepted, "o-director", &accepted, true, "longlin"
		got.Category, got.Rating = bot.CategoryInjury, 1
		if err := c.SaveCase(ctx, got); err != nil {
			return err
		}
		if err := c.Log(ctx, got.ID, bot.ActionAccepted, "o-director", ""); err != nil {
			return err
		}
		cur, ok, err := c.CurrentCase(ctx, "o-a")
		if err != nil || !ok {
			t.Fatalf("CurrentCase = %v, %v", ok, err)
		}
		if cur.Status != bot.CaseAccepted || cur.Assignee != "o-director" || cur.AcceptedAt == nil ||
			!cur.AcceptedAt.Equal(accepted) || !cur.Urgent || cur.BranchID != "longlin" || cur.Rating != 1 ||
			cur.Category != bot.CategoryInjury || time.Since(cur.UpdatedAt) > time.Minute {
			t.Errorf("after SaveCase: %+v", cur)
		}
		if _, ok, _ := c.CurrentCase(ctx, "o-nobody"); ok {
			t.Error("a member without a case has a current case")
		}
		if _, ok, _ := c.CaseByNumber(ctx, 99999); ok {
			t.Error("found case 99999")
		}
		if err := c.SaveCase(ctx, bot.Case{ID: -1, Kind: bot.CaseHelp, Status: bot.CaseOpen}); err == nil {
			t.Error("SaveCase of a case that does not exist succeeded")
		}
		return nil
	})
	// Log alone also marks the case changed.
	setCase(t, s, k.ID, `updated_at = now() - interval '1 hour'`)
	inCases(t, s, func(c bot.CaseClock) error {
		for i := range 5 {
			if err := c.Log(ctx, k.ID, bot.ActionNote, "o-director", strconv.Itoa(i)); err != nil {
				return err
			}
		}
		last, err := c.LastActions(ctx, k.ID, 3)
		if want := []string{"note:2", "note:3", "note:4"}; !slices.Equal(actionNames(last), want) {
			t.Errorf("LastActions(3) = %q, want %q", actionNames(last), want)
		}
		return err
	})
	if n := countRows(t, s, "cases", "id = $1 AND updated_at > now() - interval '1 minute'", k.ID); n != 1 {
		t.Error("Log did not bump updated_at")
	}
}

func TestCaseActionsAreAppendOnly(t *testing.T) {
	s := newStore(t)
	k := openTestCase(t, s, "o-a", "anlong", false)
	if _, err := s.DB().Exec(`UPDATE case_actions SET text = 'rewritten' WHERE case_id = $1`, k.ID); err == nil {
		t.Fatal("an UPDATE of case_actions succeeded")
	}
	if n := countRows(t, s, "case_actions", "case_id = $1 AND text = '老板拖欠工资'", k.ID); n != 1 {
		t.Errorf("the opened line changed")
	}
}

func TestFindCases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// Opened in this order, a minute apart.
	old := openTestCase(t, s, "o-1", "anlong", false)
	urgentNew := openTestCase(t, s, "o-2", "anlong", true)
	mid := openTestCase(t, s, "o-3", "longlin", false)
	taken := openTestCase(t, s, "o-4", "anlong", false)
	for i, k := range []bot.Case{old, urgentNew, mid, taken} {
		setCase(t, s, k.ID, `created_at = now() - interval '`+strconv.Itoa(10-i)+` minutes'`)
	}
	setCase(t, s, taken.ID, `status = 'accepted', assignee = 'o-dir'`)

	find := func(q bot.CaseQuery) ([]int64, int) {
		t.Helper()
		var got []bot.Case
		var total int
		inCases(t, s, func(c bot.CaseClock) (err error) {
			got, total, err = c.FindCases(ctx, q)
			return err
		})
		return caseNumbers(got), total
	}
	tests := []struct {
		name  string
		q     bot.CaseQuery
		want  []int64
		total int
	}{
		{"all, urgent then oldest", bot.CaseQuery{}, []int64{urgentNew.Number, old.Number, mid.Number, taken.Number}, 4},
		{"a page", bot.CaseQuery{Limit: 2}, []int64{urgentNew.Number, old.Number}, 4},
		{"a branch", bot.CaseQuery{Branches: []string{"longlin"}}, []int64{mid.Number}, 1},
		{"open ones", bot.CaseQuery{Statuses: []string{bot.CaseOpen}, Branches: []string{"anlong"}},
			[]int64{urgentNew.Number, old.Number}, 2},
		{"an assignee's", bot.CaseQuery{Assignee: "o-dir"}, []int64{taken.Number}, 1},
		{"since", bot.CaseQuery{Since: time.Now().Add(-9*time.Minute - 30*time.Second)}, []int64{urgentNew.Number, mid.Number, taken.Number}, 3},
		{"no branch at all", bot.CaseQuery{Branches: []string{}}, []int64{}, 0},
	}
	for _, tt := range tests {
		got, total := find(tt.q)
		if !slices.Equal(got, tt.want) || total != tt.total {
			t.Errorf("%s: FindCases = %v (of %d), want %v (of %d)", tt.name, got, total, tt.want, tt.total)
		}
	}

	listed, err := s.ListCases(ctx, bot.CaseQuery{Branches: []string{"anlong"}})
	if want := []int64{old.Number, urgentNew.Number, taken.Number}; err != nil || !slices.Equal(caseNumbers(listed), want) {
		t.Errorf("ListCases = %v, %v; want %v oldest first", caseNumbers(listed), err, want)
	}
	inCases(t, s, func(c bot.CaseClock) error {
		second := openTestCaseIn(t, c, "o-1")
		mine, err := c.MemberCases(ctx, "o-1", 0)
		if want := []int64{second.Number, old.Number}; !slices.Equal(caseNumbers(mine), want) {
			t.Errorf("MemberCases = %v, want %v newest first", caseNumbers(mine), want)
		}
		return err
	})
}

// openTestCaseIn closes openID's case and opens another, inside c.
func openTestCaseIn(t *testing.T, c bot.CaseClock, openID string) bot.Case {
	t.Helper()
	ctx := context.Background()
	cur, ok, err := c.CurrentCase(ctx, openID)
	if err != nil || !ok {
		t.Fatalf("CurrentCase(%s) = %v, %v", openID, ok, err)
	}
	cur.Status = bot.CaseClosed
	if err := c.SaveCase(ctx, cur); err != nil {
		t.Fatal(err)
	}
	k, err := c.OpenCase(ctx, bot.NewCase{OpenID: openID, BranchID: cur.BranchID, Category: bot.CategoryOther, Kind: bot.CaseQuestion})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAttach(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := openTestCase(t, s, "o-a", "anlong", false)
	at := time.Now().Add(time.Hour).Truncate(time.Second) // after the case opened: not attached by it
	photo := mediaPush("o-a", 10, bot.TypeImage, "PHOTO", at)
	photo.StoredID = keepPush(t, s, photo)
	file := mediaPush("o-a", 11, bot.TypeFile, "", at)
	file.StoredID = keepPush(t, s, file)
	text := textPush("o-a", 12, "就是这张", at)
	text.StoredID = keepPush(t, s, text)

	inCases(t, s, func(c bot.CaseClock) error {
		for range 2 { // the second time changes nothing
			if err := c.Attach(ctx, k.ID, photo); err != nil {
				return err
			}
		}
		if err := c.Attach(ctx, k.ID, file); err != nil {
			return err
		}
		if err := c.Attach(ctx, k.ID, text); err == nil {
			t.Error("a text was attached as evidence")
		}
		unkept := photo
		unkept.StoredID = 0
		if err := c.Attach(ctx, k.ID, unkept); err == nil {
			t.Error("a push without a StoredID was attached")
		}
		ev, err := c.CaseEvidence(ctx, k.ID)
		if err != nil {
			return err
		}
		if len(ev) != 2 || ev[0].Kind != bot.TypeImage || ev[0].MediaID != "PHOTO" || !ev[0].At.Equal(at) ||
			!ev[0].Expires.Equal(at.Add(bot.MediaLifetime)) || ev[1].Kind != bot.TypeFile {
			t.Errorf("evidence = %+v", ev)
		}
		return nil
	})
	if n := countRows(t, s, "case_actions", "case_id = $1 AND action = 'evidence'", k.ID); n != 2 {
		t.Errorf("%d evidence lines, want 2 (one per push)", n)
	}
	if n := countRows(t, s, "case_evidence", "message_id = $1 AND failed AND last_error = 'no media id'", file.StoredID); n != 1 {
		t.Error("the file is not marked failed")
	}
	// Fetched and Size come from the fetcher's columns.
	if _, err := s.DB().Exec(`UPDATE case_evidence SET fetched_at = now(), size = 1234 WHERE message_id = $1`, photo.StoredID); err != nil {
		t.Fatal(err)
	}
	inCases(t, s, func(c bot.CaseClock) error {
		ev, err := c.CaseEvidence(ctx, k.ID)
		if len(ev) == 0 || !ev[0].Fetched || ev[0].Size != 1234 {
			t.Errorf("fetched evidence = %+v", ev)
		}
		return err
	})
}

func TestMemberOfAndLastLocation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	keepPush(t, s, textPush("o-a", 1, "你好", t0))
	loc := textPush("o-a", 2, "", t0.Add(time.Minute))
	loc.Type, loc.Lat, loc.Lng, loc.Located = bot.TypeLocation, 24.62, 105.18, true
	keepPush(t, s, loc)
	ev := eventPush("o-a", bot.EventLocation, "", t0.Add(2*time.Minute))
	ev.Lat, ev.Lng, ev.Located = 24.7, 105.3, true
	keepPush(t, s, ev)
	keepPush(t, s, textPush("o-a", 3, "后来的消息", t0.Add(3*time.Minute)))

	inCases(t, s, func(c bot.CaseClock) error {
		m, ok, err := c.MemberOf(ctx, "o-a")
		if err != nil || !ok || m.OpenID != "o-a" || m.LastInboundAt == nil {
			t.Errorf("MemberOf = %+v, %v, %v", m, ok, err)
		}
		if _, ok, _ := c.MemberOf(ctx, "o-nobody"); ok {
			t.Error("found a stranger")
		}
		lat, lng, ok, err := c.LastLocation(ctx, "o-a")
		if err != nil || !ok || lat != 24.7 || lng != 105.3 {
			t.Errorf("LastLocation = %v,%v %v %v; want the LOCATION event's", lat, lng, ok, err)
		}
		if _, _, ok, _ := c.LastLocation(ctx, "o-nobody"); ok {
			t.Error("a stranger has a location")
		}
		return nil
	})
}

func TestConversation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	inCases(t, s, func(c bot.CaseClock) error {
		if _, ok, err := c.Conversation(ctx, "o-a", bot.TopicMember); ok || err != nil {
			t.Errorf("a conversation before any: %v, %v", ok, err)
		}
		until := time.Now().Add(10 * time.Minute).Truncate(time.Microsecond)
		conv := bot.Conversation{OpenID: "o-a", Topic: bot.TopicMember, State: "describe", Until: until}
		if err := c.SetConversation(ctx, conv); err != nil {
			return err
		}
		// A director's conversation is another one.
		if err := c.SetConversation(ctx, bot.Conversation{OpenID: "o-a", Topic: bot.TopicDirector, State: "relay",
			CaseID: 7, Text: "明天上午到", Until: until}); err != nil {
			return err
		}
		got, ok, err := c.Conversation(ctx, "o-a", bot.TopicMember)
		if err != nil || !ok || got.State != "describe" || got.CaseID != 0 || !got.Until.Equal(until) {
			t.Errorf("Conversation = %+v, %v, %v", got, ok, err)
		}
		conv.State, conv.CaseID = "rate", 42
		if err := c.SetConversation(ctx, conv); err != nil {
			return err
		}
		if got, _, _ := c.Conversation(ctx, "o-a", bot.TopicMember); got.State != "rate" || got.CaseID != 42 {
			t.Errorf("after replacing: %+v", got)
		}
		if dir, _, _ := c.Conversation(ctx, "o-a", bot.TopicDirector); dir.Text != "明天上午到" || dir.CaseID != 7 {
			t.Errorf("director's conversation: %+v", dir)
		}
		// One that ran out is as good as none.
		conv.Until = time.Now().Add(-time.Second)
		if err := c.SetConversation(ctx, conv); err != nil {
			return err
		}
		if got, ok, _ := c.Conversation(ctx, "o-a", bot.TopicMember); ok {
			t.Errorf("an expired conversation: %+v", got)
		}
		if err := c.EndConversation(ctx, "o-a", bot.TopicDirector); err != nil {
			return err
		}
		if _, ok, _ := c.Conversation(ctx, "o-a", bot.TopicDirector); ok {
			t.Error("an ended conversation goes on")
		}
		if err := c.SetConversation(ctx, bot.Conversation{OpenID: "o-a", Topic: bot.TopicMember}); err == nil {
			t.Error("a conversation without an until was set")
		}
		return nil
	})
}

// caseOutboxRow is an outbox row as outboxOf reads it back.
type caseOutboxRow struct {
	Kind       string `db:"kind"`
	Channel    string `db:"channel"`
	Fallback   string `db:"fallback"`
	Text       string `db:"text"`
	Status     string `db:"status"`
	CaseID     *int64 `db:"case_id"`
	Cause      *int64 `db:"cause_message_id"`
	MediaKind  string `db:"media_kind"`
	MediaID    string `db:"media_id"`
	AtMostOnce bool   `db:"at_most_once"`
	TemplateID string `db:"template_id"`
	Due        bool   `db:"due"`
}

// outboxOf reads back the outbox rows of openID, in order.
func outboxOf(t *testing.T, s *Store, openID string) []caseOutboxRow {
	t.Helper()
	var rows []caseOutboxRow
	if err := s.DB().Select(&rows, `SELECT kind, channel, fallback, text, status, case_id, cause_message_id,
		media_kind, media_id, at_most_once, template_id, next_attempt <= now() AS due
		FROM outbox WHERE openid = $1 ORDER BY id`, openID); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestEnqueue(t *testing.T) {
	s := newStore(t)
	k := openTestCase(t, s, "o-a", "anlong", false)
	inCases(t, s, func(c bot.CaseClock) error {
		return c.Enqueue(context.Background(), []bot.Send{
			{OpenID: "o-dir", Kind: bot.KindAlert, Text: "新求助", CaseID: k.ID, AtMostOnce: true},
			{OpenID: "o-dir", Kind: bot.KindRelay, MediaKind: bot.TypeImage, MediaID: "PHOTO", CaseID: k.ID},
			{OpenID: "o-county", Kind: bot.KindEscalation, Channel: bot.ChannelTemplate, Template: &bot.Template{ID: "TPL"}},
		})
	})
	dir := outboxOf(t, s, "o-dir")
	if len(dir) != 2 {
		t.Fatalf("director's rows: %+v", dir)
	}
	a, r := dir[0], dir[1]
	if a.Kind != bot.KindAlert || a.Channel != bot.ChannelCustomerService || a.Status != bot.OutboxPending || !a.Due ||
		a.CaseID == nil || *a.CaseID != k.ID || a.Cause != nil || !a.AtMostOnce || a.Text != "新求助" {
		t.Errorf("alert row: %+v", a)
	}
	if r.MediaKind != bot.TypeImage || r.MediaID != "PHOTO" || r.AtMostOnce {
		t.Errorf("relay row: %+v", r)
	}
	if c := outboxOf(t, s, "o-county"); len(c) != 1 || c[0].Channel != bot.ChannelTemplate || c[0].TemplateID != "TPL" || c[0].CaseID != nil {
		t.Errorf("county's rows: %+v", c)
	}
}

// The handling transaction hands the route its case book and the push's
// stored id; what the route sends about a case carries its id, the
// member's own replies none.
func TestHandleGivesTheRouteItsCaseBook(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := textPush("o-a", 1, "老板拖欠工资", t0)
	stored := keepPush(t, s, in)
	var seen int64
	route := func(ctx context.Context, msg bot.Inbound, m bot.Member, cases bot.Cases) (bot.Reply, bot.Understanding) {
		seen = msg.StoredID
		k, err := cases.OpenCase(ctx, bot.NewCase{OpenID: msg.OpenID, BranchID: "anlong", Category: bot.CategoryWages,
			Kind: bot.CaseHelp, Summary: msg.Text, MessageID: msg.StoredID, At: msg.At})
		if err != nil {
			t.Errorf("OpenCase in the route: %v", err)
		}
		return bot.Reply{Text: "已收到，编号" + strconv.FormatInt(k.Number, 10), More: []string{"请稍候"},
			Sends: []bot.Send{{OpenID: "o-dir", Kind: bot.KindAlert, Text: "新求助", CaseID: k.ID, AtMostOnce: true,
				MediaKind: bot.TypeVoice, MediaID: "V1"}}}, bot.Understanding{Intent: bot.IntentHelp}
	}
	if _, err := s.Handle(ctx, "o-a", in.DedupeKey, true, route); err != nil {
		t.Fatal(err)
	}
	if seen != stored {
		t.Errorf("route saw StoredID %d, want %d", seen, stored)
	}
	mine := outboxOf(t, s, "o-a")
	if len(mine) != 2 || mine[0].Channel != bot.ChannelPassive || mine[0].CaseID != nil || mine[1].CaseID != nil ||
		mine[0].Cause == nil || *mine[0].Cause != stored {
		t.Errorf("member's rows: %+v", mine)
	}
	alert := outboxOf(t, s, "o-dir")
	if len(alert) != 1 || alert[0].CaseID == nil || !alert[0].AtMostOnce || alert[0].MediaKind != bot.TypeVoice ||
		alert[0].MediaID != "V1" || alert[0].Kind != bot.KindAlert {
		t.Errorf("alert rows: %+v", alert)
	}
	if n := countRows(t, s, "cases", "openid = 'o-a'"); n != 1 {
		t.Errorf("%d cases committed, want 1", n)
	}
}

// A handler whose statement fails takes back only its own writes: the
// member gets the reply (the router's apology) and the push is handled,
// the messages to others it returned are not written, and what it did
// before the failure is undone.
func TestHandleSurvivesAFailedStatement(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := textPush("o-f", 1, "老板拖欠工资", t0)
	keepPush(t, s, in)
	route := func(ctx context.Context, msg bot.Inbound, m bot.Member, cases bot.Cases) (bot.Reply, bot.Understanding) {
		if _, err := cases.OpenCase(ctx, bot.NewCase{OpenID: msg.OpenID, BranchID: "anlong", Category: bot.CategoryWages,
			Kind: bot.CaseHelp, Summary: msg.Text, MessageID: msg.StoredID, At: msg.At}); err != nil {
			t.Fatalf("OpenCase: %v", err)
		}
		if err := cases.Log(ctx, 1<<40, bot.ActionNote, bot.ActorBot, "no such case"); err == nil {
			t.Fatal("logging on a case that does not exist succeeded")
		}
		return bot.Reply{Text: "抱歉，系统出了点问题", Sends: []bot.Send{{OpenID: "o-dir", Kind: bot.KindAlert, Text: "新求助"}}},
			bot.Understanding{Intent: bot.IntentHelp}
	}
	out, err := s.Handle(ctx, "o-f", in.DedupeKey, true, route)
	if err != nil || out.Reply != "抱歉，系统出了点问题" {
		t.Fatalf("Handle = %+v, %v; want the apology", out, err)
	}
	if n := countRows(t, s, "cases", "openid = 'o-f'"); n != 0 {
		t.Errorf("the failed handling's case was kept: %d", n)
	}
	if got := outboxOf(t, s, "o-dir"); len(got) != 0 {
		t.Errorf("the failed handling's alert was written: %+v", got)
	}
	if n := countRows(t, s, "messages", "openid = 'o-f' AND handled_at IS NOT NULL"); n != 1 {
		t.Errorf("the push is not marked handled")
	}
}

func TestClockUnaccepted(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	late := openTestCase(t, s, "o-1", "anlong", false)
	fresh := openTestCase(t, s, "o-2", "anlong", false)
	urgentLate := openTestCase(t, s, "o-3", "anlong", true)
	escalated := openTestCase(t, s, "o-4", "anlong", false)
	accepted := openTestCase(t, s, "o-5", "anlong", false)
	setCase(t, s, late.ID, `created_at = now() - interval '3 hours'`)
	setCase(t, s, fresh.ID, `created_at = now() - interval '20 minutes'`)
	setCase(t, s, urgentLate.ID, `created_at = now() - interval '20 minutes'`)
	setCase(t, s, escalated.ID, `created_at = now() - interval '3 hours', escalated_at = now()`)
	setCase(t, s, accepted.ID, `created_at = now() - interval '3 hours', status = 'accepted'`)
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.Unaccepted(ctx, 2*time.Hour, 15*time.Minute, 10)
		if want := []int64{urgentLate.Number, late.Number}; !slices.Equal(caseNumbers(got), want) {
			t.Errorf("Unaccepted = %v, want %v", caseNumbers(got), want)
		}
		return err
	})
}

func TestClockUnreplied(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	silent := openTestCase(t, s, "o-1", "anlong", false)
	replied := openTestCase(t, s, "o-2", "anlong", false)
	repliedBefore := openTestCase(t, s, "o-3", "anlong", false)
	reminded := openTestCase(t, s, "o-4", "anlong", false)
	recent := openTestCase(t, s, "o-5", "anlong", false)
	setCase(t, s, silent.ID, `status = 'accepted', accepted_at = now() - interval '2 hours'`)
	setCase(t, s, replied.ID, `status = 'accepted', accepted_at = now() - interval '2 hours', last_reply_at = now() - interval '1 hour'`)
	setCase(t, s, repliedBefore.ID, `status = 'accepted', accepted_at = now() - interval '2 hours', last_reply_at = now() - interval '3 hours'`)
	setCase(t, s, reminded.ID, `status = 'accepted', accepted_at = now() - interval '2 hours', reminded_at = now()`)
	setCase(t, s, recent.ID, `status = 'accepted', accepted_at = now() - interval '10 minutes'`)
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.Unreplied(ctx, time.Hour, 10)
		if want := []int64{silent.Number, repliedBefore.Number}; !slices.Equal(caseNumbers(got), want) {
			t.Errorf("Unreplied = %v, want %v", caseNumbers(got), want)
		}
		return err
	})
}

func TestClockQuestionsToAlert(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	question := func(openID, branch, age string, urgent bool) bot.Case {
		t.Helper()
		var k bot.Case
		inCases(t, s, func(c bot.CaseClock) (err error) {
			k, err = c.OpenCase(ctx, bot.NewCase{OpenID: openID, BranchID: branch, Category: bot.CategoryOther,
				Kind: bot.CaseQuestion, Urgent: urgent, Summary: "?"})
			return err
		})
		setCase(t, s, k.ID, `created_at = now() - interval '`+age+`'`)
		return k
	}
	// Anlong's oldest question has waited long enough: its newer one goes
	// in the same batch. Longlin's have not.
	oldA := question("o-1", "anlong", "2 hours", false)
	newA := question("o-2", "anlong", "1 minute", false)
	question("o-3", "longlin", "10 minutes", false)
	question("o-4", "anlong", "3 hours", true) // urgent ones were alerted at once
	alerted := question("o-5", "anlong", "3 hours", false)
	setCase(t, s, alerted.ID, `alerted_at = now()`)
	help := openTestCase(t, s, "o-6", "anlong", false)
	setCase(t, s, help.ID, `created_at = now() - interval '3 hours'`)
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.QuestionsToAlert(ctx, time.Hour, 10)
		if want := []int64{oldA.Number, newA.Number}; !slices.Equal(caseNumbers(got), want) {
			t.Errorf("QuestionsToAlert = %v, want %v", caseNumbers(got), want)
		}
		return err
	})
}

// Two clocks working at once never get the same case.
func TestClockListsSkipLockedCases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var all []int64
	for i := range 5 {
		k := openTestCase(t, s, "o-"+strconv.Itoa(i), "anlong", false)
		setCase(t, s, k.ID, `created_at = now() - interval '3 hours'`)
		all = append(all, k.Number)
	}
	listed, release := make(chan []int64), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.WithCases(ctx, func(c bot.CaseClock) error {
			got, err := c.Unaccepted(ctx, time.Hour, time.Hour, 2)
			listed <- caseNumbers(got)
			<-release
			return err
		})
	}()
	first := <-listed
	var second []int64
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.Unaccepted(ctx, time.Hour, time.Hour, 10)
		second = caseNumbers(got)
		return err
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || len(second) != 3 {
		t.Fatalf("first clock got %v, second %v; want 2 and the other 3", first, second)
	}
	both := slices.Sorted(slices.Values(append(slices.Clone(first), second...)))
	if !slices.Equal(both, all) {
		t.Errorf("together the clocks got %v, want each of %v once", both, all)
	}
}

func TestClockUnreached(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	addAlert := func(k bot.Case, status string) {
		t.Helper()
		if _, err := s.DB().Exec(`INSERT INTO outbox (openid, kind, channel, status, case_id) VALUES ('o-dir', 'alert', 'customer_service', $1, $2)`,
			status, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	allFailed := openTestCase(t, s, "o-1", "anlong", false)
	addAlert(allFailed, bot.OutboxFailed)
	addAlert(allFailed, bot.OutboxFailed)
	oneSent := openTestCase(t, s, "o-2", "anlong", false)
	addAlert(oneSent, bot.OutboxFailed)
	addAlert(oneSent, bot.OutboxSent)
	onePending := openTestCase(t, s, "o-3", "anlong", false)
	addAlert(onePending, bot.OutboxFailed)
	addAlert(onePending, bot.OutboxPending)
	openTestCase(t, s, "o-4", "anlong", false) // no alerts at all
	told := openTestCase(t, s, "o-5", "anlong", false)
	addAlert(told, bot.OutboxFailed)
	setCase(t, s, told.ID, `unreached_at = now()`)
	closed := openTestCase(t, s, "o-6", "anlong", false)
	addAlert(closed, bot.OutboxFailed)
	setCase(t, s, closed.ID, `status = 'closed'`)
	// A failed reply is not an alert.
	reply := openTestCase(t, s, "o-7", "anlong", false)
	if _, err := s.DB().Exec(`INSERT INTO outbox (openid, kind, channel, status, case_id) VALUES ('o-7', 'case_reply', 'customer_service', 'failed', $1)`,
		reply.ID); err != nil {
		t.Fatal(err)
	}
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.Unreached(ctx, 10)
		if want := []int64{allFailed.Number}; !slices.Equal(caseNumbers(got), want) {
			t.Errorf("Unreached = %v, want %v", caseNumbers(got), want)
		}
		return err
	})
}

func TestClockUndeliveredRepliesAreReportedOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	k := openTestCase(t, s, "o-1", "anlong", false)
	setCase(t, s, k.ID, `status = 'accepted', assignee = 'o-dir'`)
	for _, r := range []struct{ kind, status, reason string }{
		{bot.KindCaseReply, bot.OutboxFailed, bot.FailedOutsideWindow},
		{bot.KindCaseReply, bot.OutboxSent, ""},
		{bot.KindCaseNotice, bot.OutboxFailed, bot.FailedPermanent},
	} {
		if _, err := s.DB().Exec(`INSERT INTO outbox (openid, kind, channel, status, failed_reason, case_id)
			VALUES ('o-1', $1, 'customer_service', $2, $3, $4)`, r.kind, r.status, r.reason, k.ID); err != nil {
			t.Fatal(err)
		}
	}
	// A member's own reply, failed, is about no case.
	addOutbox(t, s, outboxRow{openID: "o-1", status: bot.OutboxFailed})
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.UndeliveredReplies(ctx, 10)
		if len(got) != 1 || got[0].Case.Number != k.Number || got[0].Case.Assignee != "o-dir" || got[0].Reason != bot.FailedOutsideWindow {
			t.Errorf("UndeliveredReplies = %+v", got)
		}
		return err
	})
	inCases(t, s, func(c bot.CaseClock) error {
		got, err := c.UndeliveredReplies(ctx, 10)
		if len(got) != 0 {
			t.Errorf("reported again: %+v", got)
		}
		return err
	})
	if n := countRows(t, s, "outbox", "followed_up_at IS NOT NULL"); n != 1 {
		t.Errorf("%d rows marked followed up, want 1", n)
	}
}

func TestCaseSummary(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if sum, err := s.CaseSummary(ctx, time.Time{}, ""); err != nil || sum.Total != 0 || sum.MedianToAccept != 0 || len(sum.ByStatus) != 0 {
		t.Fatalf("empty summary = %+v, %v", sum, err)
	}
	a := openTestCase(t, s, "o-1", "anlong", false)
	b := openTestCase(t, s, "o-2", "anlong", false)
	c := openTestCase(t, s, "o-3", "longlin", false)
	old := openTestCase(t, s, "o-4", "longlin", false)
	setCase(t, s, a.ID, `created_at = now() - interval '5 hours', status = 'closed',
		accepted_at = now() - interval '4 hours', closed_at = now() - interval '1 hour'`) // 1 h to accept, 4 h to close
	setCase(t, s, b.ID, `created_at = now() - interval '5 hours', status = 'accepted', accepted_at = now() - interval '2 hours',
		category = 'injury'`) // 3 h
	setCase(t, s, c.ID, `created_at = now() - interval '5 hours'`)
	setCase(t, s, old.ID, `created_at = now() - interval '30 days'`)

	sum, err := s.CaseSummary(ctx, time.Now().Add(-24*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 3 || sum.Accepted != 2 || sum.Closed != 1 {
		t.Errorf("summary = %+v", sum)
	}
	if d := sum.MedianToAccept - 2*time.Hour; d.Abs() > time.Second {
		t.Errorf("median to accept = %v, want 2h", sum.MedianToAccept)
	}
	if d := sum.MedianToClose - 4*time.Hour; d.Abs() > time.Second {
		t.Errorf("median to close = %v, want 4h", sum.MedianToClose)
	}
	wantBranches := []CaseCount{{"anlong", 2}, {"longlin", 1}}
	wantCategories := []CaseCount{{bot.CategoryWages, 2}, {bot.CategoryInjury, 1}}
	wantStatuses := []CaseCount{{bot.CaseAccepted, 1}, {bot.CaseClosed, 1}, {bot.CaseOpen, 1}}
	if !slices.Equal(sum.ByBranch, wantBranches) || !slices.Equal(sum.ByCategory, wantCategories) || !slices.Equal(sum.ByStatus, wantStatuses) {
		t.Errorf("counts: branch %v category %v status %v", sum.ByBranch, sum.ByCategory, sum.ByStatus)
	}
	longlin, err := s.CaseSummary(ctx, time.Time{}, "longlin")
	if err != nil || longlin.Total != 2 || longlin.Accepted != 0 || longlin.MedianToAccept != 0 {
		t.Errorf("longlin's summary = %+v, %v", longlin, err)
	}
}
