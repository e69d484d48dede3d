package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestVisitNamesWhoArrangesIt(t *testing.T) {
	ix := testkit.Index(t)
	coal := "longshan-coal"
	tests := []struct {
		name      string
		text      string
		member    bot.Member
		want      bot.Branch
		asksWhere bool
	}{
		{"branch named", "新州 想约上门访视", bot.Member{}, branch(t, ix, "longlin-xinzhou"), false},
		{"member's own branch", "我想预约上门访视", bot.Member{BranchID: &coal}, branch(t, ix, coal), false},
		{"branch unknown: the county", "我想预约上门访视", bot.Member{}, branch(t, ix, bot.CountyBranchID), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest(ix, "o-a", tt.text, tt.member)
			if req.U.Intent != bot.IntentVisit {
				t.Fatalf("%q understood as %s, want visit", tt.text, req.U.Intent)
			}
			reply := handle(t, handlers.Visit{Knowledge: ix}, req)
			checkReadable(t, reply)
			checkNamesPhone(t, reply)
			if !strings.Contains(reply, tt.want.Directors[0].Phone) {
				t.Errorf("reply does not give %s's director %s:\n%s", tt.want.ID, tt.want.Directors[0].Phone, reply)
			}
			if got := strings.Contains(reply, "在哪里"); got != tt.asksWhere {
				t.Errorf("asks where the member is: %v, want %v:\n%s", got, tt.asksWhere, reply)
			}
		})
	}
}
