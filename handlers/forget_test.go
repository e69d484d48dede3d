package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestForgetTellsWhoErasesData(t *testing.T) {
	ix := testkit.Index(t)
	req := textRequest(ix, "o-a", "删除我的信息", bot.Member{})
	if req.U.Intent != bot.IntentForget {
		t.Fatalf("understood as %s, want forget", req.U.Intent)
	}
	reply := handle(t, handlers.Forget{Knowledge: ix}, req)
	checkReadable(t, reply)
	checkNamesPhone(t, reply)
	// Erasure is done by the county association, whoever the member's branch is.
	county := branch(t, ix, bot.CountyBranchID)
	if !strings.Contains(reply, county.Directors[0].Phone) {
		t.Errorf("reply does not give the county director's %s:\n%s", county.Directors[0].Phone, reply)
	}
	if !strings.Contains(reply, "删除") {
		t.Errorf("reply does not say it is about erasing data:\n%s", reply)
	}
}
