package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Help answers a request for help with who to call now. Cases routed to the
// branch director arrive with the cases issue; until then the member gets
// the director's number straight away rather than a promise.
type Help struct {
	Knowledge Knowledge
}

const (
	textUrgent     = "如果有危险，请马上打110；受伤或急病请打120。\n"
	textHelpFmt    = "收到你的求助。请直接联系%s，说明你的情况，我们会尽力帮你。"
	textHelpNoBook = "收到你的求助，我们会转给计生协负责人。"
	textHelpWho    = "\n告诉我们你在哪里（地名或位置），可以找到离你最近的计生协。"
)

// Handle implements bot.Handler.
func (h Help) Handle(_ context.Context, req *bot.Request) (bot.Reply, error) {
	text := ""
	if req.U.Urgent {
		text = textUrgent
	}
	_, known := branchFor(h.Knowledge, req)
	if b, ok := branchOrCounty(h.Knowledge, req); ok {
		text += fmt.Sprintf(textHelpFmt, contactLine(b))
	} else {
		text += textHelpNoBook
	}
	if !known {
		text += textHelpWho
	}
	return bot.Reply{Text: text}, nil
}
