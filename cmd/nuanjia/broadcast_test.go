package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
)

// newYearsEve is 23:30 on the coming 31 December in Beijing, as --at takes it.
func newYearsEve(t *testing.T) (at string, year int) {
	t.Helper()
	now := time.Now().In(reportZone())
	year = now.Year()
	if time.Date(year, 12, 31, 23, 0, 0, 0, reportZone()).Before(now) {
		year++
	}
	return fmt.Sprintf("%d-12-31 23:30", year), year
}

// broadcastIDOf reads the id `broadcast add` printed.
func broadcastIDOf(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`^broadcast (\d+) scheduled`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("broadcast add printed %q", out)
	}
	return m[1]
}

// Staff schedule 新州镇's December broadcasts from the command line: the
// fifth of the month is refused, naming the month and the count, one at
// 00:30 on New Year's Day is January's; cancelling one makes room again,
// and list and show say what there is.
func TestBroadcastAddRefusedOverTheMonthlyLimit(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	eve, year := newYearsEve(t)
	add := func(at string, extra ...string) (string, error) {
		args := append([]string{"broadcast", "add", "--at", at, "--branch", "longlin-xinzhou", "--actor", "li", "--text", "春节返乡政策提醒"}, extra...)
		out, _, err := nuanjia(t, vars, "", args...)
		return out, err
	}
	var ids []string
	for i := range 4 {
		out, err := add(eve, "--preview-to", fmt.Sprintf("o-staff-%d", i))
		if err != nil {
			t.Fatalf("broadcast %d of December: %v", i+1, err)
		}
		ids = append(ids, broadcastIDOf(t, out))
	}
	_, err := add(eve)
	want := fmt.Sprintf("%d年12月 新州镇计生协的会员已有4条群发，上限4条", year)
	if err == nil || err.Error() != want {
		t.Fatalf("the 5th of December: %v, want %q", err, want)
	}
	// To every branch: 新州镇's members are among them.
	if _, _, err := nuanjia(t, vars, "", "broadcast", "add", "--at", eve, "--actor", "li", "--text", "全县通知"); err == nil || err.Error() != want {
		t.Errorf("to every branch: %v, want %q", err, want)
	}
	// Another Longlin branch has room.
	if _, _, err := nuanjia(t, vars, "", "broadcast", "add", "--at", eve, "--branch", "longlin-zhebao", "--actor", "li", "--text", "通知"); err != nil {
		t.Errorf("者保's first of December: %v", err)
	}
	if _, err := add(fmt.Sprintf("%d-01-01 00:30", year+1)); err != nil {
		t.Errorf("00:30 on 1 January refused: %v", err)
	}

	list := mustRun(t, vars, "", "broadcast", "list")
	if n := strings.Count(list, "scheduled"); n != 6 {
		t.Errorf("list shows %d scheduled, want 6:\n%s", n, list)
	}
	if !strings.Contains(list, "longlin-xinzhou") || !strings.Contains(list, "春节返乡政策提醒") {
		t.Errorf("list does not show the audience and text:\n%s", list)
	}
	show := mustRun(t, vars, "", "broadcast", "show", ids[0])
	for _, s := range []string{"scheduled", eve, "longlin-xinzhou", "o-staff-0", "staff:li", "春节返乡政策提醒"} {
		if !strings.Contains(show, s) {
			t.Errorf("show lacks %q:\n%s", s, show)
		}
	}

	if out := mustRun(t, vars, "", "broadcast", "cancel", ids[1]); !strings.Contains(out, "cancelled") {
		t.Errorf("cancel printed %q", out)
	}
	if _, _, err := nuanjia(t, vars, "", "broadcast", "cancel", ids[1]); err == nil || !strings.Contains(err.Error(), "cancelled already") {
		t.Errorf("cancelling twice: %v", err)
	}
	if _, err := add(eve); err != nil {
		t.Errorf("after a cancel, December's 4th refused: %v", err)
	}
}

// Bad input gets a short error naming what is wrong, and schedules nothing.
func TestBroadcastAddBadInput(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	eve, _ := newYearsEve(t)
	long := filepath.Join(t.TempDir(), "long.txt")
	if err := os.WriteFile(long, []byte(strings.Repeat("政", 601)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--at", eve}, "the text is empty"},
		{[]string{"--at", eve, "--text", "  "}, "the text is empty"},
		{[]string{"--at", eve, "--file", long}, "601 characters"},
		{[]string{"--at", eve, "--file", "/nonexistent/x.txt"}, "--file"},
		{[]string{"--at", eve, "--text", "x", "--file", long}, "not both"},
		{[]string{"--at", "明天早上", "--text", "x"}, "want a time such as"},
		{[]string{"--at", "2020-01-01 09:00", "--text", "x"}, "in the past"},
		{[]string{"--at", eve, "--text", "x", "--every", "every monday"}, "cron expression"},
		{[]string{"--at", eve, "--text", "x", "--branch", "nowhere"}, `no branch "nowhere"`},
		{[]string{"--at", eve, "--text", "x", "--preview-to", "o staff"}, "--preview-to"},
	} {
		args := append([]string{"broadcast", "add", "--actor", "li"}, c.args...)
		_, _, err := nuanjia(t, vars, "", args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if list := mustRun(t, vars, "", "broadcast", "list"); strings.Count(list, "\n") != 1 {
		t.Errorf("bad input scheduled something:\n%s", list)
	}
	for _, args := range [][]string{{"broadcast", "show", "x"}, {"broadcast", "show", "999"}, {"broadcast", "cancel", "999"}, {"broadcast"}, {"broadcast", "send"}} {
		if _, _, err := nuanjia(t, vars, "", args...); err == nil {
			t.Errorf("%s succeeded", strings.Join(args, " "))
		}
	}
}

// list shows WeChat's figures from the MASSSENDJOBFINISH report of a sent
// broadcast's job, and "-" for one with no report yet.
func TestBroadcastListShowsWeChatsFigures(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	eve, _ := newYearsEve(t)
	id := broadcastIDOf(t, mustRun(t, vars, "", "broadcast", "add", "--at", eve, "--branch", "longlin-xinzhou", "--actor", "li", "--text", "政策提醒"))
	mustRun(t, vars, "", "broadcast", "add", "--at", eve, "--branch", "longlin-zhebao", "--actor", "li", "--text", "另一条")
	st, err := openStore(t.Context(), env{getenv: func(k string) string { return vars[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// As the scheduler leaves it after WeChat took the job.
	if _, err := st.DB().Exec(`UPDATE broadcasts SET status = 'sent' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`INSERT INTO broadcast_sends (broadcast_id, branch_id, tag_id, client_msg_id, msg_id, sent_at)
		VALUES ($1, 'longlin-xinzhou', 101, 'nuanjia-b1-t101', 3162228393, now())`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordJob(t.Context(), bot.Inbound{OpenID: "gh_demo", Type: bot.TypeEvent, Event: bot.EventMassSendDone,
		MsgID: 3162228393, At: time.Now(), DedupeKey: "j:MASSSENDJOBFINISH:3162228393",
		Job: bot.JobReport{Status: "send success", Total: 120, Filtered: 118, Sent: 117, Errors: 1}}); err != nil {
		t.Fatal(err)
	}
	list := mustRun(t, vars, "", "broadcast", "list")
	var sent, other string
	for _, l := range strings.Split(list, "\n") {
		switch {
		case strings.HasPrefix(l, id+" "):
			sent = l
		case strings.Contains(l, "另一条"):
			other = l
		}
	}
	if f := strings.Fields(sent); len(f) < 11 || f[3] != "sent" || f[6] != "120" || f[7] != "118" || f[8] != "117" || f[9] != "1" {
		t.Errorf("the sent broadcast's line %q, want sent 120 118 117 1:\n%s", sent, list)
	}
	if f := strings.Fields(other); len(f) < 11 || f[6] != "-" {
		t.Errorf("the other's line %q, want no figures yet", other)
	}
	show := mustRun(t, vars, "", "broadcast", "show", id)
	if !strings.Contains(show, "3162228393") || !strings.Contains(show, "nuanjia-b1-t101") {
		t.Errorf("show lacks the send's msg_id and clientmsgid:\n%s", show)
	}
}

// Two serve processes on one database: a broadcast staff schedule for the
// three Longlin branches goes out once, to those branches' tags only, and
// not to the member who wrote 不要推送 to the bot.
func TestServeSendsLonglinBroadcastOnce(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, map[string]string{"BROADCAST_SCHEDULER_EVERY": "200ms", "TAG_SYNC_EVERY": "200ms"})
	a := w.serve("a", "")
	w.serve("b", "")
	db := a.a.st.DB()
	for openID, branch := range map[string]string{"o-xz-1": cfXinzhou, "o-xz-out": cfXinzhou, "o-zb-1": cfZhebao,
		"o-tsq-1": "longlin-tianshengqiao", "o-park-1": "industrial-park"} {
		if _, err := db.Exec(`INSERT INTO members (openid, first_seen, last_seen, branch_id) VALUES ($1, now(), now(), $2)`, openID, branch); err != nil {
			t.Fatal(err)
		}
	}
	if reply := a.say("o-xz-out", "不要推送"); !strings.Contains(reply, "不再") {
		t.Fatalf("不要推送 answered %q", reply)
	}
	now := time.Now().In(reportZone()).Format("2006-01-02 15:04")
	mustRun(t, w.vars, "", "broadcast", "add", "--at", now, "--branch", cfXinzhou, "--branch", cfZhebao,
		"--branch", "longlin-tianshengqiao", "--actor", "li", "--text", "春节返乡“五个一”服务开始了")

	deadline := time.Now().Add(15 * time.Second)
	for len(w.fake.MassSends()) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // rounds of both processes go on meanwhile
	sends := w.fake.MassSends()
	if len(sends) != 3 || len(w.fake.Calls("message/mass/sendall")) != 3 {
		t.Fatalf("%d jobs from %d calls, want 3 from 3 (one per Longlin branch)", len(sends), len(w.fake.Calls("message/mass/sendall")))
	}
	var got []string
	for _, s := range sends {
		got = append(got, s.Recipients...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"o-tsq-1", "o-xz-1", "o-zb-1"}) {
		t.Errorf("reached %v, want the Longlin members who did not opt out, once each", got)
	}
	if list := mustRun(t, w.vars, "", "broadcast", "list"); !strings.Contains(list, " sent ") {
		t.Errorf("list after sending:\n%s", list)
	}
}
