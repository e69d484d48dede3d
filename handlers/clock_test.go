package handlers_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/handlers"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/store"
)

// The case clock, as the directors notice it: the messages it writes to
// them (outbox rows) and the lines it adds to each case's log.

// countyDirectors are the demo's county directors, who get escalations.
var countyDirectors = []string{countyDirector, countyDirector2}

// calmHelp is a help request that is not urgent.
const calmHelp = "老板拖欠工资三个月了"

// helpCase opens a calm help case for a new member of branch and returns
// its number.
func (d *caseDesk) helpCase(openID, branch, text string) int64 {
	d.t.Helper()
	d.member(openID, branch)
	reply := d.say(openID, text)
	n := caseNumberIn(d.t, reply)
	if k := d.caseNo(n); k.Kind != bot.CaseHelp || k.BranchID != branch || k.Status != bot.CaseOpen {
		d.t.Fatalf("%q opened %+v, want an open help case of %s", text, k, branch)
	}
	return n
}

// clockSent are the outbox rows to openID of kind about case n, oldest first.
func (d *caseDesk) clockSent(openID, kind string, n int64) []outboxRow {
	d.t.Helper()
	id := d.caseNo(n).ID
	var out []outboxRow
	for _, r := range d.sentTo(openID, kind) {
		if r.CaseID.Valid && r.CaseID.Int64 == id {
			out = append(out, r)
		}
	}
	return out
}

// logCount is how many lines of case n's log read line ("escalated bot").
func (d *caseDesk) logCount(n int64, line string) int {
	d.t.Helper()
	c := 0
	for _, a := range d.actions(n) {
		if a == line {
			c++
		}
	}
	return c
}

// tickQuiet runs a round and fails when it writes anything: each one-off
// message is written once.
func (d *caseDesk) tickQuiet(why string) {
	d.t.Helper()
	before := d.outboxMax()
	d.tick()
	if rows := d.outboxAfter(before); len(rows) > 0 {
		for _, r := range rows {
			d.t.Errorf("%s: the clock wrote %s to %s about case id %d:\n%s", why, r.Kind, r.OpenID, r.CaseID.Int64, r.Text)
		}
	}
}

// checkClockTexts checks every message the clock wrote to a director
// since the outbox row after: readable on a phone, in simplified Chinese.
func (d *caseDesk) checkClockTexts(after int64) {
	d.t.Helper()
	for _, r := range d.outboxAfter(after) {
		if strings.HasPrefix(r.OpenID, "demo-openid-") {
			checkReadable(d.t, r.Text)
		}
	}
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, text)
		}
	}
}

// A help case nobody accepts within the SLA is escalated to every county
// director once, and logged.
func TestClockEscalatesUnacceptedCaseOnce(t *testing.T) {
	d := newCaseDesk(t)
	n := d.helpCase("o-late", "longlin-xinzhou", calmHelp)
	start := d.outboxMax()
	d.tickQuiet("a fresh case")

	d.exec(`UPDATE cases SET created_at = now() - interval '3 hours', alerted_at = now() - interval '3 hours' WHERE number = $1`, n)
	d.tick()
	k := d.caseNo(n)
	for _, dir := range countyDirectors {
		got := d.clockSent(dir, bot.KindEscalation, n)
		if len(got) != 1 {
			t.Fatalf("escalations to %s = %d, want 1", dir, len(got))
		}
		if !got[0].Once {
			t.Errorf("escalation to %s may be sent twice", dir)
		}
		mustContain(t, "escalation", got[0].Text, fmt.Sprintf("编号%d", n), fmt.Sprintf("接 %d", n),
			"新州镇计生协", "欠薪", "超时未受理", "3小时")
	}
	if got := d.sentTo(xinzhouDirector, bot.KindEscalation); len(got) != 0 {
		t.Errorf("the branch director got escalations: %+v", got)
	}
	if k.EscalatedAt == nil {
		t.Errorf("case not marked escalated: %+v", k)
	}
	if got := d.logCount(n, "escalated bot"); got != 1 {
		t.Errorf("log = %q, want one `escalated bot`", d.actions(n))
	}
	d.checkClockTexts(start)

	d.tickQuiet("a second round")
	if got := d.logCount(n, "escalated bot"); got != 1 {
		t.Errorf("after a second round the log = %q", d.actions(n))
	}
}

// An urgent case has its own, shorter SLA.
func TestClockEscalatesUrgentCaseSooner(t *testing.T) {
	d := newCaseDesk(t)
	u := understandFirst(t, d.ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentHelp && u.Urgent },
		"救命有人打我", "我老公喝醉了打我和孩子", "工地上摔下来腰受伤了老板不管")
	d.member("o-hurt", "longlin-zhebao")
	urgent := caseNumberIn(t, d.say("o-hurt", u.Text))
	if !d.caseNo(urgent).Urgent {
		t.Fatalf("case %d is not urgent", urgent)
	}
	calm := d.helpCase("o-calm", "longlin-xinzhou", calmHelp)
	start := d.outboxMax()
	d.exec(`UPDATE cases SET created_at = now() - interval '31 minutes', alerted_at = now() - interval '31 minutes'`)
	d.tick()
	for _, dir := range countyDirectors {
		got := d.clockSent(dir, bot.KindEscalation, urgent)
		if len(got) != 1 {
			t.Fatalf("escalations of the urgent case to %s = %d, want 1", dir, len(got))
		}
		mustContain(t, "urgent escalation", got[0].Text, fmt.Sprintf("编号%d", urgent), "紧急", "者保乡计生协")
		if got := d.clockSent(dir, bot.KindEscalation, calm); len(got) != 0 {
			t.Errorf("the calm case was escalated after 31 minutes: %+v", got)
		}
	}
	if got := d.logCount(urgent, "escalated bot"); got != 1 {
		t.Errorf("urgent case's log = %q", d.actions(urgent))
	}
	if got := d.logCount(calm, "escalated bot"); got != 0 {
		t.Errorf("calm case's log = %q", d.actions(calm))
	}
	d.checkClockTexts(start)
	d.tickQuiet("a second round")
}

// With an alert template configured, the county gets the escalation as a
// template first: it may not have written to the bot for days.
func TestClockEscalationUsesTheAlertTemplate(t *testing.T) {
	d := newCaseDesk(t, func(cs *handlers.CaseSettings) {
		cs.AlertTemplate = "tpl-case-alert"
		cs.AlertFields = [4]string{"character_string1", "thing2", "phrase3", "thing4"}
	})
	n := d.helpCase("o-late", "longlin-xinzhou", calmHelp)
	d.exec(`UPDATE cases SET created_at = now() - interval '3 hours', alerted_at = now() - interval '3 hours' WHERE number = $1`, n)
	d.tick()
	for _, dir := range countyDirectors {
		got := d.clockSent(dir, bot.KindEscalation, n)
		if len(got) != 1 {
			t.Fatalf("escalations to %s = %d, want 1", dir, len(got))
		}
		r := got[0]
		if r.Channel != bot.ChannelTemplate || r.Fallback != bot.ChannelCustomerService ||
			r.Template.String != "tpl-case-alert" || !strings.Contains(r.Data.String, fmt.Sprint(n)) {
			t.Errorf("escalation to %s = %+v, want the template with the case number, customer service after", dir, r)
		}
		checkReadable(t, r.Text)
	}
}

// An assignee who accepted a case and said nothing for a day is reminded
// once; one who replied is not.
func TestClockRemindsAssigneeOnce(t *testing.T) {
	d := newCaseDesk(t)
	quiet := d.helpCase("o-wait", "longlin-xinzhou", calmHelp)
	answered := d.helpCase("o-answered", "longlin-xinzhou", calmHelp)
	mustContain(t, "accept reply", d.say(xinzhouDirector, fmt.Sprintf("接 %d", quiet)), "已受理")
	mustContain(t, "reply reply", d.say(xinzhouDirector, fmt.Sprintf("回 %d 好的", answered)), "已发给会员")
	if k := d.caseNo(answered); k.Status != bot.CaseAccepted || k.LastReplyAt == nil {
		t.Fatalf("the replied case = %+v, want accepted with a reply", k)
	}
	start := d.outboxMax()
	d.tickQuiet("accepted just now")

	d.exec(`UPDATE cases SET accepted_at = now() - interval '25 hours', created_at = now() - interval '26 hours'
		WHERE number = ANY($1)`, []int64{quiet, answered})
	d.tick()
	got := d.clockSent(xinzhouDirector, bot.KindCaseNotice, quiet)
	if len(got) != 1 {
		t.Fatalf("reminders to the assignee = %d, want 1", len(got))
	}
	mustContain(t, "reminder", got[0].Text, fmt.Sprintf("编号%d", quiet), fmt.Sprintf("回 %d", quiet), "25小时", "还没有回复")
	if got := d.logCount(quiet, "reminded bot"); got != 1 {
		t.Errorf("log = %q, want one `reminded bot`", d.actions(quiet))
	}
	if d.caseNo(quiet).RemindedAt == nil {
		t.Error("case not marked reminded")
	}
	if got := d.clockSent(xinzhouDirector, bot.KindCaseNotice, answered); len(got) != 0 {
		t.Errorf("reminded about a case already replied to: %q", got[0].Text)
	}
	if got := d.logCount(answered, "reminded bot"); got != 0 {
		t.Errorf("replied case's log = %q", d.actions(answered))
	}
	for _, dir := range countyDirectors {
		if got := d.sentTo(dir, ""); len(got) != 0 {
			t.Errorf("the county was told about accepted cases: %+v", got)
		}
	}
	d.checkClockTexts(start)
	d.tickQuiet("a second round")
}

// unknownQuestion is a member's text the demo knowledge base cannot
// answer and that is not urgent: it becomes a question case.
func unknownQuestion(t *testing.T, d *caseDesk) string {
	t.Helper()
	u := understandFirst(t, d.ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentUnknown && !u.Urgent },
		"我想问下这边的房子怎么租", "能帮我找个修车的地方吗", "附近哪里有卖农具的",
		"这边的公交车晚上几点收班", "请问哪里可以修手机", "镇上哪里有便宜的理发的",
		"今天天气怎么样", "明天会下雨吗", "双色球开奖了吗", "有没有人一起打麻将")
	return u.Text
}

// question has openID of branch ask text; it returns the question case's number.
func (d *caseDesk) question(openID, branch, text string) int64 {
	d.t.Helper()
	d.member(openID, branch)
	reply := d.say(openID, text)
	n := caseNumberIn(d.t, reply)
	if k := d.caseNo(n); k.Kind != bot.CaseQuestion || k.BranchID != branch || k.Urgent {
		d.t.Fatalf("%q opened %+v, want a question of %s", text, k, branch)
	}
	return n
}

// Questions wait for the batch; then a branch's questions go to each of
// its directors in one message, and a single one as the ordinary alert.
func TestClockAlertsQuestionsInBatches(t *testing.T) {
	for _, tt := range []struct {
		name  string
		batch time.Duration
	}{
		{"ten minutes", 10 * time.Minute},
		{"one minute", time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newCaseDesk(t, func(cs *handlers.CaseSettings) { cs.QuestionBatch = tt.batch })
			text := unknownQuestion(t, d)
			var batch []int64
			for _, who := range []string{"o-q1", "o-q2", "o-q3"} {
				batch = append(batch, d.question(who, "longlin-xinzhou", text))
			}
			single := d.question("o-q4", "longlin-zhebao", text)
			all := append(slices.Clone(batch), single)
			for _, dir := range []string{xinzhouDirector, zhebaoDirector, countyDirector, countyDirector2} {
				if got := d.sentTo(dir, ""); len(got) != 0 {
					t.Fatalf("%s was told at once about a question: %q", dir, got[0].Text)
				}
			}
			start := d.outboxMax()
			d.tickQuiet("questions that have not waited")

			// Only the oldest of a branch has to have waited: the others
			// go with it.
			back := fmt.Sprintf("%d seconds", int((tt.batch + time.Minute).Seconds()))
			d.exec(`UPDATE cases SET created_at = now() - $2::interval WHERE number = ANY($1)`,
				[]int64{batch[0], single}, back)
			d.tick()

			got := d.sentTo(xinzhouDirector, bot.KindAlert)
			if len(got) != 1 {
				t.Fatalf("alerts to the Xinzhou director = %d, want one for the three questions", len(got))
			}
			mustContain(t, "batch alert", got[0].Text, "3条")
			for _, n := range batch {
				mustContain(t, "batch alert", got[0].Text, fmt.Sprint(n))
			}
			if !got[0].Once {
				t.Error("the batch alert may be sent twice")
			}
			one := d.sentTo(zhebaoDirector, bot.KindAlert)
			if len(one) != 1 {
				t.Fatalf("alerts to the Zhebao director = %d, want 1", len(one))
			}
			mustContain(t, "single question's alert", one[0].Text, fmt.Sprintf("【新问题】编号%d", single), text,
				fmt.Sprintf("接 %d", single), "者保乡计生协")
			if one[0].CaseID.Int64 != d.caseNo(single).ID {
				t.Errorf("the single alert is about case id %d, want case %d's", one[0].CaseID.Int64, single)
			}
			for _, dir := range countyDirectors {
				if got := d.sentTo(dir, ""); len(got) != 0 {
					t.Errorf("the county was told about questions: %q", got[0].Text)
				}
			}
			for _, n := range all {
				if got := d.logCount(n, "alerted bot"); got != 1 {
					t.Errorf("case %d's log = %q, want one `alerted bot`", n, d.actions(n))
				}
				if d.caseNo(n).AlertedAt == nil {
					t.Errorf("case %d not marked alerted", n)
				}
			}
			d.checkClockTexts(start)
			d.tickQuiet("a second round")
		})
	}
}

// A case whose every alert failed is told to the county once.
func TestClockTellsCountyOfUnreachedCase(t *testing.T) {
	d := newCaseDesk(t)
	// The industrial park has two directors: one alert failing is not
	// enough, the other may still arrive.
	n := d.helpCase("o-park", "industrial-park", calmHelp)
	id := d.caseNo(n).ID
	var alerts int
	if err := d.st.DB().Get(&alerts, `SELECT count(*) FROM outbox WHERE case_id = $1 AND kind = 'alert'`, id); err != nil {
		t.Fatal(err)
	}
	if alerts != 2 {
		t.Fatalf("the park's case has %d alerts, want 2", alerts)
	}
	start := d.outboxMax()
	d.tickQuiet("alerts pending")
	d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'uncertain'
		WHERE id = (SELECT min(id) FROM outbox WHERE case_id = $1 AND kind = 'alert')`, id)
	d.tickQuiet("one alert of two failed")

	d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'uncertain' WHERE case_id = $1 AND kind = 'alert'`, id)
	d.tick()
	for _, dir := range countyDirectors {
		got := d.clockSent(dir, bot.KindEscalation, n)
		if len(got) != 1 {
			t.Fatalf("unreached notices to %s = %d, want 1", dir, len(got))
		}
		mustContain(t, "unreached notice", got[0].Text, fmt.Sprintf("编号%d", n), "未送达", fmt.Sprintf("案件 %d", n),
			"工业园区计生协")
	}
	if got := d.logCount(n, "unreached bot"); got != 1 {
		t.Errorf("log = %q, want one `unreached bot`", d.actions(n))
	}
	if d.caseNo(n).UnreachedAt == nil {
		t.Error("case not marked unreached")
	}
	d.checkClockTexts(start)
	d.tickQuiet("a second round")
}

// A reply the outbox gave up on is told to the assignee once, so they
// phone the member.
func TestClockTellsAssigneeOfUndeliveredReply(t *testing.T) {
	d := newCaseDesk(t)
	n := d.helpCase("o-far", "longlin-xinzhou", calmHelp)
	mustContain(t, "reply reply", d.say(xinzhouDirector, fmt.Sprintf("回 %d 我们明天联系你", n)), "已发给会员")
	replies := d.clockSent("o-far", bot.KindCaseReply, n)
	if len(replies) != 1 {
		t.Fatalf("replies to the member = %d, want 1", len(replies))
	}
	start := d.outboxMax()
	d.tickQuiet("a reply still pending")

	d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'outside_window' WHERE id = $1`, replies[0].ID)
	d.tick()
	got := d.clockSent(xinzhouDirector, bot.KindCaseNotice, n)
	if len(got) != 1 {
		t.Fatalf("notices to the assignee = %d, want 1", len(got))
	}
	mustContain(t, "undelivered notice", got[0].Text, fmt.Sprintf("编号%d", n), "没能送达", "48小时", "打电话")
	for _, dir := range countyDirectors {
		if got := d.sentTo(dir, ""); len(got) != 0 {
			t.Errorf("the county was told: %q", got[0].Text)
		}
	}
	var followed bool
	if err := d.st.DB().Get(&followed, `SELECT followed_up_at IS NOT NULL FROM outbox WHERE id = $1`, replies[0].ID); err != nil {
		t.Fatal(err)
	}
	if !followed {
		t.Error("the failed reply is not marked followed up")
	}
	d.checkClockTexts(start)
	d.tickQuiet("a second round")
}

// secondStore is another process's store on the test's schema.
func secondStore(t *testing.T, st *store.Store) *store.Store {
	t.Helper()
	var schema string
	if err := st.DB().Get(&schema, `SELECT current_schema()`); err != nil {
		t.Fatal(err)
	}
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = pgtest.DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return testkit.StoreAt(t, u.String())
}

// clockRound runs one round on st.
func clockRound(ctx context.Context, clock handlers.Clock, st *store.Store) error {
	return st.WithCases(ctx, func(c bot.CaseClock) error { return clock.Tick(ctx, c) })
}

// overdue opens help cases of members of Xinzhou, to be made overdue.
func (d *caseDesk) overdue(prefix string, cases int) []int64 {
	d.t.Helper()
	var late []int64
	for i := range cases {
		late = append(late, d.helpCase(fmt.Sprintf("%s-late-%d", prefix, i), "longlin-xinzhou", calmHelp))
	}
	return late
}

// checkOnce fails unless each of cases has exactly one escalation per
// county director and one `escalated bot` line.
func (d *caseDesk) checkOnce(cases []int64) {
	d.t.Helper()
	for _, n := range cases {
		for _, dir := range countyDirectors {
			if got := d.clockSent(dir, bot.KindEscalation, n); len(got) != 1 {
				d.t.Errorf("case %d: %d escalations to %s, want 1", n, len(got), dir)
			}
		}
		if got := d.logCount(n, "escalated bot"); got != 1 {
			d.t.Errorf("case %d's log = %q, want one `escalated bot`", n, d.actions(n))
		}
	}
}

// Two serve processes run the clock at once: every one-off message is
// still written once.
func TestClockTwoClocksWriteOnce(t *testing.T) {
	d := newCaseDesk(t)
	st2 := secondStore(t, d.st)
	clock := handlers.Clock{Desk: d.deps.Desk()}
	ctx := context.Background()

	t.Run("second round while the first holds its cases", func(t *testing.T) {
		late := d.overdue("held", 4)
		quiet := d.helpCase("o-held-quiet", "longlin-zhebao", calmHelp)
		d.say(zhebaoDirector, fmt.Sprintf("接 %d", quiet))
		text := unknownQuestion(t, d)
		qs := []int64{d.question("o-held-q1", "longlin-tianshengqiao", text), d.question("o-held-q2", "longlin-tianshengqiao", text)}
		d.exec(`UPDATE cases SET created_at = now() - interval '3 hours', alerted_at = now() - interval '3 hours' WHERE number = ANY($1)`, late)
		d.exec(`UPDATE cases SET created_at = now() - interval '11 minutes' WHERE number = ANY($1)`, qs)
		d.exec(`UPDATE cases SET accepted_at = now() - interval '25 hours' WHERE number = $1`, quiet)
		far := d.helpCase("o-held-far", "longlin-zhebao", calmHelp)
		d.say(zhebaoDirector, fmt.Sprintf("回 %d 我们明天联系你", far))
		d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'outside_window' WHERE kind = 'case_reply'`)

		var second error
		err := d.st.WithCases(ctx, func(c bot.CaseClock) error {
			if err := clock.Tick(ctx, c); err != nil {
				return err
			}
			// The first round has written but not committed; the second,
			// in another process, must neither wait for it nor repeat it.
			// The deadline only keeps a blocked round from hanging the test.
			ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			second = clockRound(ctx2, clock, st2)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if second != nil {
			t.Fatalf("the second clock, while the first held its cases: %v", second)
		}
		d.checkOnce(late)
		if got := d.clockSent(zhebaoDirector, bot.KindCaseNotice, quiet); len(got) != 1 || d.logCount(quiet, "reminded bot") != 1 {
			t.Errorf("reminders = %d, log %q; want one", len(got), d.actions(quiet))
		}
		if got := d.sentTo("demo-openid-tianshengqiao-1", bot.KindAlert); len(got) != 1 {
			t.Errorf("question alerts to Tianshengqiao = %d, want one for both", len(got))
		}
		if got := d.clockSent(zhebaoDirector, bot.KindCaseNotice, far); len(got) != 1 {
			t.Errorf("undelivered-reply notices = %d, want one", len(got))
		}
		for _, n := range qs {
			if got := d.logCount(n, "alerted bot"); got != 1 {
				t.Errorf("question %d's log = %q", n, d.actions(n))
			}
		}
		if err := clockRound(ctx, clock, st2); err != nil {
			t.Fatal(err)
		}
		d.checkOnce(late)
	})

	t.Run("rounds at the same moment", func(t *testing.T) {
		late := d.overdue("race", 8)
		d.exec(`UPDATE cases SET created_at = now() - interval '3 hours', alerted_at = now() - interval '3 hours' WHERE number = ANY($1)`, late)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 4)
		for i := range errs {
			st := d.st
			if i%2 == 1 {
				st = st2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = clockRound(ctx, clock, st)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("clock %d: %v", i, err)
			}
		}
		d.checkOnce(late)
	})
}

// unreachableKB is the demo knowledge base with the given branches'
// directors not reachable by the bot (no openid).
type unreachableKB struct {
	base     handlers.Knowledge
	branches []string
}

func (k unreachableKB) FAQ(id string) (bot.FAQ, bool) { return k.base.FAQ(id) }

func (k unreachableKB) Nearest(lat, lng float64) (bot.Branch, float64, bool) {
	b, km, ok := k.base.Nearest(lat, lng)
	return k.strip(b), km, ok
}

func (k unreachableKB) strip(b bot.Branch) bot.Branch {
	if !slices.Contains(k.branches, b.ID) {
		return b
	}
	dirs := slices.Clone(b.Directors)
	for i := range dirs {
		dirs[i].OpenID = ""
	}
	b.Directors = dirs
	return b
}

func (k unreachableKB) Branch(id string) (bot.Branch, bool) {
	b, ok := k.base.Branch(id)
	return k.strip(b), ok
}

func (k unreachableKB) Knowledge() bot.Knowledge {
	kb := k.base.Knowledge()
	kb.Branches = slices.Clone(kb.Branches)
	for i := range kb.Branches {
		kb.Branches[i] = k.strip(kb.Branches[i])
	}
	return kb
}

// Questions of a branch with no director the bot can message go to the
// county, and the log says why.
func TestClockQuestionsOfAnUnreachableBranchGoToTheCounty(t *testing.T) {
	d := newCaseDesk(t)
	text := unknownQuestion(t, d)
	batch := []int64{d.question("o-u1", "longlin-xinzhou", text), d.question("o-u2", "longlin-xinzhou", text)}
	single := d.question("o-u3", "longlin-zhebao", text)
	d.exec(`UPDATE cases SET created_at = now() - interval '11 minutes'`)

	desk := d.deps.Desk()
	desk.Knowledge = unreachableKB{base: d.ix, branches: []string{"longlin-xinzhou", "longlin-zhebao"}}
	start := d.outboxMax()
	if err := clockRound(context.Background(), handlers.Clock{Desk: desk}, d.st); err != nil {
		t.Fatal(err)
	}
	for _, dir := range countyDirectors {
		got := d.sentTo(dir, bot.KindAlert)
		if len(got) != 2 {
			t.Fatalf("alerts to %s = %d, want the batch and the single question", dir, len(got))
		}
		texts := got[0].Text + "\n" + got[1].Text
		mustContain(t, "county's alerts", texts, "2条", fmt.Sprintf("【新问题】编号%d", single))
		for _, n := range batch {
			mustContain(t, "county's alerts", texts, fmt.Sprint(n))
		}
	}
	for _, n := range append(batch, single) {
		if got := d.actions(n); d.logCount(n, "unreached bot") != 1 || d.logCount(n, "alerted bot") != 1 {
			t.Errorf("case %d's log = %q, want `unreached bot` and `alerted bot` once", n, got)
		}
		if d.caseNo(n).UnreachedAt == nil {
			t.Errorf("case %d not marked unreached", n)
		}
	}
	d.checkClockTexts(start)
}

// A reply that failed after the case moved on (no assignee now) is told
// to the directors who have the case, not dropped.
func TestClockUndeliveredReplyOfAMovedCase(t *testing.T) {
	d := newCaseDesk(t)
	n := d.helpCase("o-moved", "longlin-xinzhou", calmHelp)
	mustContain(t, "reply reply", d.say(xinzhouDirector, fmt.Sprintf("回 %d 我们明天联系你", n)), "已发给会员")
	mustContain(t, "move reply", d.say(xinzhouDirector, fmt.Sprintf("转 %d 者保", n)), "已转给")
	if k := d.caseNo(n); k.Assignee != "" || k.BranchID != "longlin-zhebao" {
		t.Fatalf("moved case = %+v, want Zhebao's with no assignee", k)
	}
	replies := d.clockSent("o-moved", bot.KindCaseReply, n)
	if len(replies) != 1 {
		t.Fatalf("replies to the member = %d, want 1", len(replies))
	}
	d.exec(`UPDATE outbox SET status = 'failed', failed_reason = 'unsubscribed' WHERE id = $1`, replies[0].ID)
	start := d.outboxMax()
	d.tick()
	got := d.clockSent(zhebaoDirector, bot.KindCaseNotice, n)
	if len(got) != 1 {
		t.Fatalf("notices to the Zhebao director = %d, want 1", len(got))
	}
	mustContain(t, "undelivered notice", got[0].Text, fmt.Sprintf("编号%d", n), "没能送达", "取消关注")
	d.checkClockTexts(start)
	d.tickQuiet("a second round")
}

// A case moved to another branch waits afresh there: the county is not
// told at once that the new branch did not accept it.
func TestClockMovedCaseWaitsAfreshAtItsNewBranch(t *testing.T) {
	d := newCaseDesk(t)
	n := d.helpCase("o-moved", "longlin-xinzhou", calmHelp)
	d.exec(`UPDATE cases SET created_at = now() - interval '3 hours', alerted_at = now() - interval '3 hours' WHERE number = $1`, n)
	d.say(xinzhouDirector, fmt.Sprintf("转 %d 者保", n))
	d.tickQuiet("a case just moved")
	d.exec(`UPDATE cases SET alerted_at = now() - interval '3 hours' WHERE number = $1`, n)
	d.tick()
	for _, dir := range countyDirectors {
		if got := d.clockSent(dir, bot.KindEscalation, n); len(got) != 1 {
			t.Errorf("escalations to %s after the new branch's wait = %d, want 1", dir, len(got))
		}
	}
}
