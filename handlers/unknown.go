package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Unknown answers what the bot did not understand. It is not a dead end:
// the text becomes a question case a director reads (alerted in the
// branch's next batch, or at once when urgent). Adverts are dropped
// without a case, and counted in the log.
type Unknown struct {
	Desk Desk
}

const (
	textUnknown = "没太明白你的意思。可以这样说：\n" +
		"“我要求助”“联系卡”“政策咨询”“预约访视”，\n" +
		"或者直接说遇到了什么事。"
	textUnknownCase = "这个问题我们转给计生协工作人员了（编号%d），他们会尽快回复你。\n" +
		"也可以说“联系卡”“政策咨询”“预约访视”。"
)

// Handle implements bot.Handler.
func (h Unknown) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	spoken := req.Msg.Type == bot.TypeText || req.Msg.Type == bot.TypeVoice
	if req.Cases == nil || !spoken || !worthACase(req.U.Norm) {
		return bot.Reply{Text: textUnknown}, nil
	}
	if isAdvert(req) {
		h.Desk.dropAdvert(req)
		return bot.Reply{Text: textUnknown}, nil
	}
	k, opened, err := h.Desk.intake(ctx, req, bot.CaseQuestion)
	if err != nil {
		return bot.Reply{}, err
	}
	text := urgentAdvice(req.U)
	if !opened {
		return bot.Reply{Text: text + fmt.Sprintf(textHelpAdded, k.Number)}, nil
	}
	return bot.Reply{Text: text + fmt.Sprintf(textUnknownCase, k.Number)}, nil
}
