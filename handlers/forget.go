package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Forget answers a request to erase the member's data. Erasure itself, with
// its confirmation step and audit row, is the privacy issue's; until then
// the member is told plainly how to get it done.
type Forget struct {
	Knowledge Knowledge
}

const (
	textForgetFmt  = "删除你的个人信息需要先确认是你本人。请联系%s办理。"
	textForgetNoKB = "删除你的个人信息需要先确认是你本人，请联系县计生协办理。"
)

// Handle implements bot.Handler.
func (h Forget) Handle(_ context.Context, req *bot.Request) (bot.Reply, error) {
	if b, ok := h.Knowledge.Branch(bot.CountyBranchID); ok {
		return bot.Reply{Text: fmt.Sprintf(textForgetFmt, contactLine(b))}, nil
	}
	return bot.Reply{Text: textForgetNoKB}, nil
}
