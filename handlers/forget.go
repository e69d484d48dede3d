package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"nuanjia/bot"
)

// Forget erases what the association holds about a member, after one
// confirmation: their messages' texts, places and media, the messages
// sent to them, their cases' texts and evidence, their branch and member
// number. Cases keep category, branch and dates for the association's
// statistics, with the link to the person removed; the member is told so.
// The confirmation is a member conversation, so it also works when
// "确认删除" alone would be read as something else.
type Forget struct {
	Desk Desk
}

const (
	textForgetAsk = "要删除我们保存的你的信息吗？包括聊天内容、位置、照片和求助记录里的话。\n" +
		"确认请回复「确认删除」，10分钟内有效；不删就不用管。"
	textForgetDone = "已删除你的聊天内容、位置、照片和个人资料（%s）。\n" +
		"为了统计，只保留求助的类别、支部和日期，已和你本人断开关联。\n以后有事仍可随时发消息。"
	textForgetNothing = "已删除。我们这里没有保存你的其他信息。\n以后有事仍可随时发消息。"
	textForgetNoDB    = "删除你的信息需要先确认是你本人，请联系县计生协办理。"
	stateConfirmErase = "confirm_erase"
	forgetConfirmWait = 10 * time.Minute
)

// forgetConfirmWords are the answers that confirm: what the question asks
// for, and what people type instead.
func forgetConfirmWords() []string {
	return []string{"确认删除", "确定删除", "确认", "确定", "删除", "是的", "是", "对"}
}

// Handle implements bot.Handler: it asks for the confirmation.
func (h Forget) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Cases == nil {
		return bot.Reply{Text: textForgetNoDB}, nil
	}
	err := req.Cases.SetConversation(ctx, bot.Conversation{OpenID: req.Msg.OpenID, Topic: bot.TopicMember,
		State: stateConfirmErase, Until: h.Desk.now().Add(forgetConfirmWait)})
	if err != nil {
		return bot.Reply{}, err
	}
	return bot.Reply{Text: textForgetAsk}, nil
}

// Intercept implements bot.Interceptor: the answer to the confirmation.
// Anything but a confirmation ends it, and the message is read as usual.
func (h Forget) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText {
		return bot.Reply{}, false, nil
	}
	conv, ok, err := req.Cases.Conversation(ctx, req.Msg.OpenID, bot.TopicMember)
	if err != nil || !ok || conv.State != stateConfirmErase {
		return bot.Reply{}, false, err
	}
	if conv.Until.Before(h.Desk.now()) || !confirmsErase(req.Msg.Text) {
		return bot.Reply{}, false, req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember)
	}
	e, err := req.Cases.Erase(ctx, req.Msg.OpenID)
	if err != nil {
		return bot.Reply{}, false, err
	}
	err = req.Cases.Audit(ctx, bot.AuditEntry{Actor: req.Msg.OpenID, Subject: req.Msg.OpenID, What: bot.AuditErase, Detail: "forget"})
	if err != nil {
		return bot.Reply{}, false, err
	}
	h.Desk.forgetChoice(ctx, req.Msg.OpenID)
	if e.Messages == 0 && e.Cases == 0 {
		return bot.Reply{Text: textForgetNothing}, true, nil
	}
	kept := fmt.Sprintf("%d条消息", e.Messages)
	if e.Cases > 0 {
		kept += fmt.Sprintf("，%d件求助的内容", e.Cases)
	}
	return bot.Reply{Text: fmt.Sprintf(textForgetDone, kept)}, true, nil
}

func confirmsErase(text string) bool {
	t := strings.Trim(strings.TrimSpace(text), "。.!！")
	for _, w := range forgetConfirmWords() {
		if t == w {
			return true
		}
	}
	return false
}
