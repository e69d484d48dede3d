package handlers

import (
	"context"
	"fmt"
	"strings"

	"nuanjia/bot"
)

// FollowUp takes what a member sends about their case before any intent
// handler: what happened after a bare "求助", the rating after a close,
// and, while a case is not closed, their messages and media, which go on
// the case (and to the director who has it). A clear other request (a
// contact card, a policy answer, 我的求助) is left to its handler.
type FollowUp struct {
	Desk Desk
}

const (
	textMediaAdded   = "收到，已加到你的求助（编号%d）里。"
	textRelayed      = "已转给负责人%s（编号%d）。"
	textRatedGood    = "谢谢你的评价！以后有需要随时找我们。"
	textRatedBad     = "抱歉没能帮好你。编号%d已重新打开，负责人会再联系你；有情况直接回复这里。"
	textRatingAgain  = "回复 1 满意，2 不满意。"
	textToldUnhappy  = "会员对编号%d的处理不满意，案件已重开。回复「案件 %d」查看。"
	textRateQuestion = "满意请回复 1，不满意请回复 2。"
)

// Intercept implements bot.Interceptor.
func (f FollowUp) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type == bot.TypeEvent || req.Msg.Type == bot.TypeLocation {
		return bot.Reply{}, false, nil
	}
	conv, waiting, err := req.Cases.Conversation(ctx, req.Msg.OpenID, bot.TopicMember)
	if err != nil {
		return bot.Reply{}, false, err
	}
	spoken := (req.Msg.Type == bot.TypeText || req.Msg.Type == bot.TypeVoice) && strings.TrimSpace(req.Msg.Text) != ""
	if waiting && spoken {
		switch conv.State {
		case stateDescribe:
			if !clearOtherIntent(req.U) && worthACase(req.Msg.Text) {
				if err := req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember); err != nil {
					return bot.Reply{}, false, err
				}
				return f.open(ctx, req)
			}
		case stateRate:
			if rating, ok := ratingOf(req.Msg.Text); ok {
				reply, rated, err := f.rate(ctx, req, conv, rating)
				if err != nil || rated {
					return reply, err == nil, err
				}
			}
		}
	}
	k, found, err := req.Cases.CurrentCase(ctx, req.Msg.OpenID)
	if err != nil || !found {
		return bot.Reply{}, false, err
	}
	if !spoken {
		if !isMediaType(req.Msg.Type) {
			return bot.Reply{}, false, nil // a link, an unrecognised voice: the router answers
		}
		if err := f.Desk.attachMedia(ctx, req, k); err != nil {
			return bot.Reply{}, false, err
		}
		return bot.Reply{Text: fmt.Sprintf(textMediaAdded, k.Number)}, true, nil
	}
	if clearOtherIntent(req.U) {
		return bot.Reply{}, false, nil
	}
	kind := bot.CaseQuestion
	if req.U.Intent == bot.IntentHelp {
		kind = bot.CaseHelp
	}
	if err := f.Desk.addToCase(ctx, req, &k, kind); err != nil {
		return bot.Reply{}, false, err
	}
	text := urgentAdvice(req.U)
	if k.Status == bot.CaseAccepted && k.Assignee != "" {
		return bot.Reply{Text: text + fmt.Sprintf(textRelayed, f.Desk.directorName(k.Assignee), k.Number)}, true, nil
	}
	return bot.Reply{Text: text + fmt.Sprintf(textHelpAdded, k.Number)}, true, nil
}

// open opens the case a bare "求助" waited for.
func (f FollowUp) open(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	k, opened, err := f.Desk.intake(ctx, req, bot.CaseHelp)
	if err != nil {
		return bot.Reply{}, false, err
	}
	text := urgentAdvice(req.U)
	return bot.Reply{Text: text + f.Desk.intakeReply(k, opened)}, true, nil
}

// rate records the member's answer to the closing question; a "2"
// reopens the case with the director who had it. rated is false when the
// case is no longer closed: the words then belong to the case.
func (f FollowUp) rate(ctx context.Context, req *bot.Request, conv bot.Conversation, rating int) (bot.Reply, bool, error) {
	cases := req.Cases
	if err := cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember); err != nil {
		return bot.Reply{}, false, err
	}
	k, found, err := cases.CaseByID(ctx, conv.CaseID)
	if err != nil {
		return bot.Reply{}, false, err
	}
	if !found || k.Status != bot.CaseClosed {
		// Reopened since the question was asked: there is no close to
		// rate, and the words belong to the case.
		return bot.Reply{}, false, nil
	}
	k.Rating = rating
	if err := cases.Log(ctx, k.ID, bot.ActionRated, req.Msg.OpenID, fmt.Sprint(rating)); err != nil {
		return bot.Reply{}, false, err
	}
	if rating == 1 {
		return bot.Reply{Text: textRatedGood}, true, cases.SaveCase(ctx, k)
	}
	if err := f.Desk.reopen(ctx, cases, &k, req.Msg.OpenID); err != nil {
		return bot.Reply{}, false, err
	}
	var sends []bot.Send
	if k.Assignee != "" {
		sends = append(sends, f.Desk.toDirector(k.Assignee, bot.KindCaseNotice, k,
			fmt.Sprintf(textToldUnhappy, k.Number, k.Number), "会员不满意，已重开"))
	} else if err := f.Desk.alert(ctx, cases, &k, fmt.Sprintf(textToldUnhappy, k.Number, k.Number)); err != nil {
		return bot.Reply{}, false, err
	}
	if err := cases.Enqueue(ctx, sends); err != nil {
		return bot.Reply{}, false, err
	}
	return bot.Reply{Text: fmt.Sprintf(textRatedBad, k.Number)}, true, nil
}

// reopen puts a closed case back with its assignee (or open for the
// branch when it had none) and logs who did it.
func (d Desk) reopen(ctx context.Context, cases bot.Cases, k *bot.Case, actor string) error {
	// The clock's one-off messages start over: a reopened case is waited
	// on, and replied to, afresh.
	now := d.now()
	k.Status, k.ClosedAt, k.EscalatedAt, k.RemindedAt, k.AlertedAt = bot.CaseOpen, nil, nil, nil, &now
	if k.Assignee != "" {
		k.Status, k.AcceptedAt = bot.CaseAccepted, &now
	}
	if err := cases.SaveCase(ctx, *k); err != nil {
		return err
	}
	return cases.Log(ctx, k.ID, bot.ActionReopened, actor, "")
}

// ratingOf reads the answer to the closing question.
func ratingOf(text string) (int, bool) {
	t := strings.TrimSpace(strings.Trim(strings.TrimSpace(text), "。.!！"))
	switch t {
	case "1", "１", "满意", "很满意", "非常满意", "滿意":
		return 1, true
	case "2", "２", "不满意", "不滿意", "很不满意":
		return 2, true
	}
	return 0, false
}

// clearOtherIntent reports whether the member clearly asked for something
// the bot answers itself, which their case should not swallow: a contact
// card, 我的求助, stopping broadcasts, erasure, a policy answer on file,
// each read with confidence. Thanks, greetings and talk of days and times
// ("我明天上午都在工地") are for the director, who is talking with them.
func clearOtherIntent(u bot.Understanding) bool {
	if u.Score < clearScore || len(u.Choices) >= 2 {
		return false
	}
	switch u.Intent {
	case bot.IntentContact, bot.IntentStatus, bot.IntentStop, bot.IntentForget:
		return true
	case bot.IntentPolicy:
		return u.FAQ != ""
	}
	return false
}

// clearScore is the confidence from which a member's message during a
// case is taken as a request of its own: a wrong guess here hides their
// words from the director, so it is high ("好的谢谢，我等你电话" reads as
// contact at 0.375), yet lets through "我的求助" (0.75), the words the bot
// tells them to use.
const clearScore = 0.7

// isMediaType reports whether a push carries media a case can keep.
func isMediaType(typ string) bool {
	switch typ {
	case bot.TypeImage, bot.TypeVoice, bot.TypeVideo, bot.TypeShortVideo, bot.TypeFile:
		return true
	}
	return false
}
