package handlers

import (
	"context"

	"nuanjia/bot"
)

// BroadcastPrefs records whether a member wants policy broadcasts.
type BroadcastPrefs interface {
	SetNoBroadcasts(ctx context.Context, openID string, off bool) error
}

// Stop takes a member off policy broadcasts: the tag sync takes their
// branch tag off, and a broadcast waits until it has. Replies to their own
// messages and alerts about their own requests still reach them.
type Stop struct {
	Prefs BroadcastPrefs
}

const textStopped = "好的，以后不再给你推送政策消息。\n有事仍然可以随时发消息给我们；想再收到，回复「恢复推送」。"

// Handle implements bot.Handler.
func (h Stop) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if err := h.Prefs.SetNoBroadcasts(ctx, req.Msg.OpenID, true); err != nil {
		return bot.Reply{}, err
	}
	return bot.Reply{Text: textStopped}, nil
}
