package handlers

import (
	"context"
	"strings"

	"nuanjia/bot"
)

// Consent records a member's answer to the consent question: 同意,
// 不同意, and 撤回同意 at any time. The words are taken whenever they come,
// not only right after the question, so a member can change their mind
// later. Without consent the bot still answers and takes help requests;
// the store keeps no phone number, no coordinates and no profile details.
type Consent struct {
	Desk Desk
}

// TextConsentQuestion is what onboarding asks after a new member's first
// answer (exported for the end-to-end tests that follow a member).
const TextConsentQuestion = "为了方便联系和帮你，我们想保存你留下的电话、位置和家庭情况，只给计生协用，最长保存1年，可随时删除。\n" +
	"同意请回复「同意」，不同意回复「不同意」；以后可随时回复「撤回同意」。"

const (
	textConsentYes = "谢谢，已记下你同意。电话、位置等只用来联系和帮你。\n随时回复「撤回同意」或「删除我的信息」。"
	textConsentNo  = "好的，不保存你的电话、位置和家庭情况。\n照样可以问问题、求助；想改主意回复「同意」。"
	textConsentOff = "已撤回同意，已删除你留的电话、老家、所在城市和位置。\n照样可以问问题、求助。"
)

// consentAnswer reads a consent answer: yes, no, or withdraw.
func consentAnswer(text string) (agree, answer, withdraw bool) {
	t := strings.Trim(strings.TrimSpace(text), "。.!！")
	switch t {
	case "同意", "我同意", "同意了", "同意的":
		return true, true, false
	case "不同意", "我不同意", "不同意的":
		return false, true, false
	case "撤回同意", "取消同意", "撤销同意":
		return false, true, true
	}
	return false, false, false
}

// Intercept implements bot.Interceptor.
func (h Consent) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText {
		return bot.Reply{}, false, nil
	}
	agree, ok, withdraw := consentAnswer(req.Msg.Text)
	if !ok {
		return bot.Reply{}, false, nil
	}
	at := req.Msg.At
	if at.IsZero() {
		at = h.Desk.now()
	}
	if err := req.Cases.SetConsent(ctx, req.Msg.OpenID, agree, bot.ConsentVersion, at); err != nil {
		return bot.Reply{}, false, err
	}
	// Answered: no need to ask this version again.
	if err := req.Cases.ConsentAsked(ctx, req.Msg.OpenID, bot.ConsentVersion); err != nil {
		return bot.Reply{}, false, err
	}
	switch {
	case withdraw:
		return bot.Reply{Text: textConsentOff}, true, nil
	case agree:
		return bot.Reply{Text: textConsentYes}, true, nil
	}
	return bot.Reply{Text: textConsentNo}, true, nil
}
