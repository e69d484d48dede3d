package handlers

import (
	"context"
	"fmt"
	"strings"

	"nuanjia/bot"
)

// Help turns a request for help into a case for the member's branch: the
// member gets its number and who has it, the branch's directors an alert.
// A bare "求助" first asks what happened. Without a case book (the say
// tool) the member gets the director's number.
type Help struct {
	Desk Desk
}

const (
	textUrgent       = "如果有危险，请马上打110；受伤或急病请打120；着火请打119。\n"
	textUrgentBody   = "受伤或急病请马上打120；有人威胁你的安全就打110。\n"
	textUrgentPolice = "有危险请马上打110，先到安全的地方。\n"
	textUrgentFire   = "着火或塌方请马上打119，有人受伤打120。先离开危险的地方。\n"
	textUrgentNeeds  = "没吃没住的，请马上告诉我们你在哪里；遇到危险打110。\n"
	textHelpDescribe = "请简单说说发生了什么，比如“老板拖欠工资三个月了”。我们马上转给计生协负责人。"
	textHelpOpened   = "收到你的求助，编号%d。已转给%s，负责人会尽快联系你；回复『我的求助』查看进度。\n你的会员号：%s"
	textHelpAdded    = "已加到你的求助（编号%d），负责人会看到。"
	textHelpFmt      = "收到你的求助。请直接联系%s，说明你的情况，我们会尽力帮你。"
	textHelpNoBook   = "收到你的求助，我们会转给计生协负责人。"
	textHelpWho      = "\n告诉我们你在哪里（地名或位置），可以找到离你最近的计生协。"
)

// Handle implements bot.Handler.
func (h Help) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	text := urgentAdvice(req.U)
	if req.Cases == nil {
		return bot.Reply{Text: text + h.directLine(req)}, nil
	}
	if bareHelp(req) || !worthACase(req.Msg.Text) {
		// Two characters say nothing a director could act on: ask.
		err := req.Cases.SetConversation(ctx, bot.Conversation{OpenID: req.Msg.OpenID, Topic: bot.TopicMember,
			State: stateDescribe, Until: h.Desk.now().Add(describeWait)})
		if err != nil {
			return bot.Reply{}, err
		}
		return bot.Reply{Text: text + textHelpDescribe}, nil
	}
	if isAdvert(req) {
		// "招聘…日结工资…加微信" reads as wages, but nobody needs help.
		h.Desk.dropAdvert(req)
		return bot.Reply{Text: textUnknown}, nil
	}
	k, opened, err := h.Desk.intake(ctx, req, bot.CaseHelp)
	if err != nil {
		return bot.Reply{}, err
	}
	return bot.Reply{Text: text + h.Desk.intakeReply(k, opened)}, nil
}

// intakeReply tells the member where their words went.
func (d Desk) intakeReply(k bot.Case, opened bool) string {
	if !opened {
		return fmt.Sprintf(textHelpAdded, k.Number)
	}
	return fmt.Sprintf(textHelpOpened, k.Number, shortName(d.branch(k.BranchID)), memberNoText(k.MemberNo))
}

// directLine is the director to call, for a bot without a case book.
func (h Help) directLine(req *bot.Request) string {
	text := textHelpNoBook
	if b, ok := branchOrCounty(h.Desk.Knowledge, req); ok {
		text = fmt.Sprintf(textHelpFmt, contactLine(b))
	}
	if _, known := branchFor(h.Desk.Knowledge, req); !known {
		text += textHelpWho
	}
	return text
}

// bareHelp reports whether the member only asked for help without saying
// what happened: the menu's 求助, or a few characters such as "求助",
// "救命", "帮帮我".
func bareHelp(req *bot.Request) bool {
	if req.Msg.Type == bot.TypeEvent {
		return true
	}
	t := strings.Map(func(r rune) rune {
		if strings.ContainsRune("，。！!？?、 ~…", r) {
			return -1
		}
		return r
	}, req.U.Norm)
	if t == "" {
		t = strings.TrimSpace(req.Msg.Text)
	}
	for _, w := range []string{"我要求助", "我想求助", "求助", "求救", "救命", "救救我", "帮帮我", "帮帮忙", "帮忙", "help", "sos", "qiuzhu", "jiuming"} {
		if strings.EqualFold(t, w) {
			return true
		}
	}
	return false
}

// urgentAdvice is the line an urgent reply starts with: the emergency
// number that fits the danger, or all three when the bot is not sure which.
func urgentAdvice(u bot.Understanding) string {
	if !u.Urgent {
		return ""
	}
	switch u.Danger {
	case bot.DangerMedical:
		return textUrgentBody
	case bot.DangerPolice:
		return textUrgentPolice
	case bot.DangerFire:
		return textUrgentFire
	case bot.DangerNeeds:
		return textUrgentNeeds
	}
	return textUrgent
}
