package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"nuanjia/bot"
)

// intake puts what the member said in front of a person: a new case of
// kind, or, when they have one that is not closed, a message on that
// case. It returns the case and whether it was opened now; what has to be
// sent (alerts, a relay to the assignee) is already in the outbox.
func (d Desk) intake(ctx context.Context, req *bot.Request, kind string) (bot.Case, bool, error) {
	cases := req.Cases
	k, found, err := cases.CurrentCase(ctx, req.Msg.OpenID)
	if err != nil {
		return bot.Case{}, false, err
	}
	if found {
		return k, false, d.addToCase(ctx, req, &k, kind)
	}
	b, err := d.caseBranch(ctx, req)
	if err != nil {
		return bot.Case{}, false, err
	}
	summary := strings.TrimSpace(req.Msg.Text)
	k, err = cases.OpenCase(ctx, bot.NewCase{
		OpenID: req.Msg.OpenID, BranchID: b.ID, Category: categoryOf(req.U.Norm + summary),
		Urgent: req.U.Urgent, Kind: kind, Summary: summary, MessageID: req.Msg.StoredID, At: d.now(),
	})
	if errors.Is(err, bot.ErrCaseOpen) {
		// Another push of this member's opened one a moment ago.
		return k, false, d.addToCase(ctx, req, &k, kind)
	}
	if err != nil {
		return bot.Case{}, false, err
	}
	if kind == bot.CaseHelp || k.Urgent {
		// Questions wait for the clock's batch; help cannot wait.
		if err := d.alert(ctx, cases, &k, ""); err != nil {
			return bot.Case{}, false, err
		}
	}
	return k, true, nil
}

// Texts directors read about a case they know.
const (
	textRelayFmt    = "【编号%d·会员%s】%s\n回复「回 %d 内容」答复会员。"
	textUpgradedFmt = "会员补充了情况，编号%d现为%s。"
	textMediaFmt    = "【编号%d·会员%s】发来%s，见下条。"
)

// addToCase logs the member's message on k; a help request on a question
// makes it help, and new danger makes it urgent: either alerts the
// branch now if it waited. On an accepted case the message is relayed to
// the assignee.
func (d Desk) addToCase(ctx context.Context, req *bot.Request, k *bot.Case, kind string) error {
	cases := req.Cases
	text := strings.TrimSpace(req.Msg.Text)
	if err := cases.Log(ctx, k.ID, bot.ActionMessage, req.Msg.OpenID, text); err != nil {
		return err
	}
	upgraded := false
	if kind == bot.CaseHelp && k.Kind == bot.CaseQuestion {
		k.Kind, upgraded = bot.CaseHelp, true
	}
	if req.U.Urgent && !k.Urgent {
		k.Urgent, upgraded = true, true
	}
	if k.Category == bot.CategoryOther {
		k.Category = categoryOf(req.U.Norm + text)
	}
	if err := cases.SaveCase(ctx, *k); err != nil {
		return err
	}
	if upgraded && (k.AlertedAt == nil || k.Urgent) && k.Status == bot.CaseOpen {
		label := kindName(*k)
		if k.Urgent {
			label = "紧急" + label
		}
		if err := d.alert(ctx, cases, k, fmt.Sprintf(textUpgradedFmt, k.Number, label)); err != nil {
			return err
		}
	}
	if k.Status != bot.CaseAccepted || k.Assignee == "" {
		return nil
	}
	relay := d.toDirector(k.Assignee, bot.KindRelay, *k,
		fmt.Sprintf(textRelayFmt, k.Number, memberNoText(k.MemberNo), text, k.Number), text)
	if err := cases.Enqueue(ctx, []bot.Send{relay}); err != nil {
		return err
	}
	return cases.Log(ctx, k.ID, bot.ActionRelayed, bot.ActorBot, d.directorName(k.Assignee))
}

// toDirector is a message to a director about case k: customer-service
// first, since a director in conversation with the bot is inside the
// window, and the alert template as its fallback with words as its last
// field.
func (d Desk) toDirector(openID, kind string, k bot.Case, text, words string) bot.Send {
	snd := bot.Send{OpenID: openID, Kind: kind, Channel: bot.ChannelCustomerService, Text: text, CaseID: k.ID}
	if words == "" {
		words = text
	}
	k.Summary = words
	if tpl := d.alertTemplate(k); tpl != nil {
		snd.Fallback, snd.Template = bot.ChannelTemplate, tpl
	}
	return snd
}

// mediaName is a kind of media in a sentence.
func mediaName(typ string) string {
	switch typ {
	case bot.TypeImage:
		return "一张图片"
	case bot.TypeVoice:
		return "一段语音"
	case bot.TypeVideo, bot.TypeShortVideo:
		return "一段视频"
	case bot.TypeFile:
		return "一个文件"
	}
	return "一条消息"
}

// sendableKind is the customer-service message type that can carry a
// pushed media id again, "" for none (a file cannot be re-sent by id).
func sendableKind(typ string) string {
	switch typ {
	case bot.TypeImage:
		return "image"
	case bot.TypeVoice:
		return "voice"
	case bot.TypeVideo, bot.TypeShortVideo:
		return "video"
	}
	return ""
}

// attachMedia makes a media push evidence of k and passes it on to the
// assignee, by its media id, while WeChat still has it.
func (d Desk) attachMedia(ctx context.Context, req *bot.Request, k bot.Case) error {
	cases := req.Cases
	if err := cases.Attach(ctx, k.ID, req.Msg); err != nil {
		return err
	}
	if k.Status != bot.CaseAccepted || k.Assignee == "" {
		return nil
	}
	what := mediaName(req.Msg.Type)
	sends := []bot.Send{{OpenID: k.Assignee, Kind: bot.KindRelay, Channel: bot.ChannelCustomerService, CaseID: k.ID,
		Text: fmt.Sprintf(textMediaFmt, k.Number, memberNoText(k.MemberNo), what)}}
	if mk := sendableKind(req.Msg.Type); mk != "" && req.Msg.MediaID != "" {
		sends = append(sends, bot.Send{OpenID: k.Assignee, Kind: bot.KindRelay, Channel: bot.ChannelCustomerService,
			CaseID: k.ID, MediaKind: mk, MediaID: req.Msg.MediaID})
	}
	if err := cases.Enqueue(ctx, sends); err != nil {
		return err
	}
	return cases.Log(ctx, k.ID, bot.ActionRelayed, bot.ActorBot, what)
}

// worthACase reports whether a text says enough for a person to read:
// "嗯", "ok" or a lone emoji is not a question.
func worthACase(text string) bool {
	n := 0
	for _, r := range text {
		if unicode.Is(unicode.Han, r) || unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n >= 3
}

// spamCues are what adverts and scams sent to the account say. One alone
// is a member's word ("推荐" a school, "微信" a relative); two together
// are an advert, dropped without a case and counted in the log.
func spamCues() []string {
	return []string{"加微信", "加v", "微信号", "加我", "代办", "招聘", "兼职", "日结", "推广", "优惠", "贷款秒批",
		"免费领", "刷单", "返利", "点击链接", "扫码", "代理", "私聊", "咨询热线", "http", "www."}
}

// isAdvert reports whether the member's text reads as an advert, which
// opens no case (an urgent one always does).
func isAdvert(req *bot.Request) bool {
	return !req.U.Urgent && isSpam(req.U.Norm)
}

// isSpam reports whether norm reads as an advert: at least two cues.
func isSpam(norm string) bool {
	n := 0
	lower := strings.ToLower(strings.ReplaceAll(norm, " ", ""))
	for _, c := range spamCues() {
		if strings.Contains(lower, c) {
			n++
		}
	}
	return n >= 2
}
