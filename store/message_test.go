package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"nuanjia/bot"
)

// t0 is when the member first writes in these tests; whole seconds, so
// PostgreSQL's microsecond timestamps give back exactly what was stored.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// textPush is a text message from openID at at, as the webhook builds it.
func textPush(openID string, msgID int64, text string, at time.Time) bot.Inbound {
	return bot.Inbound{
		OpenID: openID, AccountID: "gh_demo", Type: bot.TypeText, Text: text,
		MsgID: msgID, At: at, DedupeKey: "m:" + strconv.FormatInt(msgID, 10),
	}
}

// eventPush is an event from openID at at, as the webhook builds it.
func eventPush(openID, event, key string, at time.Time) bot.Inbound {
	return bot.Inbound{
		OpenID: openID, AccountID: "gh_demo", Type: bot.TypeEvent, Event: event, EventKey: key,
		At: at, DedupeKey: "e:" + openID + ":" + strconv.FormatInt(at.Unix(), 10) + ":" + event,
	}
}

// record keeps in and, as the pipeline does for a fresh push, handles it
// with reply as its passive answer; it returns fresh.
func record(t *testing.T, s *Store, in bot.Inbound, intent bot.Intent, reply string) bool {
	t.Helper()
	ctx := context.Background()
	fresh, err := s.Keep(ctx, in)
	if err != nil {
		t.Fatalf("Keep(%s): %v", in.DedupeKey, err)
	}
	if fresh {
		if _, err := s.Handle(ctx, in.OpenID, in.DedupeKey, true, replyWith(intent, reply)); err != nil {
			t.Fatalf("Handle(%s): %v", in.DedupeKey, err)
		}
	}
	return fresh
}

// replyWith is a route that answers every push with text.
func replyWith(intent bot.Intent, text string, more ...string) bot.Route {
	return func(context.Context, bot.Inbound, bot.Member, bot.Cases) (bot.Reply, bot.Understanding) {
		return bot.Reply{Text: text, More: more}, bot.Understanding{Intent: intent}
	}
}

// member loads openID, failing the test when it is not stored.
func member(t *testing.T, s *Store, openID string) bot.Member {
	t.Helper()
	m, found, err := s.Member(context.Background(), openID)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("member %s not stored", openID)
	}
	return m
}

// importDemo loads kb/demo.yaml into s.
func importDemo(t *testing.T, s *Store) bot.Knowledge {
	t.Helper()
	kb := demoKB(t)
	if err := s.ImportKnowledge(context.Background(), kb); err != nil {
		t.Fatalf("ImportKnowledge(demo): %v", err)
	}
	return kb
}

func TestRecordInboundAndReplyStoreMemberAndBothMessages(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := textPush("o-wang", 1001, "新州的电话是多少", t0)
	const reply = "【安龙县驻隆林新州镇流动人口计生协】"

	if !record(t, s, in, bot.IntentContact, reply) {
		t.Fatal("first delivery of a push was not fresh")
	}
	m := member(t, s, "o-wang")
	if !m.FirstSeen.Equal(t0) || !m.LastSeen.Equal(t0) || !m.Subscribed {
		t.Errorf("member after first text = %+v, want first and last seen %v, subscribed", m, t0)
	}

	ex, found, err := s.ExportMember(ctx, "o-wang")
	if err != nil || !found {
		t.Fatalf("ExportMember = found %v, %v", found, err)
	}
	if len(ex.Messages) != 2 {
		t.Fatalf("export has %d messages, want the text and its reply: %+v", len(ex.Messages), ex.Messages)
	}
	got, answer := ex.Messages[0], ex.Messages[1]
	if got.Direction != "in" || got.Type != bot.TypeText || got.Text != in.Text ||
		got.WeChatID == nil || *got.WeChatID != in.MsgID || !got.At.Equal(t0) {
		t.Errorf("inbound row = %+v", got)
	}
	if answer.Direction != "out" || answer.Text != reply || answer.Intent != string(bot.IntentContact) ||
		answer.Channel != bot.ChannelPassive || answer.Status != "answered" || answer.At.Before(t0) {
		t.Errorf("reply row = %+v", answer)
	}

	// WeChat retries the same push when our answer was slow.
	if record(t, s, in, bot.IntentContact, reply) {
		t.Error("retry of the same push was fresh")
	}
	if n := countRows(t, s, "messages", "openid = $1", "o-wang"); n != 1 {
		t.Errorf("after the retry there are %d pushes kept, want still 1", n)
	}
	if n := countRows(t, s, "outbox", "openid = $1", "o-wang"); n != 1 {
		t.Errorf("after the retry there are %d replies, want still 1", n)
	}
}

func TestEmptyReplyStoresOnlyTheInbound(t *testing.T) {
	s := newStore(t)
	if !record(t, s, eventPush("o-li", bot.EventUnsubscribe, "", t0), bot.IntentUnknown, "") {
		t.Fatal("unsubscribe not fresh")
	}
	if n := countRows(t, s, "outbox", "openid = $1", "o-li"); n != 0 {
		t.Errorf("an empty reply stored %d outbox rows", n)
	}
	if n := countRows(t, s, "messages", "openid = $1 AND direction = 'in'", "o-li"); n != 1 {
		t.Errorf("%d inbound rows, want 1", n)
	}
}

func TestSubscribeFromBranchQRCode(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		key        string
		wantBranch string // "" means none
	}{
		{"follow through a branch code", bot.EventSubscribe, "qrscene_longlin-xinzhou", "longlin-xinzhou"},
		{"scan by a follower", bot.EventScan, "longlin-zhebao", "longlin-zhebao"},
		{"unknown scene", bot.EventSubscribe, "qrscene_no-such-branch", ""},
		{"plain follow", bot.EventSubscribe, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			importDemo(t, s)
			record(t, s, eventPush("o-scan", tt.event, tt.key, t0), bot.IntentGreeting, "欢迎")
			m := member(t, s, "o-scan")
			got := ""
			if m.BranchID != nil {
				got = *m.BranchID
			}
			if tt.wantBranch == "" && m.BranchID != nil {
				t.Errorf("branch_id = %q, want NULL", got)
			} else if got != tt.wantBranch {
				t.Errorf("branch_id = %q, want %q", got, tt.wantBranch)
			}
		})
	}
}

func TestLaterPushKeepsBranchFromQRCode(t *testing.T) {
	s := newStore(t)
	importDemo(t, s)
	record(t, s, eventPush("o-scan", bot.EventSubscribe, "qrscene_longlin-xinzhou", t0), bot.IntentGreeting, "欢迎")
	record(t, s, textPush("o-scan", 7, "你好", t0.Add(time.Minute)), bot.IntentGreeting, "你好")
	if m := member(t, s, "o-scan"); m.BranchID == nil || *m.BranchID != "longlin-xinzhou" {
		t.Errorf("a text after the QR follow lost the branch: %v", m.BranchID)
	}
}

func TestUnsubscribeThenSubscribeAgain(t *testing.T) {
	s := newStore(t)
	record(t, s, eventPush("o-zhao", bot.EventSubscribe, "", t0), bot.IntentGreeting, "欢迎")
	if !member(t, s, "o-zhao").Subscribed {
		t.Fatal("not subscribed after subscribe")
	}
	record(t, s, eventPush("o-zhao", bot.EventUnsubscribe, "", t0.Add(time.Hour)), bot.IntentUnknown, "")
	if member(t, s, "o-zhao").Subscribed {
		t.Error("still subscribed after unsubscribe")
	}
	// A text cannot arrive from a non-follower, but a late one must not
	// flip the flag: only the two events do.
	record(t, s, textPush("o-zhao", 8, "你好", t0.Add(2*time.Hour)), bot.IntentGreeting, "你好")
	if member(t, s, "o-zhao").Subscribed {
		t.Error("a text re-subscribed the member")
	}
	record(t, s, eventPush("o-zhao", bot.EventSubscribe, "", t0.Add(3*time.Hour)), bot.IntentGreeting, "欢迎")
	if !member(t, s, "o-zhao").Subscribed {
		t.Error("not subscribed after following again")
	}
}

// The 48-hour customer-service window opens only when the member writes.
func TestLastInboundAtAndCustomerServiceWindow(t *testing.T) {
	located := textPush("o-w", 3, "我的位置", t0)
	located.Type, located.Located, located.Lat, located.Lng = bot.TypeLocation, true, 24.62, 105.18
	voice := textPush("o-w", 4, "新州电话", t0)
	voice.Type = bot.TypeVoice
	tests := []struct {
		name        string
		push        bot.Inbound
		opensWindow bool
	}{
		{"text", textPush("o-w", 2, "你好", t0), true},
		{"voice", voice, true},
		{"location", located, true},
		{"menu click", eventPush("o-w", bot.EventClick, "contact", t0), false},
		{"follow", eventPush("o-w", bot.EventSubscribe, "", t0), false},
		{"location report", eventPush("o-w", bot.EventLocation, "", t0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			record(t, s, tt.push, bot.IntentUnknown, "")
			m := member(t, s, "o-w")
			if !tt.opensWindow {
				if m.LastInboundAt != nil {
					t.Errorf("last_inbound_at = %v after a %s, want NULL", *m.LastInboundAt, tt.name)
				}
				if m.InWindow(t0.Add(time.Minute)) {
					t.Errorf("a %s opened the 48-hour window", tt.name)
				}
				return
			}
			if m.LastInboundAt == nil || !m.LastInboundAt.Equal(t0) {
				t.Fatalf("last_inbound_at = %v, want %v", m.LastInboundAt, t0)
			}
			if !m.InWindow(t0.Add(47 * time.Hour)) {
				t.Error("47 h after the member wrote, the window is closed")
			}
			if m.InWindow(t0.Add(49 * time.Hour)) {
				t.Error("49 h after the member wrote, the window is still open")
			}
		})
	}
}

func TestEventDoesNotMoveLastInboundBack(t *testing.T) {
	s := newStore(t)
	record(t, s, textPush("o-w", 10, "你好", t0), bot.IntentGreeting, "你好")
	record(t, s, eventPush("o-w", bot.EventClick, "contact", t0.Add(time.Hour)), bot.IntentContact, "卡片")
	m := member(t, s, "o-w")
	if m.LastInboundAt == nil || !m.LastInboundAt.Equal(t0) {
		t.Errorf("last_inbound_at = %v after a click, want the text's %v", m.LastInboundAt, t0)
	}
	if !m.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("last_seen = %v, want the click's %v", m.LastSeen, t0.Add(time.Hour))
	}
}

func TestRecordJob(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	report := bot.Inbound{
		OpenID: "gh_demo", Type: bot.TypeEvent, Event: bot.EventMassSendDone,
		MsgID: 1000001, Job: bot.JobReport{Status: "send success", Total: 120, Filtered: 118, Sent: 117, Errors: 1},
		At: t0, DedupeKey: "j:" + bot.EventMassSendDone + ":1000001",
	}
	fresh, err := s.RecordJob(ctx, report)
	if err != nil || !fresh {
		t.Fatalf("first report = fresh %v, %v; want fresh", fresh, err)
	}
	fresh, err = s.RecordJob(ctx, report)
	if err != nil || fresh {
		t.Fatalf("retried report = fresh %v, %v; want not fresh", fresh, err)
	}
	if n := countRows(t, s, "send_jobs", "wechat_msg_id = $1 AND status = $2 AND total_count = 120 AND sent_count = 117",
		report.MsgID, report.Job.Status); n != 1 {
		t.Errorf("%d job rows with the report's totals, want 1", n)
	}
	// A second report in the same second, for another send job, is its own.
	other := report
	other.MsgID, other.DedupeKey = 1000002, "j:"+bot.EventMassSendDone+":1000002"
	if fresh, err := s.RecordJob(ctx, other); err != nil || !fresh {
		t.Fatalf("another job's report in the same second = fresh %v, %v; want fresh", fresh, err)
	}
}

// A reply worked out after the HTTP answer (the sweeper, the spool
// replayer) is owed by customer-service message: it is in the member's
// export as pending until the outbox sends it.
func TestLateReplyAppearsInExport(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := textPush("o-late", 11, "孩子上学怎么办", t0)
	if _, err := s.Keep(ctx, in); err != nil {
		t.Fatal(err)
	}
	const text = "随迁子女可以在父母工作或居住的地方接受义务教育。"
	if _, err := s.Handle(ctx, in.OpenID, in.DedupeKey, false, replyWith(bot.IntentPolicy, text)); err != nil {
		t.Fatal(err)
	}
	ex, _, err := s.ExportMember(ctx, "o-late")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Messages) != 2 {
		t.Fatalf("export has %d messages, want question and late reply", len(ex.Messages))
	}
	got := ex.Messages[1]
	if got.Direction != "out" || got.Text != text || got.Channel != bot.ChannelCustomerService ||
		got.Intent != string(bot.IntentPolicy) || got.Status != "pending" {
		t.Errorf("late reply row = %+v", got)
	}
}

func TestSetNoBroadcasts(t *testing.T) {
	ctx := context.Background()
	t.Run("stranger", func(t *testing.T) {
		s := newStore(t)
		if err := s.SetNoBroadcasts(ctx, "o-new", true); err != nil {
			t.Fatal(err)
		}
		if !member(t, s, "o-new").NoBroadcasts {
			t.Error("no_broadcasts not set for a first-time writer")
		}
	})
	t.Run("existing member", func(t *testing.T) {
		s := newStore(t)
		importDemo(t, s)
		record(t, s, eventPush("o-old", bot.EventSubscribe, "qrscene_longlin-zhebao", t0), bot.IntentGreeting, "欢迎")
		if err := s.SetNoBroadcasts(ctx, "o-old", true); err != nil {
			t.Fatal(err)
		}
		m := member(t, s, "o-old")
		if !m.NoBroadcasts {
			t.Error("no_broadcasts not set")
		}
		// Only the preference changes: the rest of the member stays.
		if !m.Subscribed || m.BranchID == nil || *m.BranchID != "longlin-zhebao" || !m.FirstSeen.Equal(t0) {
			t.Errorf("member changed beyond the preference: %+v", m)
		}
		if err := s.SetNoBroadcasts(ctx, "o-old", false); err != nil {
			t.Fatal(err)
		}
		if member(t, s, "o-old").NoBroadcasts {
			t.Error("broadcasts not turned back on")
		}
	})
}

func TestMemberStranger(t *testing.T) {
	s := newStore(t)
	m, found, err := s.Member(context.Background(), "o-nobody")
	if err != nil || found {
		t.Fatalf("Member(stranger) = found %v, %v", found, err)
	}
	if m.OpenID != "o-nobody" || m.Subscribed || m.BranchID != nil || m.InWindow(t0) {
		t.Errorf("stranger = %+v, want only the openid", m)
	}
}
