package handlers_test

import (
	"nuanjia/internal/testkit"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/handlers"
)

func TestUnknownSaysWhatTheBotCanDo(t *testing.T) {
	ix := testkit.Index(t)
	u := understandFirst(t, ix, func(u bot.Understanding) bool { return u.Intent == bot.IntentUnknown },
		"今天天气怎么样", "咨询一下", "哈哈哈")
	reply := handle(t, handlers.Unknown{}, &bot.Request{Msg: bot.Inbound{Type: bot.TypeText, Text: u.Text}, U: u})
	checkReadable(t, reply)
	// The member learns phrases that work.
	for _, phrase := range []string{"求助", "联系卡", "政策"} {
		if !strings.Contains(reply, phrase) {
			t.Errorf("fallback does not suggest %q:\n%s", phrase, reply)
		}
	}
}
