package handlers

import (
	"context"

	"nuanjia/bot"
)

// Onboarding finishes every answer to a member: it places a member who has
// no branch in the one their message names or their location is nearest
// to, and, after the answer they came for, asks a new member where they
// are and asks for consent, once per consent text version. An urgent help
// request is answered alone: the questions wait for a later message.
// Directors are not onboarded: their commands get their answers alone,
// and their branch and consent come with the role.
type Onboarding struct {
	Desk Desk
}

// TextBranchQuestion asks a member with no branch where they are.
const TextBranchQuestion = "你现在在哪个地方？回复地名（比如 新州、者保、龙山煤矿），或发个位置，我们帮你找最近的计生协。"

// Finish implements bot.Finisher.
func (o Onboarding) Finish(ctx context.Context, req *bot.Request, reply bot.Reply) (bot.Reply, error) {
	if req.Cases == nil || o.Desk.Knowledge == nil || req.Msg.OpenID == "" || !o.speaks(req.Msg) {
		return reply, nil
	}
	if _, director := o.Desk.roleOf(req.Msg.OpenID); director {
		return reply, nil
	}
	hasBranch := req.Member.BranchID != nil && *req.Member.BranchID != ""
	if !hasBranch {
		if id, ok := o.branchOf(req); ok {
			if err := req.Cases.SetBranch(ctx, req.Msg.OpenID, id); err != nil {
				return reply, err
			}
			hasBranch = true
		}
	}
	if req.U.Urgent || req.Member.ConsentAsked == bot.ConsentVersion || isConsentAnswer(req.Msg) {
		return reply, nil
	}
	if !hasBranch {
		reply.More = append(reply.More, TextBranchQuestion)
	}
	reply.More = append(reply.More, TextConsentQuestion)
	if err := req.Cases.ConsentAsked(ctx, req.Msg.OpenID, bot.ConsentVersion); err != nil {
		return reply, err
	}
	return reply, nil
}

// speaks reports whether the push is one a member can be asked after:
// following, a text, a voice message or a location (not an unsubscribe or
// WeChat's own LOCATION reports).
func (o Onboarding) speaks(msg bot.Inbound) bool {
	switch msg.Type {
	case bot.TypeText, bot.TypeVoice, bot.TypeLocation:
		return true
	case bot.TypeEvent:
		return msg.Event == bot.EventSubscribe
	}
	return false
}

// branchOf is the branch the push places the member in: a place naming
// one branch, or the nearest to a location they sent.
func (o Onboarding) branchOf(req *bot.Request) (string, bool) {
	if req.U.Branch != "" {
		if _, ok := o.Desk.Knowledge.Branch(req.U.Branch); ok {
			return req.U.Branch, true
		}
	}
	if req.Msg.Located && (req.Msg.Type == bot.TypeLocation || req.Msg.Event == bot.EventLocationSelect) {
		if b, _, ok := o.Desk.Knowledge.Nearest(req.Msg.Lat, req.Msg.Lng); ok {
			return b.ID, true
		}
	}
	return "", false
}

func isConsentAnswer(msg bot.Inbound) bool {
	_, ok, _ := consentAnswer(msg.Text)
	return msg.Type == bot.TypeText && ok
}
