package handlers_test

import (
	"strconv"
	"strings"
	"testing"

	"nuanjia/internal/testkit"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestStatusNamesWhoToAsk(t *testing.T) {
	ix := testkit.Index(t)
	zhebao := "longlin-zhebao"
	tests := []struct {
		name   string
		member bot.Member
		want   bot.Branch
	}{
		{"member's own branch", bot.Member{BranchID: &zhebao}, branch(t, ix, zhebao)},
		{"branch unknown: the county", bot.Member{}, branch(t, ix, bot.CountyBranchID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest(ix, "o-a", "我的求助怎么样了", tt.member)
			if req.U.Intent != bot.IntentStatus {
				t.Fatalf("understood as %s, want status", req.U.Intent)
			}
			reply := handle(t, handlers.Status{Desk: handlers.Desk{Knowledge: ix}}, req)
			checkReadable(t, reply)
			checkNamesPhone(t, reply)
			if !strings.Contains(reply, tt.want.Directors[0].Phone) {
				t.Errorf("reply does not give %s's director %s:\n%s", tt.want.ID, tt.want.Directors[0].Phone, reply)
			}
		})
	}
}

// 我的求助 lists the member's cases with status and the director's last reply.
func TestStatusListsTheMembersCases(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-s", "longlin-xinzhou")
	if reply := d.say("o-s", "我的求助"); !strings.Contains(reply, "还没有求助") {
		t.Errorf("no cases yet, reply:\n%s", reply)
	}
	n := caseNumberIn(t, d.say("o-s", "老板拖欠工资三个月了"))
	num := strconv.FormatInt(n, 10)
	d.say(xinzhouDirector, "回 "+num+" 我明天去工地找老板")
	reply := d.say("o-s", "我的求助")
	checkReadable(t, reply)
	for _, want := range []string{"编号" + num, "欠薪", "处理中", "我明天去工地找老板"} {
		if !strings.Contains(reply, want) {
			t.Errorf("status does not say %q:\n%s", want, reply)
		}
	}
	if d.lastCase() != n {
		t.Errorf("asking for status opened a case")
	}
}
