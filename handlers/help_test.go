package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestHelpUrgentStartsWithEmergencyNumbers(t *testing.T) {
	ix := testkit.Index(t)
	u := understandFirst(t, ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentHelp && u.Urgent },
		"救命有人打我", "我老公喝醉了打我和孩子", "工地上摔下来腰受伤了老板不管")
	reply := handle(t, handlers.Help{Knowledge: ix}, &bot.Request{Msg: bot.Inbound{OpenID: "o-a", Type: bot.TypeText, Text: u.Text}, U: u})
	checkReadable(t, reply)
	first, _, _ := strings.Cut(reply, "\n")
	if !strings.Contains(first, "110") || !strings.Contains(first, "120") {
		t.Errorf("urgent reply does not start with 110 and 120:\n%s", reply)
	}
	checkNamesPhone(t, reply)
}

func TestHelpNamesTheDirectorsPhone(t *testing.T) {
	ix := testkit.Index(t)
	county := branch(t, ix, bot.CountyBranchID)
	xinzhou := branch(t, ix, "longlin-xinzhou")
	coal := "longshan-coal"
	tests := []struct {
		name      string
		text      string
		member    bot.Member
		want      bot.Branch
		asksWhere bool
	}{
		{"branch named in the message", "新州 求助", bot.Member{}, xinzhou, false},
		{"member's own branch", "我要求助", bot.Member{BranchID: &coal}, branch(t, ix, coal), false},
		{"no branch known: the county", "我要求助", bot.Member{}, county, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := textRequest(ix, "o-a", tt.text, tt.member)
			if req.U.Intent != bot.IntentHelp {
				t.Fatalf("%q understood as %s, want help", tt.text, req.U.Intent)
			}
			reply := handle(t, handlers.Help{Knowledge: ix}, req)
			checkReadable(t, reply)
			d := tt.want.Directors[0]
			if !strings.Contains(reply, d.Name) || !strings.Contains(reply, d.Phone) {
				t.Errorf("reply does not name %s's director %s %s:\n%s", tt.want.ID, d.Name, d.Phone, reply)
			}
			if strings.Contains(reply, "110") {
				t.Errorf("a calm request for help is told to call the police:\n%s", reply)
			}
			if got := strings.Contains(reply, "你在哪里"); got != tt.asksWhere {
				t.Errorf("asks where the member is: %v, want %v:\n%s", got, tt.asksWhere, reply)
			}
		})
	}
}
