package handlers

import (
	"context"
	"fmt"

	"nuanjia/bot"
)

// Contact sends a branch's contact card: the branch the member named, else
// their own, else the nearest to a location they sent, else it asks where
// they are.
type Contact struct {
	Knowledge Knowledge
}

const textWhere = "你在哪里？告诉我们地名（比如“新州”“龙山煤矿”“工业园”），" +
	"或者点“+”发送位置，我们找离你最近的计生协。"

// Handle implements bot.Handler.
func (h Contact) Handle(_ context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Msg.Located {
		b, km, ok := h.Knowledge.Nearest(req.Msg.Lat, req.Msg.Lng)
		if !ok {
			return bot.Reply{Text: textWhere}, nil
		}
		return bot.Reply{Text: fmt.Sprintf("离你最近的是（约%.0f公里）：\n%s", km, card(b))}, nil
	}
	if b, ok := branchFor(h.Knowledge, req); ok {
		return bot.Reply{Text: card(b)}, nil
	}
	return bot.Reply{Text: textWhere}, nil
}
