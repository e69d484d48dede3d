package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cliDirector is the openid staff make a director in these tests.
const cliDirector = "o-cli-director"

// directorLine is the line of `director list` for openID on branch, "" if none.
func directorLine(list, branch, openID string) string {
	for _, l := range strings.Split(list, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == branch && f[2] == openID {
			return l
		}
	}
	return ""
}

// Staff make someone Zhebao's director from the command line: a serve
// started afterwards alerts them and takes their commands, an import of
// the file in between keeps them, and once removed a running serve stops
// taking their commands after its next reload.
func TestDirectorAddedFromTheCLIActsUntilRemoved(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, nil)
	out := mustRun(t, w.vars, "", "director", "add", "--openid", cliDirector, "--branch", cfZhebao, "--name", "示例新主任", "--actor", "li")
	if !strings.Contains(out, "added "+cliDirector) {
		t.Errorf("director add printed %q, want it to say the director was added", out)
	}
	mustRun(t, w.vars, "", "import", demoKB)
	list := mustRun(t, w.vars, "", "director", "list")
	line := directorLine(list, cfZhebao, cliDirector)
	if line == "" || !strings.Contains(line, "示例新主任") || !strings.Contains(line, "branch") || !strings.Contains(line, "cli (staff:li)") {
		t.Errorf("after a re-import, director list shows %q for %s, want name, branch role and cli (staff:li):\n%s", line, cliDirector, list)
	}
	if line := directorLine(list, "county", cfCounty1); !strings.Contains(line, "county") || !strings.Contains(line, "kb") {
		t.Errorf("director list shows %q for the county's director, want county and kb", line)
	}

	s := w.serve("a", "")
	n := s.openCase("o-zhebao-member", cfZhebao, "老板三个月不给工钱")
	// Alerted with Zhebao's own director (outside WeChat's window, with no
	// template configured, it stays an outbox row).
	var alerts int
	if err := s.a.st.DB().Get(&alerts, `SELECT count(*) FROM outbox o JOIN cases c ON c.id = o.case_id
		WHERE c.number = $1 AND o.kind = 'alert' AND o.openid = $2`, n, cliDirector); err != nil || alerts != 1 {
		t.Errorf("%d alerts of case %d for the CLI's director (%v), want 1", alerts, n, err)
	}
	if reply := s.say(cliDirector, fmt.Sprintf("接 %d", n)); !strings.Contains(reply, fmt.Sprintf("你已受理编号%d", n)) {
		t.Fatalf("the CLI's director's 接 %d answered %q, want it accepted", n, reply)
	}
	accepted := false
	for _, a := range s.actions(n) {
		accepted = accepted || (a.Action == "accepted" && a.Actor == cliDirector)
	}
	if !accepted {
		t.Errorf("case %d's log %v has no acceptance by %s", n, cfActionNames(s.actions(n)), cliDirector)
	}

	out = mustRun(t, w.vars, "", "director", "remove", "--openid", cliDirector)
	if !strings.Contains(out, "removed "+cliDirector+" from 1 branch") {
		t.Errorf("director remove printed %q", out)
	}
	if line := directorLine(mustRun(t, w.vars, "", "director", "list"), cfZhebao, cliDirector); line != "" {
		t.Errorf("director list still shows %q", line)
	}
	// The running serve reloads within knowledgeReloadEvery; from then on
	// their commands are a member's words.
	deadline := time.Now().Add(knowledgeReloadEvery + 10*time.Second)
	for {
		reply := s.say(cliDirector, fmt.Sprintf("案件 %d", n))
		if !strings.Contains(reply, "老板三个月不给工钱") && !strings.Contains(reply, "会员号") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a removed director still reads case %d after %s:\n%s", n, knowledgeReloadEvery, reply)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if reply := s.say(cliDirector, "帮助"); strings.Contains(reply, "接 123") {
		t.Errorf("a removed director is still shown the directors' commands:\n%s", reply)
	}
}

// Bad command lines are refused with a short error and change nothing.
func TestDirectorCommandRefusesBadInput(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	before := mustRun(t, vars, "", "director", "list")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"director"}, "usage: nuanjia director"},
		{[]string{"director", "promote"}, `unknown director command "promote"`},
		{[]string{"director", "add", "--openid", cliDirector}, "usage: nuanjia director"},
		{[]string{"director", "add", "--branch", cfZhebao}, "usage: nuanjia director"},
		{[]string{"director", "add", "--openid", cliDirector, "--branch", "nowhere", "--actor", "li"}, `no branch "nowhere"`},
		{[]string{"director", "add", "--openid", cfZhebaoDirector, "--branch", cfZhebao, "--county", "--actor", "li"}, "knowledge-base file"},
		{[]string{"director", "add", "--openid", cliDirector, "--branch", cfZhebao, "--actor", "two words"}, "--actor"},
		{[]string{"director", "remove"}, "usage: nuanjia director"},
		{[]string{"director", "remove", "--openid", "o-nobody"}, "o-nobody is no director"},
	} {
		_, _, err := nuanjia(t, vars, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("nuanjia %s: error %v, want one saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if after := mustRun(t, vars, "", "director", "list"); after != before {
		t.Errorf("refused commands changed the directors:\n%s\nwas:\n%s", after, before)
	}
	if n := strings.Count(before, "\n"); n != demoDirectors+1 {
		t.Errorf("director list of the demo has %d lines, want a header and %d directors:\n%s", n, demoDirectors, before)
	}
}
