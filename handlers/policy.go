package handlers

import (
	"context"
	"fmt"
	"strings"

	"nuanjia/bot"
)

// Policy answers policy questions from the FAQs: the answer when one is
// clearly best, a numbered list of up to three when not, and a hand-off to
// a director when none fits.
type Policy struct {
	Knowledge Knowledge
	Choices   bot.ChoiceMemory
	Desk      Desk
}

const (
	textPolicyPick    = "你想问的是哪一个？"
	textPolicyPickFor = "\n回复数字查看。"
	textPolicyUpdated = "\n（%s更新，来源：%s）"
	textPolicyHandOff = "这个问题我们记下了，会请计生协负责人回答你。着急的话可以直接打电话问：\n%s"
	textPolicyNoKB    = "这个问题我们记下了，会请计生协负责人回答你。"
	textPolicyCase    = "这个问题我们转给计生协负责人了（编号%d），会尽快回答你。着急的话可以直接打电话问：\n%s"
	textPolicyAsk     = "想问哪方面的政策？直接发问题就行，比如：\n“生三孩有补贴吗”\n“孩子在这边上学要什么手续”\n“怀孕了免费检查在哪做”"
)

// Handle implements bot.Handler.
func (h Policy) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if f, ok := h.Knowledge.FAQ(req.U.FAQ); ok {
		return bot.Reply{Text: f.Answer + fmt.Sprintf(textPolicyUpdated, f.Updated, f.Source)}, nil
	}
	var candidates []bot.FAQ
	for _, id := range req.U.FAQs {
		if f, ok := h.Knowledge.FAQ(id); ok {
			candidates = append(candidates, f)
		}
	}
	if len(candidates) == 0 && req.Msg.Type == bot.TypeEvent {
		// The 政策咨询 menu item: no question asked yet.
		return bot.Reply{Text: textPolicyAsk}, nil
	}
	switch len(candidates) {
	case 0:
		if req.Cases != nil {
			// No answer on file: a person answers, as for a message the
			// bot did not understand.
			k, _, err := h.Desk.intake(ctx, req, bot.CaseQuestion)
			if err != nil {
				return bot.Reply{}, err
			}
			return bot.Reply{Text: fmt.Sprintf(textPolicyCase, k.Number, contactLine(h.Desk.branch(k.BranchID)))}, nil
		}
		if b, ok := branchOrCounty(h.Knowledge, req); ok {
			return bot.Reply{Text: fmt.Sprintf(textPolicyHandOff, contactLine(b))}, nil
		}
		return bot.Reply{Text: textPolicyNoKB}, nil
	case 1:
		f := candidates[0]
		return bot.Reply{Text: f.Answer + fmt.Sprintf(textPolicyUpdated, f.Updated, f.Source)}, nil
	}
	ids := make([]string, len(candidates))
	var s strings.Builder
	s.WriteString(textPolicyPick)
	for i, f := range candidates {
		ids[i] = f.ID
		fmt.Fprintf(&s, "\n%d %s", i+1, f.Question)
	}
	s.WriteString(textPolicyPickFor)
	err := h.Choices.SetPendingChoice(ctx, req.Msg.OpenID, bot.PendingChoice{Text: req.U.Text, FAQs: ids}, bot.ChoiceTTL)
	if err != nil {
		// Unanswerable list: better the most likely answer than nothing.
		f := candidates[0]
		return bot.Reply{Text: f.Answer + fmt.Sprintf(textPolicyUpdated, f.Updated, f.Source)}, nil
	}
	return bot.Reply{Text: s.String()}, nil
}
