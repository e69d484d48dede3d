package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Unsubscribe serves WeChat's unsubscribe event. Nobody can be answered,
// but nothing more is sent to them: every pending message is cancelled,
// and their open case is closed so no director keeps working on it; the
// director who had it is told. Their data is erased MEMBER_ERASE_AFTER
// later unless they follow again (the retention job).
type Unsubscribe struct {
	Desk Desk
}

const (
	textUnsubscribedNote = "会员已取消关注，自动结案"
	textDirUnsubscribed  = "编号%d的会员已取消关注公众号，案件已自动结案，消息发不到了。"
)

// Handle implements bot.Handler.
func (h Unsubscribe) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Cases == nil {
		return bot.Reply{}, nil
	}
	openID := req.Msg.OpenID
	var reply bot.Reply
	k, ok, err := req.Cases.CurrentCase(ctx, openID)
	if err != nil {
		return bot.Reply{}, err
	}
	if ok {
		now := h.Desk.now()
		k.Status, k.ClosedAt = bot.CaseClosed, &now
		if err := req.Cases.SaveCase(ctx, k); err != nil {
			return bot.Reply{}, err
		}
		if err := req.Cases.Log(ctx, k.ID, bot.ActionClosed, bot.ActorBot, textUnsubscribedNote); err != nil {
			return bot.Reply{}, err
		}
		if err := req.Cases.EndConversation(ctx, openID, bot.TopicMember); err != nil {
			return bot.Reply{}, err
		}
		if k.Assignee != "" {
			text := fmt.Sprintf(textDirUnsubscribed, k.Number)
			reply.Sends = append(reply.Sends, h.Desk.toDirector(k.Assignee, bot.KindCaseNotice, k, text, textUnsubscribedNote))
		}
	}
	if _, err := req.Cases.Unsubscribed(ctx, openID, req.Msg.At); err != nil {
		return bot.Reply{}, err
	}
	return reply, nil
}
