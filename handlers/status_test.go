package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

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
			reply := handle(t, handlers.Status{Knowledge: ix}, req)
			checkReadable(t, reply)
			checkNamesPhone(t, reply)
			if !strings.Contains(reply, tt.want.Directors[0].Phone) {
				t.Errorf("reply does not give %s's director %s:\n%s", tt.want.ID, tt.want.Directors[0].Phone, reply)
			}
		})
	}
}
