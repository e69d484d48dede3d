package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Visit answers questions about home visits (上门访视) with the director who
// arranges them. Booking through the bot arrives with the reminders issue.
type Visit struct {
	Knowledge Knowledge
}

const (
	textVisitFmt   = "上门访视由你所在的计生协安排。请联系%s，说一下方便的时间和地址。"
	textVisitWhere = "\n不知道找哪个协会？告诉我们你在哪里（地名或位置）。"
	textVisitNoKB  = "上门访视由你所在的计生协安排。告诉我们你在哪里（地名或位置），我们帮你找。"
)

// Handle implements bot.Handler.
func (h Visit) Handle(_ context.Context, req *bot.Request) (bot.Reply, error) {
	if b, ok := branchFor(h.Knowledge, req); ok {
		return bot.Reply{Text: fmt.Sprintf(textVisitFmt, contactLine(b))}, nil
	}
	if b, ok := h.Knowledge.Branch(bot.CountyBranchID); ok {
		return bot.Reply{Text: fmt.Sprintf(textVisitFmt, contactLine(b)) + textVisitWhere}, nil
	}
	return bot.Reply{Text: textVisitNoKB}, nil
}
