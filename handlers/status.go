package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Status answers "how is my request going". Help requests become cases with
// numbers in the cases issue; until then the director who handles them is
// the one to ask, and the bot says so rather than inventing a status.
type Status struct {
	Knowledge Knowledge
}

const (
	textStatusFmt  = "求助进度请直接问%s。"
	textStatusNoKB = "求助进度请直接问你所在的计生协负责人。"
)

// Handle implements bot.Handler.
func (h Status) Handle(_ context.Context, req *bot.Request) (bot.Reply, error) {
	if b, ok := branchOrCounty(h.Knowledge, req); ok {
		return bot.Reply{Text: fmt.Sprintf(textStatusFmt, contactLine(b))}, nil
	}
	return bot.Reply{Text: textStatusNoKB}, nil
}
