package handlers

import (
	"context"
	"strings"

	"nuanjia/bot"
)

// Resume puts a member who wrote 不要推送 back on policy broadcasts when
// they write 恢复推送: the tag sync gives them their branch tag again. It
// is an interceptor because the words also read as the stop intent's
// ("推送"), and must never be added to an open case.
type Resume struct {
	Prefs BroadcastPrefs
}

const textResumed = "好的，已恢复推送，以后会收到计生协的政策消息。\n不想收时回复「不要推送」。"

// resumeWords are what members write to have broadcasts back.
func resumeWords(text string) bool {
	t := strings.Trim(strings.TrimSpace(text), "。.!！~")
	switch t {
	case "恢复推送", "恢复推送消息", "重新推送", "开启推送", "打开推送", "继续推送", "恢复接收推送":
		return true
	}
	return false
}

// Intercept implements bot.Interceptor.
func (h Resume) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if h.Prefs == nil || req.Msg.Type != bot.TypeText || !resumeWords(req.Msg.Text) {
		return bot.Reply{}, false, nil
	}
	if err := h.Prefs.SetNoBroadcasts(ctx, req.Msg.OpenID, false); err != nil {
		return bot.Reply{}, false, err
	}
	return bot.Reply{Text: textResumed}, true, nil
}
