package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/handlers"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/store"
)

// The OpenCC tables take a while to load and are only read afterwards, so

// branch is a demo branch the test relies on.
func branch(t *testing.T, ix *nlu.Index, id string) bot.Branch {
	t.Helper()
	b, ok := ix.Branch(id)
	if !ok {
		t.Fatalf("kb/demo.yaml has no branch %q", id)
	}
	return b
}

// textRequest is what the router hands a handler for a text message.
func textRequest(ix *nlu.Index, openID, text string, m bot.Member) *bot.Request {
	m.OpenID = openID
	return &bot.Request{
		Msg:    bot.Inbound{OpenID: openID, Type: bot.TypeText, Text: text},
		Member: m,
		U:      ix.Understand(text),
	}
}

// understandFirst returns the first of texts the index understands the way
// a test needs (want), so a retuned classifier moves the test to another
// phrasing instead of breaking it; it fails when none fits.
func understandFirst(t *testing.T, ix *nlu.Index, want func(bot.Understanding) bool, texts ...string) bot.Understanding {
	t.Helper()
	for _, text := range texts {
		if u := ix.Understand(text); want(u) {
			return u
		}
	}
	t.Fatalf("none of %q is understood as this test needs", texts)
	return bot.Understanding{}
}

// handle runs h and fails the test on an error: members never see one.
func handle(t *testing.T, h bot.Handler, req *bot.Request) string {
	t.Helper()
	reply, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return reply.Text
}

// maxReplyRunes is about what a phone screen shows without scrolling far.
const maxReplyRunes = 300

// traditional are characters that would show the reply was not written in
// the Simplified Chinese members read (協 for 协, 聯 for 联, …).
const traditional = "協聯電話會員資訊幫們請問這個來區與號護證書時間"

// checkReadable fails when a reply is empty, too long for a phone screen,
// or contains traditional characters.
func checkReadable(t *testing.T, reply string) {
	t.Helper()
	if strings.TrimSpace(reply) == "" {
		t.Fatal("empty reply")
	}
	if n := utf8.RuneCountInString(reply); n > maxReplyRunes {
		t.Errorf("reply is %d runes, more than %d:\n%s", n, maxReplyRunes, reply)
	}
	if i := strings.IndexAny(reply, traditional); i >= 0 {
		r, _ := utf8.DecodeRuneInString(reply[i:])
		t.Errorf("reply contains the traditional character %c:\n%s", r, reply)
	}
}

// phonePattern matches the numbers in the knowledge base, such as 0776-0000101.
var phonePattern = regexp.MustCompile(`\d{3,4}-\d{7,8}`)

// checkNamesPhone fails unless the reply gives a number to call.
func checkNamesPhone(t *testing.T, reply string) {
	t.Helper()
	if !phonePattern.MatchString(reply) {
		t.Errorf("reply names no phone number:\n%s", reply)
	}
}

// newStore is PostgreSQL in a schema of this test's own, migrated.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// caseDesk is the bot with its case book: real PostgreSQL and Redis, the
// demo knowledge base, the handlers registered as serve registers them.
// Pushes go through the store's handling transaction, as in serve.
type caseDesk struct {
	t      *testing.T
	st     *store.Store
	router *bot.Router
	ix     *nlu.Index
	deps   handlers.Deps
	now    time.Time
	msgID  int64
}

// Directors of the demo knowledge base the tests use.
const (
	xinzhouDirector = "demo-openid-xinzhou-1"
	zhebaoDirector  = "demo-openid-zhebao-1"
	countyDirector  = "demo-openid-county-1"
	countyDirector2 = "demo-openid-county-2"
)

func newCaseDesk(t *testing.T, settings ...func(*handlers.CaseSettings)) *caseDesk {
	t.Helper()
	ix := testkit.Index(t)
	rd := testkit.Redis(t)
	d := &caseDesk{t: t, st: testkit.Store(t), ix: ix, now: time.Now(), msgID: 7000000000}
	cs := handlers.CaseSettings{AcceptSLA: 2 * time.Hour, UrgentAcceptSLA: 30 * time.Minute,
		ReplySLA: 24 * time.Hour, QuestionBatch: 10 * time.Minute}
	for _, f := range settings {
		f(&cs)
	}
	d.deps = handlers.Deps{Knowledge: ix, Choices: rd, Prefs: d.st, Places: ix, Cases: cs}
	d.router = bot.NewRouter(ix, rd, slog.New(slog.NewTextHandler(io.Discard, nil)))
	handlers.Register(d.router, d.deps)
	return d
}

// push keeps in and handles it as serve does; it returns every text the
// sender of in reads in answer, in order.
func (d *caseDesk) push(in bot.Inbound) []string {
	d.t.Helper()
	ctx := context.Background()
	d.msgID++
	if in.MsgID == 0 && in.Type != bot.TypeEvent {
		in.MsgID = d.msgID
	}
	if in.At.IsZero() {
		in.At = time.Now()
	}
	if in.DedupeKey == "" {
		in.DedupeKey = fmt.Sprintf("m:%d", d.msgID)
	}
	if _, err := d.st.Keep(ctx, in); err != nil {
		d.t.Fatal(err)
	}
	before := d.outboxMax()
	route := func(ctx context.Context, msg bot.Inbound, m bot.Member, cases bot.Cases) (bot.Reply, bot.Understanding) {
		r, u, _ := d.router.Route(ctx, msg, m, cases)
		return r, u
	}
	if _, err := d.st.Handle(ctx, in.OpenID, in.DedupeKey, true, route); err != nil {
		d.t.Fatalf("Handle: %v", err)
	}
	// The passive answer is an outbox row too, recorded as answered.
	var texts []string
	for _, r := range d.outboxAfter(before) {
		if r.OpenID == in.OpenID && r.Kind == "reply" {
			texts = append(texts, r.Text)
		}
	}
	return texts
}

// say is a text from openID; it returns the reply they read.
func (d *caseDesk) say(openID, text string) string {
	d.t.Helper()
	texts := d.push(bot.Inbound{OpenID: openID, Type: bot.TypeText, Text: text})
	if len(texts) == 0 {
		return ""
	}
	return strings.Join(texts, "\n")
}

// outboxRow is an outbox row as a test reads it.
type outboxRow struct {
	ID        int64          `db:"id"`
	OpenID    string         `db:"openid"`
	Kind      string         `db:"kind"`
	Channel   string         `db:"channel"`
	Fallback  string         `db:"fallback"`
	Text      string         `db:"text"`
	Template  sql.NullString `db:"template_id"`
	Data      sql.NullString `db:"template_data"`
	CaseID    sql.NullInt64  `db:"case_id"`
	MediaKind string         `db:"media_kind"`
	MediaID   string         `db:"media_id"`
	Once      bool           `db:"at_most_once"`
}

const sqlOutboxAfter = `SELECT id, openid, kind, channel, COALESCE(fallback, '') AS fallback, COALESCE(text, '') AS text,
	template_id, template_data::text AS template_data, case_id, media_kind, media_id, at_most_once
	FROM outbox WHERE id > $1 ORDER BY id`

func (d *caseDesk) outboxAfter(id int64) []outboxRow {
	d.t.Helper()
	var rows []outboxRow
	if err := d.st.DB().Select(&rows, sqlOutboxAfter, id); err != nil {
		d.t.Fatal(err)
	}
	return rows
}

func (d *caseDesk) outboxMax() int64 {
	d.t.Helper()
	var id int64
	if err := d.st.DB().Get(&id, `SELECT COALESCE(max(id), 0) FROM outbox`); err != nil {
		d.t.Fatal(err)
	}
	return id
}

// sentTo are the outbox rows to openID of kind ("" for any), oldest first.
func (d *caseDesk) sentTo(openID, kind string) []outboxRow {
	d.t.Helper()
	var out []outboxRow
	for _, r := range d.outboxAfter(0) {
		if r.OpenID == openID && (kind == "" || r.Kind == kind) {
			out = append(out, r)
		}
	}
	return out
}

// caseNo is the case with number n, as the case book holds it.
func (d *caseDesk) caseNo(n int64) bot.Case {
	d.t.Helper()
	var k bot.Case
	err := d.st.WithCases(context.Background(), func(c bot.CaseClock) error {
		var found bool
		var err error
		k, found, err = c.CaseByNumber(context.Background(), n)
		if err == nil && !found {
			err = fmt.Errorf("no case %d", n)
		}
		return err
	})
	if err != nil {
		d.t.Fatal(err)
	}
	return k
}

// actions are case n's log as "action actor" lines, oldest first.
func (d *caseDesk) actions(n int64) []string {
	d.t.Helper()
	var out []string
	err := d.st.DB().Select(&out, `SELECT a.action || ' ' || a.actor FROM case_actions a JOIN cases c ON c.id = a.case_id
		WHERE c.number = $1 ORDER BY a.id`, n)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// lastCase is the number of the newest case.
func (d *caseDesk) lastCase() int64 {
	d.t.Helper()
	var n int64
	if err := d.st.DB().Get(&n, `SELECT COALESCE(max(number), 0) FROM cases`); err != nil {
		d.t.Fatal(err)
	}
	return n
}

// exec runs a statement on the test's schema, such as moving a case's
// times into the past.
func (d *caseDesk) exec(query string, args ...any) {
	d.t.Helper()
	if _, err := d.st.DB().Exec(query, args...); err != nil {
		d.t.Fatal(err)
	}
}

// tick runs one round of the case clock.
func (d *caseDesk) tick() {
	d.t.Helper()
	clock := handlers.Clock{Desk: d.deps.Desk()}
	err := d.st.WithCases(context.Background(), func(c bot.CaseClock) error { return clock.Tick(context.Background(), c) })
	if err != nil {
		d.t.Fatalf("clock: %v", err)
	}
}

// caseNumberIn reads the case number a reply names ("编号123").
func caseNumberIn(t *testing.T, reply string) int64 {
	t.Helper()
	m := regexp.MustCompile(`编号(\d+)`).FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply names no case number:\n%s", reply)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// member makes openID a member of branch, as if they had said where they are.
func (d *caseDesk) member(openID, branch string) {
	d.t.Helper()
	d.exec(`INSERT INTO members (openid, first_seen, last_seen, branch_id, last_inbound_at)
		VALUES ($1, now(), now(), $2, now())
		ON CONFLICT (openid) DO UPDATE SET branch_id = $2`, openID, branch)
}

// outsideWindow makes openID's last message three days old, as if they
// had not written since: the member row and the messages both say so.
func (d *caseDesk) outsideWindow(openID string) {
	d.t.Helper()
	d.exec(`UPDATE members SET last_inbound_at = now() - interval '3 days' WHERE openid = $1`, openID)
	d.exec(`UPDATE messages SET at = at - interval '3 days' WHERE openid = $1`, openID)
}
