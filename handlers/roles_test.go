package handlers_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"nuanjia/bot"
)

// Every director command, sent by each kind of person, read off what
// they and the case's member would notice. Members and strangers get the
// member experience; another branch's director learns nothing of the
// case; the case's branch director and a county director act on it.

// The people, as the demo knowledge base and the test make them.
const (
	roleMember   = "o-role-member"   // a member of the case's branch, no role
	roleStranger = "o-role-stranger" // never seen before
	roleMemberOf = "longlin-xinzhou" // the case's branch
	roleWords    = "工地老板欠我们五个人的工钱半年了"
)

// roleState is what anyone could notice of the case: how it stands, its
// log, what reached its member, and the corrections kept for training.
type roleState struct {
	Status, Assignee, Branch, Kind, Category string
	Actions, ToMember, Corrections           int
}

func roleStateOf(d *caseDesk, n int64) roleState {
	d.t.Helper()
	k := d.caseNo(n)
	toMember := 0
	for _, r := range d.sentTo("o-role-case-member", "") {
		if r.CaseID.Valid && r.CaseID.Int64 == k.ID {
			toMember++
		}
	}
	var corrections int
	if err := d.st.DB().Get(&corrections, `SELECT count(*) FROM nlu_corrections WHERE case_id = $1`, k.ID); err != nil {
		d.t.Fatal(err)
	}
	return roleState{Status: k.Status, Assignee: k.Assignee, Branch: k.BranchID, Kind: k.Kind, Category: k.Category,
		Actions: len(d.actions(n)), ToMember: toMember, Corrections: corrections}
}

// roleHas reports whether case n's log has the line "action actor".
func roleHas(d *caseDesk, n int64, action, actor string) bool {
	for _, l := range d.actions(n) {
		if l == action+" "+actor {
			return true
		}
	}
	return false
}

// names reports whether reply names case n (编号n, or n leading a list line).
func names(reply string, n int64) bool {
	return regexp.MustCompile(fmt.Sprintf(`编号%d(\D|$)|(?m)^%d `, n, n)).MatchString(reply)
}

func TestEveryDirectorCommandByEveryRole(t *testing.T) {
	commands := []struct {
		name   string
		format string // %d is the case number; none for 案件 and 帮助
		// closed: the case is closed before the command (重开 needs one).
		closed bool
		// done reports whether actor's command did its work.
		done func(d *caseDesk, n int64, actor, reply string) bool
	}{
		{"list", "案件", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return names(reply, n) && strings.Contains(reply, "待处理案件")
		}},
		{"view", "案件 %d", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return names(reply, n) && strings.Contains(reply, roleWords)
		}},
		{"accept", "接 %d", false, func(d *caseDesk, n int64, actor, reply string) bool {
			k := d.caseNo(n)
			return k.Status == bot.CaseAccepted && k.Assignee == actor
		}},
		{"reply", "回 %d 明天去厂里找老板", false, func(d *caseDesk, n int64, actor, reply string) bool {
			rows := d.sentTo("o-role-case-member", bot.KindCaseReply)
			return len(rows) == 1 && strings.Contains(rows[0].Text, "明天去厂里找老板")
		}},
		{"note", "记 %d 老板姓王", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return roleHas(d, n, bot.ActionNote, actor)
		}},
		{"move", "转 %d 者保", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return d.caseNo(n).BranchID == "longlin-zhebao"
		}},
		{"close", "结 %d 已帮他要回工资", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return d.caseNo(n).Status == bot.CaseClosed && roleHas(d, n, bot.ActionClosed, actor)
		}},
		{"reopen", "重开 %d", true, func(d *caseDesk, n int64, actor, reply string) bool {
			return d.caseNo(n).Status != bot.CaseClosed && roleHas(d, n, bot.ActionReopened, actor)
		}},
		{"fix", "改 %d 政策", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return d.caseNo(n).Kind == bot.CaseQuestion && roleHas(d, n, bot.ActionCorrected, actor)
		}},
		{"help", "帮助", false, func(d *caseDesk, n int64, actor, reply string) bool {
			return strings.Contains(reply, "接 123") && strings.Contains(reply, "重开 123")
		}},
	}
	roles := []struct {
		name, openID string
		kind         string // member, other, director
	}{
		{"member", roleMember, "member"},
		{"stranger", roleStranger, "member"},
		{"other branch's director", zhebaoDirector, "other"},
		{"branch director", xinzhouDirector, "director"},
		{"county director", countyDirector, "director"},
	}
	for _, c := range commands {
		for _, r := range roles {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				t.Parallel()
				d := newCaseDesk(t)
				d.member("o-role-case-member", roleMemberOf)
				n := caseNumberIn(t, d.say("o-role-case-member", roleWords))
				if c.closed {
					d.say(xinzhouDirector, fmt.Sprintf("结 %d 已处理", n))
					if d.caseNo(n).Status != bot.CaseClosed {
						t.Fatalf("case %d did not close for the test", n)
					}
				}
				d.member(roleMember, roleMemberOf)
				text := c.format
				if strings.Contains(text, "%d") {
					text = fmt.Sprintf(c.format, n)
				}
				before := roleStateOf(d, n)
				reply := d.say(r.openID, text)
				checkReadable(t, reply)
				after := roleStateOf(d, n)

				switch r.kind {
				case "member":
					// Their words are a member's message: nothing of the
					// case, nothing of the directors' desk, no change.
					for _, secret := range []string{roleWords, "没有找到你能处理的", "负责人命令", "接 123", "已受理", "已结案"} {
						if strings.Contains(reply, secret) {
							t.Errorf("%q answered with %q:\n%s", text, secret, reply)
						}
					}
					if names(reply, n) {
						t.Errorf("%q answered about case %d:\n%s", text, n, reply)
					}
					if after != before {
						t.Errorf("%q changed the case: %+v, was %+v", text, after, before)
					}
				case "other":
					switch c.name {
					case "help":
						// A director is shown the commands; no case in them.
						if names(reply, n) || !c.done(d, n, r.openID, reply) {
							t.Errorf("帮助 answered:\n%s", reply)
						}
					case "list":
						if names(reply, n) || strings.Contains(reply, roleWords) {
							t.Errorf("Zhebao's list shows Xinzhou's case %d:\n%s", n, reply)
						}
					default:
						// The words for a case that does not exist.
						if want := fmt.Sprintf("没有找到你能处理的编号%d案件。", n); reply != want {
							t.Errorf("%q answered\n%s\nwant\n%s", text, reply, want)
						}
					}
					if after != before {
						t.Errorf("%q changed the case: %+v, was %+v", text, after, before)
					}
				case "director":
					if !c.done(d, n, r.openID, reply) {
						t.Errorf("%q did not work; answered:\n%s\ncase now %+v, was %+v", text, reply, after, before)
					}
				}
			})
		}
	}
}
