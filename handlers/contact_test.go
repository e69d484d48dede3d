package handlers_test

import (
	"nuanjia/internal/testkit"
	"regexp"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

// checkCard fails unless reply is b's contact card: its name, its first
// director with phone, and its own phone.
func checkCard(t *testing.T, reply string, b bot.Branch) {
	t.Helper()
	checkReadable(t, reply)
	want := []string{b.Name, b.Phone}
	if len(b.Directors) > 0 {
		want = append(want, b.Directors[0].Name, b.Directors[0].Phone)
	}
	for _, s := range want {
		if !strings.Contains(reply, s) {
			t.Errorf("card for %s lacks %q:\n%s", b.ID, s, reply)
		}
	}
}

func TestContactCardForNamedPlace(t *testing.T) {
	ix := testkit.Index(t)
	h := handlers.Contact{Knowledge: ix}
	tests := []struct {
		text, branch string
	}{
		{"新州", "longlin-xinzhou"},
		{"者保的电话", "longlin-zhebao"},
		{"龙山煤矿", "longshan-coal"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			req := textRequest(ix, "o-a", tt.text, bot.Member{})
			if req.U.Branch != tt.branch {
				t.Fatalf("index found branch %q in %q, want %q", req.U.Branch, tt.text, tt.branch)
			}
			checkCard(t, handle(t, h, req), branch(t, ix, tt.branch))
		})
	}
}

func TestContactNearestToLocation(t *testing.T) {
	ix := testkit.Index(t)
	zhebao := branch(t, ix, "longlin-zhebao")
	req := &bot.Request{
		// A few kilometres from the Zhebao branch.
		Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeLocation, Text: "隆林者保乡",
			Located: true, Lat: zhebao.Lat + 0.02, Lng: zhebao.Lng + 0.02},
		U: bot.Understanding{Intent: bot.IntentContact, Score: 1},
	}
	reply := handle(t, handlers.Contact{Knowledge: ix}, req)
	checkCard(t, reply, zhebao)
	m := regexp.MustCompile(`约(\d+)公里`).FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("card does not say how far the branch is:\n%s", reply)
	}
	if m[1] == "0" || len(m[1]) > 1 {
		t.Errorf("distance %s km, want a few kilometres", m[1])
	}
}

func TestContactAsksWhereWhenNoBranchIsKnown(t *testing.T) {
	ix := testkit.Index(t)
	req := textRequest(ix, "o-a", "联系卡", bot.Member{})
	if req.U.Branch != "" {
		t.Fatalf("index found branch %q in 联系卡", req.U.Branch)
	}
	reply := handle(t, handlers.Contact{Knowledge: ix}, req)
	checkReadable(t, reply)
	if !strings.Contains(reply, "你在哪里") {
		t.Errorf("does not ask where the member is:\n%s", reply)
	}
}

func TestContactMembersOwnBranch(t *testing.T) {
	ix := testkit.Index(t)
	own := "longshan-coal"
	req := textRequest(ix, "o-a", "联系卡", bot.Member{BranchID: &own})
	checkCard(t, handle(t, handlers.Contact{Knowledge: ix}, req), branch(t, ix, own))
}

// A place the member names wins over the branch they joined through.
func TestContactNamedPlaceBeatsOwnBranch(t *testing.T) {
	ix := testkit.Index(t)
	own := "longshan-coal"
	req := textRequest(ix, "o-a", "新州", bot.Member{BranchID: &own})
	reply := handle(t, handlers.Contact{Knowledge: ix}, req)
	checkCard(t, reply, branch(t, ix, "longlin-xinzhou"))
	if strings.Contains(reply, branch(t, ix, own).Name) {
		t.Errorf("card names the member's own branch too:\n%s", reply)
	}
}

// "隆林" alone could be any of three branches: the bot asks which, and the
// member's number brings that branch's card.
func TestContactAsksWhichBranchASharedNameMeans(t *testing.T) {
	d := newCaseDesk(t)
	ask := d.say("o-ll", "隆林计生协电话多少")
	checkReadable(t, ask)
	for _, want := range []string{"1 新州镇计生协", "2 者保乡计生协", "3 天生桥镇计生协", "回复数字"} {
		if !strings.Contains(ask, want) {
			t.Fatalf("隆林 → %q, want the three Longlin branches to choose from (%q missing)", ask, want)
		}
	}
	card := d.say("o-ll", "2")
	zhebao := branch(t, d.ix, "longlin-zhebao")
	if !strings.Contains(card, zhebao.Name) || !strings.Contains(card, zhebao.Phone) {
		t.Errorf("2 → %q, want the 者保 card", card)
	}
	// A township named with it is no question.
	if r := d.say("o-ll2", "隆林者保电话"); !strings.Contains(r, zhebao.Name) {
		t.Errorf("隆林者保电话 → %q, want the 者保 card", r)
	}
}
