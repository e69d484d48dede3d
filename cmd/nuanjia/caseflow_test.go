package main

// End-to-end tests of a case's life through the webhook: signed pushes in,
// the whole app in-process (pipeline, outbox sender, case clock), the fake
// WeChat API out. What they check is what people would see: the member's
// answers and messages, the director's alerts, the county's notices,
// counted per recipient at the fake.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/config"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
)

// What the case-flow tests configure and who they talk to.
const (
	cfAlertTemplate  = "tplalert00001"
	cfUpdateTemplate = "tplupdate0001"
	cfAppID          = "wxtest0000000001"
	cfToken          = "nuanjia-test-token"
	cfAccount        = "gh_nuanjia_test"

	cfTemplatePath = "/cgi-bin/message/template/send"
	cfCSPath       = "/cgi-bin/message/custom/send"

	cfXinzhou         = "longlin-xinzhou"
	cfXinzhouDirector = "demo-openid-xinzhou-1"
	cfZhebao          = "longlin-zhebao"
	cfZhebaoDirector  = "demo-openid-zhebao-1"
	cfCounty1         = "demo-openid-county-1"
	cfCounty2         = "demo-openid-county-2"
)

var cfCountyDirectors = []string{cfCounty1, cfCounty2}

// cfWorld is what several serve processes share: one schema holding the
// demo knowledge base, one Redis prefix, one fake WeChat API.
type cfWorld struct {
	tb     testing.TB
	vars   map[string]string
	prefix string
	fake   *wxtest.FakeAPI
	api    string // the fake's address
	logs   *testkit.LogBuffer
	first  *cfServer  // the first server started, to read the database
	level  slog.Level // of the servers' logs: debug in tests
}

// newCFWorld prepares a world; extra overrides or adds settings
// (WECHAT_TEMPLATE_CASE_ALERT…). The case clock runs every 200 ms unless
// extra says otherwise.
func newCFWorld(tb testing.TB, extra map[string]string) *cfWorld {
	tb.Helper()
	_, prefix := wxtest.Redis(tb)
	vars := map[string]string{
		"DATABASE_URL":      cfImportedDB(tb),
		"REDIS_URL":         redisURL(),
		"HTTP_ADDR":         "127.0.0.1:0",
		"WECHAT_APP_ID":     cfAppID,
		"WECHAT_APP_SECRET": "test-app-secret",
		"WECHAT_TOKEN":      cfToken,
		"WECHAT_AES_KEY":    testAESKey,
		"CASE_CLOCK_EVERY":  "200ms",
	}
	maps.Copy(vars, extra)
	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(vars["WECHAT_APP_ID"], vars["WECHAT_APP_SECRET"])
	srv := httptest.NewServer(fake)
	tb.Cleanup(srv.Close)
	w := &cfWorld{tb: tb, vars: vars, prefix: prefix, fake: fake, api: srv.URL, logs: &testkit.LogBuffer{}, level: slog.LevelDebug}
	if _, ok := tb.(*testing.B); ok {
		w.level = slog.LevelInfo // as in production
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", w.logs.String())
		}
	})
	return w
}

// cfImportedDB is importedDB for tests and benchmarks alike: a fresh
// schema, migrated, with the demo knowledge base.
func cfImportedDB(tb testing.TB) string {
	tb.Helper()
	vars := map[string]string{"DATABASE_URL": pgtest.URL(tb)}
	for _, args := range [][]string{{"migrate"}, {"import", demoKB}} {
		e, _, errOut := newEnv(vars, "", args...)
		if err := run(context.Background(), e); err != nil {
			tb.Fatalf("nuanjia %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
	}
	return vars["DATABASE_URL"]
}

// cfServer is one serve process of a world and a way to post to it.
type cfServer struct {
	w      *cfWorld
	a      *app
	name   string
	signer wxtest.Signer
}

// serve starts a serve process with its own spool directory; api is the
// WeChat API it calls, "" for the world's fake.
func (w *cfWorld) serve(name, api string) *cfServer {
	w.tb.Helper()
	vars := maps.Clone(w.vars)
	vars["SPOOL_DIR"] = w.tb.TempDir()
	vars["WECHAT_API_BASE"] = w.api
	if api != "" {
		vars["WECHAT_API_BASE"] = api
	}
	cfg, err := config.Load(func(k string) string { return vars[k] },
		config.NeedDatabase, config.NeedRedis, config.NeedWebhook, config.NeedWeChatAPI)
	if err != nil {
		w.tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: w.level})).With("serve", name)
	a, err := start(context.Background(), cfg, options{redisPrefix: w.prefix}, log)
	if err != nil {
		w.tb.Fatal(err)
	}
	// Registered after the schema, Redis and fake clean-ups, so it runs
	// first; a second shutdown (after the test's own) does nothing.
	w.tb.Cleanup(func() { a.shutdown() })
	s := &cfServer{w: w, a: a, name: name,
		signer: wxtest.Signer{Token: cfg.WeChatToken, AppID: cfg.WeChatAppID, AESKey: cfg.WeChatAESKey}}
	if w.first == nil {
		w.first = s
	}
	return s
}

// MsgIds and nonces unique across the tests of a run.
var cfSeq = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(time.Now().UnixNano() >> 4)
	return &n
}()

func cfNonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cfText(from, content string) string {
	return wxtest.Text(from, cfAccount, content, cfSeq.Add(1), time.Now().Unix())
}

func cfSubscribe(from, branch string) string {
	return wxtest.Event(from, cfAccount, "subscribe", "qrscene_"+branch, time.Now().Unix())
}

// cfHTTP keeps connections alive, as WeChat's servers do.
var cfHTTP = &http.Client{Timeout: 15 * time.Second}

// tryPost sends a signed, encrypted push as WeChat would, and returns the
// text the member sees in the HTTP answer ("" for "success": a late reply
// follows by customer-service message) and how long the answer took.
func (s *cfServer) tryPost(push string) (string, time.Duration, error) {
	q, body := s.signer.Safe(push, time.Now().Unix(), cfNonce())
	req, err := http.NewRequest(http.MethodPost, "http://"+s.a.addr+"/wechat?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	began := time.Now()
	resp, err := cfHTTP.Do(req)
	if err != nil {
		return "", 0, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(began)
	if err != nil {
		return "", took, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", took, fmt.Errorf("webhook answered %s: %s", resp.Status, answer)
	}
	if string(answer) == "success" {
		return "", took, nil
	}
	inner, err := s.signer.OpenReply(answer)
	if err != nil {
		return "", took, fmt.Errorf("answer does not verify: %w\n%s", err, answer)
	}
	var m struct {
		MsgType string `xml:"MsgType"`
		Content string `xml:"Content"`
	}
	if err := xml.Unmarshal([]byte(inner), &m); err != nil || m.MsgType != "text" {
		return "", took, fmt.Errorf("answer is not a text message (%v): %s", err, inner)
	}
	return m.Content, took, nil
}

func (s *cfServer) post(push string) string {
	s.w.tb.Helper()
	text, _, err := s.tryPost(push)
	if err != nil {
		s.w.tb.Fatal(err)
	}
	return text
}

// say posts a text from openID and returns the answer.
func (s *cfServer) say(openID, text string) string {
	s.w.tb.Helper()
	return s.post(cfText(openID, text))
}

var cfNumberRE = regexp.MustCompile(`编号(\d+)`)

// cfNumber reads the case number out of a member's answer.
func cfNumber(tb testing.TB, answer string) int64 {
	tb.Helper()
	m := cfNumberRE.FindStringSubmatch(answer)
	if m == nil {
		tb.Fatalf("answer %q has no case number (编号N)", answer)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// openCase has a member of branch follow by its QR code and ask for help;
// it returns the case number from the answer.
func (s *cfServer) openCase(member, branch, words string) int64 {
	s.w.tb.Helper()
	s.post(cfSubscribe(member, branch))
	// The welcome's consent question goes by customer-service message;
	// once it has, a fault a test injects meets the case's messages only.
	s.w.eventually(20*time.Second, "the consent question reaches the member", func() bool {
		return cfCalls(s.w.fake, cfCSPath, member, cfSaying("回复「同意」")).got == 1
	})
	answer := s.say(member, words)
	return cfNumber(s.w.tb, answer)
}

// Reading the fake's calls.

func cfTo(c wxtest.Call) string { s, _ := c.JSON["touser"].(string); return s }

// cfOK: WeChat took it.
func cfOK(c wxtest.Call) bool { return c.Status == http.StatusOK && c.Errcode == 0 }

// cfWords is what the recipient reads: a customer-service text, or a
// template's values as key=value lines.
func cfWords(c wxtest.Call) string {
	if t, ok := c.JSON["text"].(map[string]any); ok {
		s, _ := t["content"].(string)
		return s
	}
	data, _ := c.JSON["data"].(map[string]any)
	keys := slices.Sorted(maps.Keys(data))
	var lines []string
	for _, k := range keys {
		v, _ := data[k].(map[string]any)
		s, _ := v["value"].(string)
		lines = append(lines, k+"="+s)
	}
	return strings.Join(lines, "\n")
}

// cfAbout reports whether a call is about case n: 编号n in a text, or n as
// a template's number field.
func cfAbout(c wxtest.Call, n int64) bool {
	num := strconv.FormatInt(n, 10)
	if regexp.MustCompile(`编号` + num + `(\D|$)`).MatchString(cfWords(c)) {
		return true
	}
	data, _ := c.JSON["data"].(map[string]any)
	for _, v := range data {
		if m, ok := v.(map[string]any); ok && m["value"] == num {
			return true
		}
	}
	return false
}

// cfCount is how many calls to path for one recipient matched: tried
// reached the fake, got are the ones WeChat took.
type cfCount struct{ tried, got int }

func cfCalls(fake *wxtest.FakeAPI, path, to string, match func(wxtest.Call) bool) cfCount {
	var n cfCount
	for _, c := range fake.Calls(path) {
		if cfTo(c) != to || (match != nil && !match(c)) {
			continue
		}
		n.tried++
		if cfOK(c) {
			n.got++
		}
	}
	return n
}

func cfAboutCase(n int64) func(wxtest.Call) bool {
	return func(c wxtest.Call) bool { return cfAbout(c, n) }
}

func cfSaying(words string) func(wxtest.Call) bool {
	return func(c wxtest.Call) bool { return strings.Contains(cfWords(c), words) }
}

// cfGot counts what openID received about case n by both channels.
func cfGot(fake *wxtest.FakeAPI, to string, n int64) int {
	return cfCalls(fake, cfTemplatePath, to, cfAboutCase(n)).got + cfCalls(fake, cfCSPath, to, cfAboutCase(n)).got
}

// cfDump lists the message calls the fake saw, for a failure message.
func cfDump(fake *wxtest.FakeAPI) string {
	var b strings.Builder
	for _, c := range fake.Calls("") {
		if c.Path != cfTemplatePath && c.Path != cfCSPath {
			continue
		}
		fmt.Fprintf(&b, "  %s %s → %s status=%d errcode=%d: %q\n", c.At.Format("15:04:05.000"),
			strings.TrimPrefix(c.Path, "/cgi-bin/message/"), cfTo(c), c.Status, c.Errcode, cfWords(c))
	}
	return b.String()
}

// eventually polls ok until it holds or within passes.
func (w *cfWorld) eventually(within time.Duration, what string, ok func() bool) {
	w.tb.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			w.tb.Fatalf("not within %s: %s\nmessages at the fake:\n%s\noutbox:\n%s", within, what, cfDump(w.fake), w.outbox())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reading the database.

// outbox lists the outbox rows, for a failure message.
func (w *cfWorld) outbox() string {
	if w.first == nil {
		return ""
	}
	var rows []struct {
		ID       int64  `db:"id"`
		OpenID   string `db:"openid"`
		Kind     string `db:"kind"`
		Channel  string `db:"channel"`
		Fallback string `db:"fallback"`
		Status   string `db:"status"`
		Attempts int    `db:"attempts"`
		Reason   string `db:"failed_reason"`
		Error    string `db:"last_error"`
		Text     string `db:"text"`
	}
	// The first server may be shut down; its pool is then closed.
	if err := w.first.a.st.DB().Select(&rows, `SELECT id, openid, kind, channel, fallback, status, attempts,
		failed_reason, last_error, text FROM outbox ORDER BY id`); err != nil {
		return err.Error()
	}
	var b strings.Builder
	var mems []struct {
		OpenID string     `db:"openid"`
		In     *time.Time `db:"last_inbound_at"`
		Branch *string    `db:"branch_id"`
	}
	_ = w.first.a.st.DB().Select(&mems, `SELECT openid, last_inbound_at, branch_id FROM members ORDER BY openid`)
	for _, m := range mems {
		fmt.Fprintf(&b, "  member %s last_inbound_at=%v branch=%v\n", m.OpenID, m.In, m.Branch)
	}
	var acts []struct {
		Number int64  `db:"number"`
		Action string `db:"action"`
		Actor  string `db:"actor"`
		Text   string `db:"text"`
	}
	_ = w.first.a.st.DB().Select(&acts, `SELECT c.number, a.action, a.actor, a.text FROM case_actions a
		JOIN cases c ON c.id = a.case_id ORDER BY a.id`)
	for _, a := range acts {
		fmt.Fprintf(&b, "  case %d: %s by %s %q\n", a.Number, a.Action, a.Actor, a.Text)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %d %s %s %s(%s) %s attempts=%d %q %q: %q\n", r.ID, r.OpenID, r.Kind, r.Channel, r.Fallback,
			r.Status, r.Attempts, r.Reason, r.Error, r.Text)
	}
	return b.String()
}

// busy counts outbox rows still to be sent or being sent.
func (s *cfServer) busy() int {
	s.w.tb.Helper()
	var n int
	if err := s.a.st.DB().Get(&n, `SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')`); err != nil {
		s.w.tb.Fatal(err)
	}
	return n
}

// cfRow is an outbox row about a case.
type cfRow struct {
	OpenID  string `db:"openid"`
	Kind    string `db:"kind"`
	Channel string `db:"channel"`
	Status  string `db:"status"`
	Reason  string `db:"failed_reason"`
}

// rows are the outbox rows of case n of a kind, oldest first.
func (s *cfServer) rows(n int64, kind string) []cfRow {
	s.w.tb.Helper()
	var rs []cfRow
	if err := s.a.st.DB().Select(&rs, `SELECT o.openid, o.kind, o.channel, o.status, o.failed_reason
		FROM outbox o JOIN cases c ON c.id = o.case_id WHERE c.number = $1 AND o.kind = $2 ORDER BY o.id`, n, kind); err != nil {
		s.w.tb.Fatal(err)
	}
	return rs
}

type cfAction struct {
	Action string `db:"action"`
	Actor  string `db:"actor"`
	Text   string `db:"text"`
}

// actions is case n's log in order.
func (s *cfServer) actions(n int64) []cfAction {
	s.w.tb.Helper()
	var as []cfAction
	if err := s.a.st.DB().Select(&as, `SELECT a.action, a.actor, a.text FROM case_actions a
		JOIN cases c ON c.id = a.case_id WHERE c.number = $1 ORDER BY a.id`, n); err != nil {
		s.w.tb.Fatal(err)
	}
	return as
}

func cfActionNames(as []cfAction) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Action
	}
	return out
}

// 1. A case from the member's first words to their rating, through the
// webhook as WeChat sends it.
func TestCaseFlowThroughWebhook(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate})
	s := w.serve("A", "")
	const member = "o-cf-flow-member"
	fake := w.fake

	if r := s.post(cfSubscribe(member, cfXinzhou)); !strings.Contains(r, "欢迎") {
		t.Fatalf("subscribe by the 新州 QR code → %q, want the welcome", r)
	}
	answer := s.say(member, "老板拖欠工资三个月了")
	n := cfNumber(t, answer)
	if !strings.Contains(answer, "新州镇计生协") {
		t.Errorf("help → %q, want it to say the case went to 新州镇计生协", answer)
	}

	// The director's alert: the template, with the case number.
	w.eventually(20*time.Second, "the alert reaches the 新州 director", func() bool {
		return cfGot(fake, cfXinzhouDirector, n) >= 1
	})
	for _, c := range fake.Calls(cfTemplatePath) {
		if cfTo(c) == cfXinzhouDirector {
			if id, _ := c.JSON["template_id"].(string); id != cfAlertTemplate {
				t.Errorf("alert template_id = %q, want %q", id, cfAlertTemplate)
			}
			if words := cfWords(c); !strings.Contains(words, "欠薪") || !strings.Contains(words, "老板拖欠工资三个月了") {
				t.Errorf("alert reads %q, want the category 欠薪 and the member's words", words)
			}
		}
	}

	num := strconv.FormatInt(n, 10)
	if r := s.say(cfXinzhouDirector, "接 "+num); !strings.Contains(r, "你已受理编号"+num) {
		t.Errorf("接 %d → %q, want 你已受理编号%d", n, r, n)
	}
	w.eventually(20*time.Second, "the member hears the case was accepted", func() bool {
		return cfCalls(fake, cfCSPath, member, cfSaying("已受理")).got == 1
	})
	if r := s.say(cfXinzhouDirector, "回 "+num+" 明天上午给你打电话"); !strings.Contains(r, "已发给会员（编号"+num+"）") {
		t.Errorf("回 %d … → %q, want 已发给会员（编号%d）", n, r, n)
	}
	w.eventually(20*time.Second, "the director's reply reaches the member", func() bool {
		return cfCalls(fake, cfCSPath, member, cfSaying("明天上午给你打电话")).got == 1
	})
	if words := cfWords(cfFirst(fake, cfCSPath, member, "明天上午给你打电话")); !strings.Contains(words, "示例况会长回复") ||
		!strings.Contains(words, "编号"+num) {
		t.Errorf("the member reads %q, want who replied about which case", words)
	}

	// The member answers: it goes on the case and on to the director.
	// (Not "好的谢谢，我等你电话": the bot reads 电话 as asking for the
	// branch's phone number, and 好的谢谢 as a greeting, and answers those
	// instead of passing the words on.)
	const more = "老板说下周才给钱，我等你消息"
	if r := s.say(member, more); !strings.Contains(r, "已转给负责人示例况会长（编号"+num+"）") {
		t.Errorf("the member's %q → %q, want it passed on to 示例况会长", more, r)
	}
	w.eventually(20*time.Second, "the member's words reach the director", func() bool {
		return cfCalls(fake, cfCSPath, cfXinzhouDirector, cfSaying(more)).got == 1
	})
	if c := cfFirst(fake, cfCSPath, cfXinzhouDirector, more); !cfAbout(c, n) {
		t.Errorf("the relay %q does not name case %d", cfWords(c), n)
	}

	if r := s.say(cfXinzhouDirector, "结 "+num+" 已协调老板付清工资"); !strings.Contains(r, "编号"+num+"已结案") {
		t.Errorf("结 %d … → %q, want 编号%d已结案", n, r, n)
	}
	w.eventually(20*time.Second, "the member gets the close notice with the rating question", func() bool {
		return cfCalls(fake, cfCSPath, member, cfSaying("已结案：已协调老板付清工资")).got == 1
	})
	if words := cfWords(cfFirst(fake, cfCSPath, member, "已结案")); !strings.Contains(words, "满意请回复 1") ||
		!strings.Contains(words, "编号"+num) {
		t.Errorf("close notice = %q, want the case number and the rating question", words)
	}
	if r := s.say(member, "1"); !strings.Contains(r, "谢谢你的评价") {
		t.Errorf("rating 1 → %q, want the thanks", r)
	}

	// Every message once: one alert, and each of the member's three
	// notices and the relay exactly once.
	w.eventually(20*time.Second, "the outbox is empty", func() bool { return s.busy() == 0 })
	if alerts := cfCalls(fake, cfTemplatePath, cfXinzhouDirector, cfAboutCase(n)); alerts.got != 1 || alerts.tried != 1 {
		t.Errorf("alerts to the director = %+v, want one, taken", alerts)
	}
	if got := cfCalls(fake, cfCSPath, member, nil); got.got != 4 || got.tried != 4 {
		t.Errorf("customer-service messages to the member = %+v, want 4 (the consent question after the welcome, accepted, reply, closed)", got)
	}
	for _, dir := range cfCountyDirectors {
		if got := cfGot(fake, dir, n); got != 0 {
			t.Errorf("county director %s got %d messages about case %d, want none", dir, got, n)
		}
	}

	// The case's log, in order, with who did each.
	acts := s.actions(n)
	want := []cfAction{
		{Action: bot.ActionOpened, Actor: member}, {Action: bot.ActionAlerted, Actor: bot.ActorBot},
		{Action: bot.ActionAccepted, Actor: cfXinzhouDirector}, {Action: bot.ActionReply, Actor: cfXinzhouDirector},
		{Action: bot.ActionMessage, Actor: member}, {Action: bot.ActionRelayed, Actor: bot.ActorBot},
		{Action: bot.ActionClosed, Actor: cfXinzhouDirector}, {Action: bot.ActionRated, Actor: member},
	}
	if len(acts) != len(want) {
		t.Fatalf("case %d's log = %+v\nwant the actions %v", n, acts, cfActionNames(want))
	}
	for i := range want {
		if acts[i].Action != want[i].Action || acts[i].Actor != want[i].Actor {
			t.Errorf("log[%d] = %s by %s, want %s by %s", i, acts[i].Action, acts[i].Actor, want[i].Action, want[i].Actor)
		}
	}
	for i, text := range map[int]string{0: "老板拖欠工资三个月了", 3: "明天上午给你打电话", 4: more, 6: "已协调老板付清工资", 7: "1"} {
		if acts[i].Text != text {
			t.Errorf("log[%d] (%s) text = %q, want %q", i, acts[i].Action, acts[i].Text, text)
		}
	}

	// The member's copy of their data has the case and its log.
	out := mustRun(t, map[string]string{"DATABASE_URL": w.vars["DATABASE_URL"]}, "", "export", "--openid", member)
	var ex struct {
		Cases []struct {
			Number   int64  `json:"number"`
			Status   string `json:"status"`
			Category string `json:"category"`
			Branch   string `json:"branch"`
			Rating   int    `json:"rating"`
			Actions  []struct {
				Action string `json:"action"`
				Actor  string `json:"actor"`
			} `json:"actions"`
		} `json:"cases"`
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("export printed %q: %v", out, err)
	}
	if len(ex.Cases) != 1 {
		t.Fatalf("export has %d cases, want 1:\n%s", len(ex.Cases), out)
	}
	k := ex.Cases[0]
	if k.Number != n || k.Status != bot.CaseClosed || k.Category != bot.CategoryWages || k.Branch != cfXinzhou || k.Rating != 1 {
		t.Errorf("exported case = number %d, %s, %s, %s, rating %d; want %d, closed, wages, %s, rating 1",
			k.Number, k.Status, k.Category, k.Branch, k.Rating, n, cfXinzhou)
	}
	wantActors := []string{"member", "bot", "director", "director", "member", "bot", "director", "member"}
	var gotActions, gotActors []string
	for _, a := range k.Actions {
		gotActions, gotActors = append(gotActions, a.Action), append(gotActors, a.Actor)
	}
	if !slices.Equal(gotActions, cfActionNames(want)) || !slices.Equal(gotActors, wantActors) {
		t.Errorf("exported actions = %v by %v\nwant %v by %v", gotActions, gotActors, cfActionNames(want), wantActors)
	}
	if strings.Contains(out, cfXinzhouDirector) {
		t.Errorf("the member's export names the director's openid:\n%s", out)
	}
}

// cfFirst is the first call to path for to whose words contain words.
func cfFirst(fake *wxtest.FakeAPI, path, to, words string) wxtest.Call {
	for _, c := range fake.Calls(path) {
		if cfTo(c) == to && strings.Contains(cfWords(c), words) {
			return c
		}
	}
	return wxtest.Call{}
}

// 2a. WeChat failing the alert in each way it can: what the director and
// the county end up with.
func TestCaseFaultsOnAlert(t *testing.T) {
	t.Parallel()
	type row struct {
		name string
		// windowOpen: the director wrote to the bot before the case, so a
		// customer-service message can reach them.
		windowOpen bool
		inject     func(f *wxtest.FakeAPI)
		// slow: the injection is a delay on every call; it is lifted once
		// the alert's call has arrived, so the county's are answered.
		slow bool

		tpl, cs    cfCount // the director's template and customer-service calls about the case
		county     bool    // the county directors are each told once
		status     string  // the alert row at the end
		reason     string
		channel    string
		tokenFresh bool // the access token was fetched again
	}
	rows := []row{
		{name: "45009 rate limit is retried later", inject: func(f *wxtest.FakeAPI) { f.FailNext(cfTemplatePath, 45009, 1) },
			tpl: cfCount{2, 1}, status: bot.OutboxSent, channel: bot.ChannelTemplate},
		{name: "40001 bad token is fetched again", inject: func(f *wxtest.FakeAPI) { f.FailNext(cfTemplatePath, 40001, 1) },
			tpl: cfCount{2, 1}, status: bot.OutboxSent, channel: bot.ChannelTemplate, tokenFresh: true},
		{name: "43004 director unsubscribed", windowOpen: true,
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfTemplatePath, 43004, 1) },
			tpl:    cfCount{1, 0}, county: true, status: bot.OutboxFailed, reason: bot.FailedUnsubscribed, channel: bot.ChannelTemplate},
		{name: "40037 invalid template, window open: customer-service instead", windowOpen: true,
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfTemplatePath, 40037, 1) },
			tpl:    cfCount{1, 0}, cs: cfCount{1, 1}, status: bot.OutboxSent, channel: bot.ChannelCustomerService},
		{name: "40037 invalid template, window closed: county told",
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfTemplatePath, 40037, 1) },
			tpl:    cfCount{1, 0}, county: true, status: bot.OutboxFailed, reason: bot.FailedOutsideWindow, channel: bot.ChannelCustomerService},
		{name: "5xx is not sent again", windowOpen: true,
			inject: func(f *wxtest.FakeAPI) { f.Status5xx(cfTemplatePath, 1) },
			tpl:    cfCount{1, 0}, county: true, status: bot.OutboxFailed, reason: bot.FailedUncertain, channel: bot.ChannelTemplate},
		// The client gives up after wxapi's fixed 10 s request timeout
		// (the sender's own SendTimeout is 20 s): this row takes 10 s.
		{name: "timeout is not sent again", windowOpen: true, slow: true,
			inject: func(f *wxtest.FakeAPI) { f.Delay(cfTemplatePath, 15*time.Second) },
			tpl:    cfCount{1, 0}, county: true, status: bot.OutboxFailed, reason: bot.FailedUncertain, channel: bot.ChannelTemplate},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newCFWorld(t, map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate})
			s := w.serve("A", "")
			fake := w.fake
			if tc.windowOpen {
				if r := s.say(cfXinzhouDirector, "帮助"); !strings.Contains(r, "负责人命令") {
					t.Fatalf("director's 帮助 → %q, want the commands", r)
				}
			}
			fetches := fake.TokenFetches()
			tc.inject(fake)
			const member = "o-cf-alert-member"
			n := s.openCase(member, cfXinzhou, "老板拖欠工资三个月了")
			if tc.slow {
				w.eventually(20*time.Second, "the alert's call arrives", func() bool {
					return cfCalls(fake, cfTemplatePath, cfXinzhouDirector, nil).tried == 1
				})
				fake.Delay(cfTemplatePath, 0) // later calls, the county's, are answered at once
			}

			within := 20 * time.Second
			if tc.slow {
				within = 40 * time.Second
			}
			w.eventually(within, "the alert's fate is settled", func() bool {
				rs := s.rows(n, bot.KindAlert)
				if len(rs) != 1 || (rs[0].Status != bot.OutboxSent && rs[0].Status != bot.OutboxFailed) {
					return false
				}
				if tc.county {
					for _, dir := range cfCountyDirectors {
						if cfGot(fake, dir, n) == 0 {
							return false
						}
					}
				}
				return s.busy() == 0
			})

			rs := s.rows(n, bot.KindAlert)
			if r := rs[0]; r.OpenID != cfXinzhouDirector || r.Status != tc.status || r.Reason != tc.reason || r.Channel != tc.channel {
				t.Errorf("alert row = %+v, want to %s, %s %q on %s", r, cfXinzhouDirector, tc.status, tc.reason, tc.channel)
			}
			// What the director noticed.
			if got := cfCalls(fake, cfTemplatePath, cfXinzhouDirector, cfAboutCase(n)); got != tc.tpl {
				t.Errorf("template alerts to the director: %d tried, %d taken; want %d, %d",
					got.tried, got.got, tc.tpl.tried, tc.tpl.got)
			}
			if got := cfCalls(fake, cfCSPath, cfXinzhouDirector, cfAboutCase(n)); got != tc.cs {
				t.Errorf("customer-service alerts to the director: %d tried, %d taken; want %d, %d",
					got.tried, got.got, tc.cs.tried, tc.cs.got)
			}
			if got := cfGot(fake, cfXinzhouDirector, n); got > 1 {
				t.Errorf("the director got the alert %d times", got)
			}
			// What the county noticed.
			for _, dir := range cfCountyDirectors {
				got := cfGot(fake, dir, n)
				switch {
				case tc.county && got != 1:
					t.Errorf("county director %s told %d times about case %d, want once", dir, got, n)
				case !tc.county && got != 0:
					t.Errorf("county director %s told %d times about case %d, want never: the branch got it", dir, got, n)
				}
			}
			if tc.county {
				c := cfFirst(fake, cfTemplatePath, cfCounty1, "")
				if !cfAbout(c, n) {
					t.Errorf("the county's notice %q does not name case %d", cfWords(c), n)
				}
				if !slices.Contains(cfActionNames(s.actions(n)), bot.ActionUnreached) {
					t.Errorf("case %d's log %v has no %s", n, cfActionNames(s.actions(n)), bot.ActionUnreached)
				}
			}
			// What the member noticed: the number in the answer, nothing
			// more (besides the welcome's consent question).
			notConsent := func(c wxtest.Call) bool { return !strings.Contains(cfWords(c), "回复「同意」") }
			if got := cfCalls(fake, cfCSPath, member, notConsent).tried + cfCalls(fake, cfTemplatePath, member, nil).tried; got != 0 {
				t.Errorf("the member got %d messages, want none", got)
			}
			if tc.tokenFresh {
				forced := false
				for _, c := range fake.Calls("/cgi-bin/stable_token") {
					if f, _ := c.JSON["force_refresh"].(bool); f {
						forced = true
					}
				}
				if fake.TokenFetches()-fetches < 1 || !forced {
					t.Errorf("after 40001 the token was fetched %d more times (forced: %v), want a forced refresh",
						fake.TokenFetches()-fetches, forced)
				}
			}
		})
	}
}

// 2b. WeChat failing a director's reply to the member.
func TestCaseFaultsOnReply(t *testing.T) {
	t.Parallel()
	const words = "明天上午给你打电话"
	type row struct {
		name   string
		update bool // WECHAT_TEMPLATE_CASE_UPDATE is configured
		inject func(f *wxtest.FakeAPI)

		cs       cfCount // customer-service messages to the member with the words
		tpl      int     // update templates the member got about the case
		told     string  // what the clock tells the director, "" for nothing
		status   string  // the reply row at the end
		reason   string
		viaTempl bool // the row ended on the template channel
	}
	rows := []row{
		{name: "45015 outside window, update template", update: true,
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfCSPath, 45015, 1) },
			cs:     cfCount{1, 0}, tpl: 1, status: bot.OutboxSent, viaTempl: true},
		{name: "45015 outside window, no update template",
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfCSPath, 45015, 1) },
			cs:     cfCount{1, 0}, told: "没能送达（会员超过48小时没发消息）", status: bot.OutboxFailed, reason: bot.FailedOutsideWindow},
		{name: "45047 customer-service limit, update template", update: true,
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfCSPath, 45047, 1) },
			cs:     cfCount{1, 0}, tpl: 1, status: bot.OutboxSent, viaTempl: true},
		{name: "45047 customer-service limit, no update template",
			inject: func(f *wxtest.FakeAPI) { f.FailNext(cfCSPath, 45047, 1) },
			cs:     cfCount{1, 0}, told: "没能送达（超过了微信的客服消息条数限制）", status: bot.OutboxFailed, reason: bot.FailedCSLimit},
		{name: "5xx is retried and delivered once",
			inject: func(f *wxtest.FakeAPI) { f.Status5xx(cfCSPath, 1) },
			cs:     cfCount{2, 1}, status: bot.OutboxSent},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate}
			if tc.update {
				extra["WECHAT_TEMPLATE_CASE_UPDATE"] = cfUpdateTemplate
			}
			w := newCFWorld(t, extra)
			s := w.serve("A", "")
			fake := w.fake
			const member = "o-cf-reply-member"
			n := s.openCase(member, cfXinzhou, "老板拖欠工资三个月了")
			w.eventually(20*time.Second, "the alert reaches the director", func() bool {
				return cfGot(fake, cfXinzhouDirector, n) == 1
			})
			tc.inject(fake)
			num := strconv.FormatInt(n, 10)
			if r := s.say(cfXinzhouDirector, "回 "+num+" "+words); !strings.Contains(r, "已发给会员（编号"+num+"）") {
				t.Fatalf("回 %d … → %q, want 已发给会员", n, r)
			}

			w.eventually(20*time.Second, "the reply's fate is settled", func() bool {
				rs := s.rows(n, bot.KindCaseReply)
				if len(rs) != 1 || (rs[0].Status != bot.OutboxSent && rs[0].Status != bot.OutboxFailed) {
					return false
				}
				if tc.told != "" && cfCalls(fake, cfCSPath, cfXinzhouDirector, cfSaying("没能送达")).got == 0 {
					return false
				}
				return s.busy() == 0
			})

			r := s.rows(n, bot.KindCaseReply)[0]
			wantChannel := bot.ChannelCustomerService
			if tc.viaTempl {
				wantChannel = bot.ChannelTemplate
			}
			if r.Status != tc.status || r.Reason != tc.reason || r.Channel != wantChannel {
				t.Errorf("reply row = %+v, want %s %q on %s", r, tc.status, tc.reason, wantChannel)
			}
			// What the member noticed.
			if got := cfCalls(fake, cfCSPath, member, cfSaying(words)); got != tc.cs {
				t.Errorf("customer-service replies to the member: %d tried, %d taken; want %d, %d",
					got.tried, got.got, tc.cs.tried, tc.cs.got)
			}
			var updates []wxtest.Call
			for _, c := range fake.Calls(cfTemplatePath) {
				if cfTo(c) == member && cfOK(c) {
					updates = append(updates, c)
				}
			}
			if len(updates) != tc.tpl {
				t.Errorf("the member got %d update templates, want %d", len(updates), tc.tpl)
			}
			// The template's short field carries the director's own words.
			for _, c := range updates {
				if id, _ := c.JSON["template_id"].(string); id != cfUpdateTemplate || !cfAbout(c, n) ||
					!strings.Contains(cfWords(c), words) {
					t.Errorf("update template = %s %q, want %s about case %d with the reply", id, cfWords(c), cfUpdateTemplate, n)
				}
			}
			// What the director noticed.
			told := cfCalls(fake, cfCSPath, cfXinzhouDirector, cfSaying("没能送达"))
			switch {
			case tc.told == "" && told.tried != 0:
				t.Errorf("the director was told %d times the reply did not arrive, but it did", told.tried)
			case tc.told != "" && told.got != 1:
				t.Errorf("the director was told %d times the reply did not arrive, want once", told.got)
			case tc.told != "":
				c := cfFirst(fake, cfCSPath, cfXinzhouDirector, "没能送达")
				if !strings.Contains(cfWords(c), tc.told) || !cfAbout(c, n) {
					t.Errorf("the director reads %q, want %q about case %d", cfWords(c), tc.told, n)
				}
			}
			if got := cfCalls(fake, cfTemplatePath, cfXinzhouDirector, nil).got; got != 1 {
				t.Errorf("the director got %d templates, want only the alert", got)
			}
		})
	}
}

// cfGate stands between one serve process and the fake WeChat API. The
// first template call to hold is kept waiting until its sender gives up
// (the process is shutting down), and then handed to the fake all the same:
// WeChat took the message, the sender never heard.
type cfGate struct {
	name    string
	next    http.Handler
	held    *atomic.Bool // shared by the gates: one call is held in all
	hold    string       // the openid whose first template call is held
	arrived chan string  // the name of the gate that holds it
	calls   atomic.Int64 // template calls through this gate
}

func (g *cfGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if r.URL.Path != cfTemplatePath {
		g.next.ServeHTTP(w, r)
		return
	}
	g.calls.Add(1)
	var m struct {
		ToUser string `json:"touser"`
	}
	_ = json.Unmarshal(body, &m)
	if m.ToUser != g.hold || !g.held.CompareAndSwap(false, true) {
		g.next.ServeHTTP(w, r)
		return
	}
	g.arrived <- g.name
	<-r.Context().Done()
	late := r.Clone(context.Background())
	late.Body = io.NopCloser(bytes.NewReader(body))
	g.next.ServeHTTP(httptest.NewRecorder(), late)
}

// 3. Two serve processes on one schema: every alert reaches each of its
// directors once, also when one process stops in the middle of a send.
func TestTwoServeProcessesNeverAlertTwice(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate})
	held := &atomic.Bool{}
	arrived := make(chan string, 2)
	var gates []*cfGate
	var servers []*cfServer
	for _, name := range []string{"A", "B"} {
		g := &cfGate{name: name, next: w.fake, held: held, hold: cfZhebaoDirector, arrived: arrived}
		srv := httptest.NewServer(g)
		t.Cleanup(srv.Close)
		gates = append(gates, g)
		servers = append(servers, w.serve(name, srv.URL))
	}
	kb, err := servers[0].a.st.LoadKnowledge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	directorsOf := map[string][]string{}
	for _, b := range kb.Branches {
		for _, d := range b.Directors {
			directorsOf[b.ID] = append(directorsOf[b.ID], d.OpenID)
		}
	}
	// One member at 者保, whose director's first alert is held; the rest
	// spread over branches with one or two directors.
	branches := []string{cfXinzhou, "longlin-tianshengqiao", "dushan-fenghuang", "longshan-coal",
		"industrial-park", "zhaodi-jinlong", "puping-xinjie", "longshan-hongfa"}
	const members = 30
	const victim = 7
	type member struct {
		openID, branch string
		server         *cfServer
		number         int64
	}
	ms := make([]*member, members)
	for i := range ms {
		b := branches[i%len(branches)]
		if i == victim {
			b = cfZhebao
		}
		ms[i] = &member{openID: fmt.Sprintf("o-cf-two-%02d", i), branch: b, server: servers[i%2]}
	}
	var wg sync.WaitGroup
	errs := make(chan error, members)
	sem := make(chan struct{}, 6)
	for _, m := range ms {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, _, err := m.server.tryPost(cfSubscribe(m.openID, m.branch)); err != nil {
				errs <- err
				return
			}
			answer, _, err := m.server.tryPost(cfText(m.openID, "老板拖欠工资三个月了，一分钱都没给"))
			if err != nil {
				errs <- err
				return
			}
			g := cfNumberRE.FindStringSubmatch(answer)
			if g == nil {
				errs <- fmt.Errorf("%s's help → %q, want a case number", m.openID, answer)
				return
			}
			m.number, _ = strconv.ParseInt(g[1], 10, 64)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The process whose sender holds the 者保 alert stops mid-send.
	var stopping string
	select {
	case stopping = <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("the 者保 alert never reached the API\n%s", cfDump(w.fake))
	}
	var survivor *cfServer
	for _, s := range servers {
		if s.name == stopping {
			if err := s.a.shutdown(); err != nil {
				t.Errorf("shutting %s down: %v", s.name, err)
			}
		} else {
			survivor = s
		}
	}
	v := ms[victim]

	w.eventually(45*time.Second, "every alert is delivered and the county told about the one cut off", func() bool {
		for _, m := range ms {
			if m == v {
				continue
			}
			for _, d := range directorsOf[m.branch] {
				if cfGot(w.fake, d, m.number) == 0 {
					return false
				}
			}
		}
		for _, d := range cfCountyDirectors {
			if cfGot(w.fake, d, v.number) == 0 {
				return false
			}
		}
		return survivor.busy() == 0
	})

	numbers := map[int64]bool{}
	for _, m := range ms {
		if numbers[m.number] {
			t.Errorf("case number %d given twice", m.number)
		}
		numbers[m.number] = true
		for _, d := range directorsOf[m.branch] {
			tried := cfCalls(w.fake, cfTemplatePath, d, cfAboutCase(m.number)).tried +
				cfCalls(w.fake, cfCSPath, d, cfAboutCase(m.number)).tried
			got := cfGot(w.fake, d, m.number)
			switch {
			case m == v && (got > 1 || tried > 1):
				t.Errorf("case %d (cut off): director %s got %d of %d calls, want at most one", m.number, d, got, tried)
			case m != v && (got != 1 || tried != 1):
				t.Errorf("case %d: director %s got %d of %d calls, want exactly one", m.number, d, got, tried)
			}
		}
		for _, d := range cfCountyDirectors {
			got := cfGot(w.fake, d, m.number)
			switch {
			case m == v && got != 1:
				t.Errorf("case %d (cut off): county director %s told %d times, want once", m.number, d, got)
			case m != v && got != 0:
				t.Errorf("case %d: county director %s told %d times, want never", m.number, d, got)
			}
		}
	}
	if rs := survivor.rows(v.number, bot.KindAlert); len(rs) != 1 || rs[0].Status != bot.OutboxFailed || rs[0].Reason != bot.FailedUncertain {
		t.Errorf("the cut-off alert's rows = %+v, want one failed %s", rs, bot.FailedUncertain)
	}
	// Never twice, for anyone, about anything.
	seen := map[string]int{}
	for _, c := range append(w.fake.Calls(cfTemplatePath), w.fake.Calls(cfCSPath)...) {
		if !cfOK(c) {
			continue
		}
		for n := range numbers {
			if cfAbout(c, n) {
				seen[cfTo(c)+" about "+strconv.FormatInt(n, 10)]++
			}
		}
	}
	keys := slices.Collect(maps.Keys(seen))
	sort.Strings(keys)
	for _, k := range keys {
		if seen[k] > 1 {
			t.Errorf("%s: %d messages", k, seen[k])
		}
	}
	t.Logf("template calls through A: %d, through B: %d; %s stopped mid-send", gates[0].calls.Load(), gates[1].calls.Load(), stopping)
}
