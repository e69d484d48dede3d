package handlers

import (
	"context"
	"fmt"
	"strings"

	"nuanjia/bot"
)

// Contact sends a branch's contact card: the branch the member named, else
// their own, else the nearest to a location they sent, else it asks where
// they are.
type Contact struct {
	Knowledge Knowledge
	Choices   bot.ChoiceMemory
}

const (
	textWhere = "你在哪里？告诉我们地名（比如“新州”“龙山煤矿”“工业园”），" +
		"或者点“+”发送位置，我们找离你最近的计生协。"
	textWhichBranch = "那边有几个计生协，你在哪一个附近？"
	textWhichHint   = "\n回复数字查看联系卡。"
)

// Handle implements bot.Handler.
func (h Contact) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
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
	if reply, ok := h.askWhich(ctx, req); ok {
		return reply, nil
	}
	return bot.Reply{Text: textWhere}, nil
}

// askWhich lists the branches a shared place name could mean ("隆林":
// 新州, 者保, 天生桥) as a numbered question. It returns false when the
// name is not shared or the question cannot be remembered.
func (h Contact) askWhich(ctx context.Context, req *bot.Request) (bot.Reply, bool) {
	var ids []string
	var s strings.Builder
	s.WriteString(textWhichBranch)
	for _, id := range req.U.Branches {
		if b, ok := h.Knowledge.Branch(id); ok {
			ids = append(ids, id)
			fmt.Fprintf(&s, "\n%d %s", len(ids), shortName(b))
		}
	}
	if len(ids) < 2 || h.Choices == nil {
		return bot.Reply{}, false
	}
	err := h.Choices.SetPendingChoice(ctx, req.Msg.OpenID, bot.PendingChoice{Text: req.U.Text, Branches: ids}, bot.ChoiceTTL)
	if err != nil {
		return bot.Reply{}, false
	}
	s.WriteString(textWhichHint)
	return bot.Reply{Text: s.String()}, true
}
