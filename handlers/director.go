package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"nuanjia/bot"
)

// Directors serves the commands directors work cases with, by message:
// 案件, 案件 N, 接 N, 回 N 内容, 记 N 内容, 转 N 地方, 结 N 说明, 重开 N,
// 帮助. Only an openid the knowledge base lists as a director gets here;
// everyone else, and a director's other messages, get the member
// experience. A branch director acts on their branch's cases, a county
// director on all.
type Directors struct {
	Desk Desk
	// Places reads a place in 转 N 者保 the way members' messages are read.
	Places bot.Understander
}

// A director's command, as typed.
type command struct {
	verb   string // one of the verb constants
	number int64  // the case number, 0 for none
	rest   string // what follows the number
}

// Command verbs.
const (
	verbList   = "list"
	verbView   = "view"
	verbAccept = "accept"
	verbReply  = "reply"
	verbNote   = "note"
	verbMove   = "move"
	verbClose  = "close"
	verbReopen = "reopen"
	verbFix    = "fix"
	verbHelp   = "help"
)

// Texts directors read.
const (
	textDirHelp = "负责人命令（编号是案件号）：\n" +
		"案件　我的待办，紧急的在前\n" +
		"案件 123　看案件和最近消息\n" +
		"接 123　受理\n" +
		"回 123 内容　回复会员\n" +
		"记 123 内容　内部备注\n" +
		"转 123 者保　转给别的支部\n" +
		"结 123 说明　结案\n" +
		"重开 123　重新打开\n" +
		"访视命令　上门访视的命令（访、确认、改、访毕、取消、今日访视）\n" +
		"改 123 政策　纠正机器人的理解（求助/政策/联系/访视/进度/无关），或类别（欠薪/伤病/上学/维权/生计/证件/家庭/其他）"
	textDirNotFound   = "没有找到你能处理的编号%d案件。"
	textDirNeedNumber = "请带上案件编号，比如「%s 123」。"
	textDirNeedText   = "请写上内容，比如「%s %d 已联系老板」。"
	textDirNone       = "现在没有待处理的案件。"
	textDirListHead   = "待处理案件%d件："
	textDirListLine   = "\n%d %s%s %s %s"
	textDirListMore   = "\n只列出前%d件。回复「案件 编号」查看。"
	textDirAccepted   = "你已受理编号%d。回复「回 %d 内容」答复会员。"
	textDirTakenBy    = "编号%d已由%s受理。"
	textDirIsClosed   = "编号%d已结案。要继续请先「重开 %d」。"
	textDirReplied    = "已发给会员（编号%d）。"
	textDirNoReach    = "会员超过48小时没发消息，微信不让客服消息送达，也没有配置模板消息：发不出去。请打电话联系。"
	textDirNoted      = "已记下（只有负责人能看到）。"
	textDirMovedFmt   = "编号%d已转给%s，已通知那边的负责人。"
	textDirNoPlace    = "没认出要转到哪个支部，请写地名，比如「转 %d 者保」。"
	textDirSamePlace  = "编号%d本来就在%s。"
	textDirClosed     = "编号%d已结案，已告诉会员并请他评价。"
	textDirReopened   = "编号%d已重新打开。"
	textDirNotClosed  = "编号%d没有结案，不用重开。"
	textDirConfirm    = "要把这句话发给会员（编号%d）吗？回复 1 发送；不发就不用管。"
	textDirNoMember   = "会员的信息已删除，无法联系。"
	textDirNotSent    = "好的，没有发送。"
	textDirFixedAs    = "已记下：编号%d是%s。以后训练时机器人会学到。"
	textDirFixedCat   = "已改：编号%d的类别是%s。"
	textDirFixWhat    = "改成什么？比如「改 %d 政策」「改 %d 求助」，或类别「改 %d 欠薪」。"
	textDirViewHead   = "编号%d %s%s %s\n会员号：%s　支部：%s\n状态：%s%s\n“%s”"
	textDirViewAction = "\n%s %s%s"
	textDirEvidence   = "\n会员发来的%d个文件见下条。"
)

// Texts members read when a director acts.
const (
	textMemberAccepted = "%s%s已受理，会尽快联系你。"
	textMemberReply    = "%s回复：%s\n有话直接回复这里。"
	textMemberMoved    = "已转给%s，那边的负责人会联系你。"
	textMemberClosed   = "已结案：%s\n" + textRateQuestion
	textRateShort      = "满意请回复1，不满意回复2"
	textMemberReopened = "已重新打开，负责人会继续跟进。"
)

// How many cases 案件 lists, and how many actions 案件 N shows.
const (
	listedCases  = 8
	shownActions = 6
	resentMedia  = 3 // WeChat allows 5 customer-service messages per member message; keep room for the text
)

// Intercept implements bot.Interceptor.
func (d Directors) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText {
		return bot.Reply{}, false, nil
	}
	role, ok := d.Desk.roleOf(req.Msg.OpenID)
	if !ok {
		return bot.Reply{}, false, nil
	}
	if c, ok := parseCommand(req.Msg.Text); ok {
		reply, err := d.run(ctx, req, role, c)
		return bot.Reply{Text: reply}, err == nil, err
	}
	return d.plainMessage(ctx, req, role)
}

// run carries out one command.
func (d Directors) run(ctx context.Context, req *bot.Request, role Role, c command) (string, error) {
	if c.verb == verbHelp {
		return textDirHelp, nil
	}
	if c.verb == verbList {
		return d.list(ctx, req, role)
	}
	name := verbWord(c.verb)
	if c.number == 0 {
		return fmt.Sprintf(textDirNeedNumber, name), nil
	}
	k, found, err := req.Cases.CaseByNumber(ctx, c.number)
	if err != nil {
		return "", err
	}
	if !found || !role.mayAct(k) {
		// The same words whether it does not exist or is another
		// branch's: a director learns nothing of cases not theirs.
		return fmt.Sprintf(textDirNotFound, c.number), nil
	}
	switch c.verb {
	case verbView:
		return d.view(ctx, req, k)
	case verbAccept:
		return d.accept(ctx, req, &k)
	case verbReply, verbNote, verbClose:
		if c.rest == "" && c.verb != verbClose {
			return fmt.Sprintf(textDirNeedText, name, c.number), nil
		}
		switch c.verb {
		case verbReply:
			return d.reply(ctx, req, &k, c.rest)
		case verbNote:
			if err := req.Cases.Log(ctx, k.ID, bot.ActionNote, req.Msg.OpenID, c.rest); err != nil {
				return "", err
			}
			return textDirNoted, nil
		}
		return d.close(ctx, req, &k, c.rest)
	case verbMove:
		return d.move(ctx, req, &k, c.rest)
	case verbFix:
		return d.fix(ctx, req, &k, c.rest)
	case verbReopen:
		if k.Status != bot.CaseClosed {
			return fmt.Sprintf(textDirNotClosed, k.Number), nil
		}
		if err := d.Desk.reopen(ctx, req.Cases, &k, req.Msg.OpenID); err != nil {
			return "", err
		}
		if err := d.dropRating(ctx, req.Cases, k); err != nil {
			return "", err
		}
		if err := d.tell(ctx, req.Cases, k, "处理中", textMemberReopened); err != nil {
			return "", err
		}
		return fmt.Sprintf(textDirReopened, k.Number), d.focus(ctx, req, k)
	}
	return textDirHelp, nil
}

// list is the director's open and accepted cases, urgent first.
func (d Directors) list(ctx context.Context, req *bot.Request, role Role) (string, error) {
	q := bot.CaseQuery{Statuses: []string{bot.CaseOpen, bot.CaseAccepted}, Limit: listedCases}
	if !role.County {
		q.Branches = role.Branches
	}
	ks, total, err := req.Cases.FindCases(ctx, q)
	if err != nil {
		return "", err
	}
	if total == 0 {
		return textDirNone, nil
	}
	branches := "all"
	if q.Branches != nil {
		branches = strings.Join(q.Branches, ",")
	}
	if err := req.Cases.Audit(ctx, bot.AuditEntry{Actor: req.Msg.OpenID, What: bot.AuditCaseList,
		Detail: "status=" + strings.Join(q.Statuses, ",") + " branch=" + branches}); err != nil {
		return "", err
	}
	var s strings.Builder
	fmt.Fprintf(&s, textDirListHead, total)
	for _, k := range ks {
		urgent := ""
		if k.Urgent {
			urgent = "【紧急】"
		}
		fmt.Fprintf(&s, textDirListLine, k.Number, urgent, categoryName(k.Category), statusName(k), d.Desk.age(k.CreatedAt))
	}
	if total > len(ks) {
		fmt.Fprintf(&s, textDirListMore, len(ks))
	}
	return s.String(), nil
}

// view shows a case with its last actions, puts it in conversation, and
// re-sends the member's media WeChat still holds. The look is audited in
// the same transaction as the reply.
func (d Directors) view(ctx context.Context, req *bot.Request, k bot.Case) (string, error) {
	if err := req.Cases.Audit(ctx, bot.AuditEntry{Actor: req.Msg.OpenID, Subject: k.OpenID,
		What: bot.AuditCaseView, Detail: fmt.Sprintf("case %d", k.Number)}); err != nil {
		return "", err
	}
	urgent := ""
	if k.Urgent {
		urgent = "【紧急】"
	}
	who := ""
	if k.Assignee != "" {
		who = "（" + d.Desk.directorName(k.Assignee) + "）"
	}
	var s strings.Builder
	fmt.Fprintf(&s, textDirViewHead, k.Number, urgent, kindName(k), categoryName(k.Category),
		memberNoText(k.MemberNo), shortName(d.Desk.branch(k.BranchID)), statusName(k), who, clip(k.Summary, 80))
	acts, err := req.Cases.LastActions(ctx, k.ID, shownActions)
	if err != nil {
		return "", err
	}
	for _, a := range acts {
		text := ""
		if t := actionText(a); t != "" {
			text = "：" + clip(t, 40)
		}
		fmt.Fprintf(&s, textDirViewAction, d.Desk.shortTime(a.At), d.actionWords(a, k), text)
	}
	ev, err := req.Cases.CaseEvidence(ctx, k.ID)
	if err != nil {
		return "", err
	}
	var media []bot.Send
	for _, e := range ev {
		mk := sendableKind(e.Kind)
		if mk == "" || e.MediaID == "" || !e.Expires.After(d.Desk.now()) || len(media) == resentMedia {
			continue
		}
		media = append(media, bot.Send{OpenID: req.Msg.OpenID, Kind: bot.KindRelay, Channel: bot.ChannelCustomerService,
			CaseID: k.ID, MediaKind: mk, MediaID: e.MediaID})
	}
	if len(media) > 0 {
		fmt.Fprintf(&s, textDirEvidence, len(media))
		if err := req.Cases.Enqueue(ctx, media); err != nil {
			return "", err
		}
	}
	return s.String(), d.focus(ctx, req, k)
}

// actionWords says who did what in a case's log.
func (d Directors) actionWords(a bot.CaseAction, k bot.Case) string {
	who := "系统"
	switch a.Actor {
	case bot.ActorBot:
	case k.OpenID:
		who = "会员"
	default:
		who = d.Desk.directorName(a.Actor)
	}
	words := map[string]string{
		bot.ActionOpened: "提出", bot.ActionMessage: "补充", bot.ActionEvidence: "发来文件",
		bot.ActionAlerted: "通知负责人", bot.ActionAccepted: "受理", bot.ActionNote: "备注",
		bot.ActionReply: "回复", bot.ActionRelayed: "转达", bot.ActionMoved: "转支部",
		bot.ActionClosed: "结案", bot.ActionReopened: "重开", bot.ActionEscalated: "上报县协会",
		bot.ActionReminded: "提醒回复", bot.ActionUnreached: "通知未送达", bot.ActionRated: "评价",
		bot.ActionCorrected: "纠正",
	}[a.Action]
	if words == "" {
		words = a.Action
	}
	return who + words
}

// actionText is an action's text as a director reads it: the log keeps
// a media push's type ("image") and a rating's number.
func actionText(a bot.CaseAction) string {
	switch a.Action {
	case bot.ActionEvidence:
		return mediaName(a.Text)
	case bot.ActionRated:
		switch a.Text {
		case "1":
			return "满意"
		case "2":
			return "不满意"
		}
	}
	return a.Text
}

// accept makes the director the case's assignee.
func (d Directors) accept(ctx context.Context, req *bot.Request, k *bot.Case) (string, error) {
	switch {
	case k.Status == bot.CaseClosed:
		return fmt.Sprintf(textDirIsClosed, k.Number, k.Number), nil
	case k.Status == bot.CaseAccepted && k.Assignee == req.Msg.OpenID:
		return fmt.Sprintf(textDirAccepted, k.Number, k.Number), d.focus(ctx, req, *k)
	case k.Status == bot.CaseAccepted:
		return fmt.Sprintf(textDirTakenBy, k.Number, d.Desk.directorName(k.Assignee)), nil
	}
	if err := d.take(ctx, req, k); err != nil {
		return "", err
	}
	b := d.Desk.branch(k.BranchID)
	if err := d.tell(ctx, req.Cases, *k, "已受理",
		fmt.Sprintf(textMemberAccepted, shortName(b), d.Desk.directorName(req.Msg.OpenID))); err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirAccepted, k.Number, k.Number), d.focus(ctx, req, *k)
}

// take records the director accepting k.
func (d Directors) take(ctx context.Context, req *bot.Request, k *bot.Case) error {
	now := d.Desk.now()
	k.Status, k.Assignee, k.AcceptedAt = bot.CaseAccepted, req.Msg.OpenID, &now
	if err := req.Cases.SaveCase(ctx, *k); err != nil {
		return err
	}
	return req.Cases.Log(ctx, k.ID, bot.ActionAccepted, req.Msg.OpenID, "")
}

// reply sends the director's words to the member. Replying to a case
// nobody accepted yet accepts it: that is what the director is doing.
func (d Directors) reply(ctx context.Context, req *bot.Request, k *bot.Case, words string) (string, error) {
	if k.Status == bot.CaseClosed {
		return fmt.Sprintf(textDirIsClosed, k.Number, k.Number), nil
	}
	if k.OpenID == "" {
		return textDirNoMember, nil
	}
	if k.Status == bot.CaseOpen {
		if err := d.take(ctx, req, k); err != nil {
			return "", err
		}
	}
	snd, ok, err := d.Desk.tellMember(ctx, req.Cases, *k, bot.KindCaseReply, "有回复",
		fmt.Sprintf(textMemberReply, d.Desk.directorName(req.Msg.OpenID), words), words)
	if err != nil {
		return "", err
	}
	if !ok {
		if err := req.Cases.Log(ctx, k.ID, bot.ActionNote, bot.ActorBot, "回复发不出去："+words); err != nil {
			return "", err
		}
		return textDirNoReach, d.focus(ctx, req, *k)
	}
	if err := req.Cases.Enqueue(ctx, []bot.Send{snd}); err != nil {
		return "", err
	}
	now := d.Desk.now()
	k.LastReplyAt = &now
	if err := req.Cases.SaveCase(ctx, *k); err != nil {
		return "", err
	}
	if err := req.Cases.Log(ctx, k.ID, bot.ActionReply, req.Msg.OpenID, words); err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirReplied, k.Number), d.focus(ctx, req, *k)
}

// move gives the case to the branch the words name; its directors are
// alerted and it waits to be accepted there.
func (d Directors) move(ctx context.Context, req *bot.Request, k *bot.Case, place string) (string, error) {
	if k.Status == bot.CaseClosed {
		return fmt.Sprintf(textDirIsClosed, k.Number, k.Number), nil
	}
	to, ok := d.branchNamed(place)
	if !ok {
		return fmt.Sprintf(textDirNoPlace, k.Number), nil
	}
	from := d.Desk.branch(k.BranchID)
	if to.ID == from.ID {
		return fmt.Sprintf(textDirSamePlace, k.Number, shortName(to)), nil
	}
	k.BranchID, k.Status, k.Assignee, k.AcceptedAt = to.ID, bot.CaseOpen, "", nil
	// The new branch gets its own time to accept, and its own check that
	// its alert reached someone.
	k.EscalatedAt, k.RemindedAt, k.UnreachedAt = nil, nil, nil
	if err := req.Cases.Log(ctx, k.ID, bot.ActionMoved, req.Msg.OpenID, shortName(from)+"→"+shortName(to)); err != nil {
		return "", err
	}
	if err := d.Desk.alert(ctx, req.Cases, k, fmt.Sprintf(textMovedIn, shortName(from))); err != nil {
		return "", err
	}
	if err := d.tell(ctx, req.Cases, *k, "已转交", fmt.Sprintf(textMemberMoved, shortName(to))); err != nil {
		return "", err
	}
	if err := req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicDirector); err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirMovedFmt, k.Number, shortName(to)), nil
}

// branchNamed is the branch a director's words name: its id, a place in
// it, or its name.
func (d Directors) branchNamed(place string) (bot.Branch, bool) {
	place = strings.TrimSpace(place)
	if place == "" {
		return bot.Branch{}, false
	}
	if b, ok := d.Desk.Knowledge.Branch(place); ok {
		return b, true
	}
	if strings.Contains(place, "县") && (strings.Contains(place, "协") || strings.Contains(place, "会")) {
		return d.Desk.county(), true
	}
	if d.Places != nil {
		if u := d.Places.Understand(place); u.Branch != "" {
			if b, ok := d.Desk.Knowledge.Branch(u.Branch); ok {
				return b, true
			}
		}
	}
	for _, b := range d.Desk.Knowledge.Knowledge().Branches {
		if strings.Contains(b.Name, place) || strings.Contains(shortName(b), place) {
			return b, true
		}
	}
	return bot.Branch{}, false
}

// close closes the case, tells the member and asks them to rate it.
func (d Directors) close(ctx context.Context, req *bot.Request, k *bot.Case, words string) (string, error) {
	if k.Status == bot.CaseClosed {
		return fmt.Sprintf(textDirIsClosed, k.Number, k.Number), nil
	}
	now := d.Desk.now()
	k.Status, k.ClosedAt, k.Rating = bot.CaseClosed, &now, 0
	if k.Assignee == "" {
		k.Assignee, k.AcceptedAt = req.Msg.OpenID, &now
	}
	if err := req.Cases.SaveCase(ctx, *k); err != nil {
		return "", err
	}
	if err := req.Cases.Log(ctx, k.ID, bot.ActionClosed, req.Msg.OpenID, words); err != nil {
		return "", err
	}
	if words == "" {
		words = "问题已处理"
	}
	// In a template only the rating question fits beside the status.
	if err := d.tellWith(ctx, req.Cases, *k, "已结案", fmt.Sprintf(textMemberClosed, words), textRateShort); err != nil {
		return "", err
	}
	if k.OpenID != "" {
		err := req.Cases.SetConversation(ctx, bot.Conversation{OpenID: k.OpenID, Topic: bot.TopicMember,
			State: stateRate, CaseID: k.ID, Until: now.Add(rateWait)})
		if err != nil {
			return "", err
		}
		d.Desk.forgetChoice(ctx, k.OpenID)
	}
	if err := req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicDirector); err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirClosed, k.Number), nil
}

// dropRating forgets the closing question the member of k was asked, now
// that k is open again: their next "1" or "2" is no rating of it.
func (d Directors) dropRating(ctx context.Context, cases bot.Cases, k bot.Case) error {
	if k.OpenID == "" {
		return nil
	}
	conv, ok, err := cases.Conversation(ctx, k.OpenID, bot.TopicMember)
	if err != nil || !ok || conv.State != stateRate || conv.CaseID != k.ID {
		return err
	}
	return cases.EndConversation(ctx, k.OpenID, bot.TopicMember)
}

// tell writes a notice to the case's member, when one can reach them.
func (d Directors) tell(ctx context.Context, cases bot.Cases, k bot.Case, status, text string) error {
	return d.tellWith(ctx, cases, k, status, text, "")
}

// tellWith is tell with the template's short field given.
func (d Directors) tellWith(ctx context.Context, cases bot.Cases, k bot.Case, status, text, words string) error {
	snd, ok, err := d.Desk.tellMember(ctx, cases, k, bot.KindCaseNotice, status, text, words)
	if err != nil || !ok {
		return err
	}
	return cases.Enqueue(ctx, []bot.Send{snd})
}

// focus puts k in conversation with the director for a while.
func (d Directors) focus(ctx context.Context, req *bot.Request, k bot.Case) error {
	return req.Cases.SetConversation(ctx, bot.Conversation{OpenID: req.Msg.OpenID, Topic: bot.TopicDirector,
		State: stateFocus, CaseID: k.ID, Until: d.Desk.now().Add(focusWait)})
}

// plainMessage handles a director's message that is no command: while a
// case is in conversation the first one is asked about, and "1" sends
// it; anything else is theirs as a member.
func (d Directors) plainMessage(ctx context.Context, req *bot.Request, role Role) (bot.Reply, bool, error) {
	conv, ok, err := req.Cases.Conversation(ctx, req.Msg.OpenID, bot.TopicDirector)
	if err != nil || !ok || conv.CaseID == 0 {
		return bot.Reply{}, false, err
	}
	k, found, err := req.Cases.CaseByID(ctx, conv.CaseID)
	if err != nil {
		return bot.Reply{}, false, err
	}
	if !found || !role.mayAct(k) || k.Status == bot.CaseClosed {
		return bot.Reply{}, false, req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicDirector)
	}
	text := strings.TrimSpace(req.Msg.Text)
	if conv.State == stateConfirm {
		pending := conv.Text
		conv.State, conv.Text = stateFocus, ""
		conv.Until = d.Desk.now().Add(focusWait)
		if strings.Trim(widthFold(text), " 。.!") == "1" {
			if err := req.Cases.SetConversation(ctx, conv); err != nil {
				return bot.Reply{}, false, err
			}
			reply, err := d.reply(ctx, req, &k, pending)
			return bot.Reply{Text: reply}, err == nil, err
		}
		if err := req.Cases.SetConversation(ctx, conv); err != nil {
			return bot.Reply{}, false, err
		}
		if clearOtherIntent(req.U) {
			// Asking for a contact card, say: the question is dropped
			// and the message is theirs, as a member's.
			return bot.Reply{}, false, nil
		}
		// Anything else is not a yes; said so, so a director never
		// wonders whether the member got it, and it opens no case of its own.
		return bot.Reply{Text: textDirNotSent}, true, nil
	}
	// Asked about even when it reads as another request: directors'
	// words to members ("明天我打电话给你") often do.
	conv.State, conv.Text, conv.Until = stateConfirm, text, d.Desk.now().Add(focusWait)
	if err := req.Cases.SetConversation(ctx, conv); err != nil {
		return bot.Reply{}, false, err
	}
	d.Desk.forgetChoice(ctx, req.Msg.OpenID)
	return bot.Reply{Text: fmt.Sprintf(textDirConfirm, k.Number)}, true, nil
}

// age is how long ago t was, in a director's words: "3小时前".
func (d Desk) age(t time.Time) string { return d.elapsed(t) + "前" }

// elapsed is how long since t: "25分钟", "3小时", "2天".
func (d Desk) elapsed(t time.Time) string {
	since := d.now().Sub(t)
	switch {
	case since < time.Hour:
		return fmt.Sprintf("%d分钟", int(since.Minutes()))
	case since < 48*time.Hour:
		return fmt.Sprintf("%d小时", int(since.Hours()))
	}
	return fmt.Sprintf("%d天", int(since.Hours()/24))
}

// verbWord is a verb as directors type it, for hints.
func verbWord(verb string) string {
	switch verb {
	case verbView:
		return "案件"
	case verbAccept:
		return "接"
	case verbReply:
		return "回"
	case verbNote:
		return "记"
	case verbMove:
		return "转"
	case verbClose:
		return "结"
	case verbReopen:
		return "重开"
	case verbFix:
		return "改"
	}
	return "帮助"
}

// parseCommand reads a director's command, forgiving about spaces,
// full-width digits and letters, a leading "#" and the longer words
// (受理, 回复, 备注, 转交, 结案). A verb that needs a number only counts
// when a number follows, so "回家了" stays a plain message.
func parseCommand(text string) (command, bool) {
	t := strings.TrimSpace(widthFold(text))
	t = strings.TrimSpace(strings.TrimLeft(t, "#"))
	if t != "" && strings.Trim(t, "?") == "" {
		// "?" or "？": trimmed below as punctuation, it would never match.
		return command{verb: verbHelp}, true
	}
	switch strings.Trim(t, "。.!！?？") {
	case "帮助", "命令", "菜单", "帮助命令":
		return command{verb: verbHelp}, true
	case "案件", "案子", "我的案件", "待办", "案件列表":
		return command{verb: verbList}, true
	}
	verbs := []struct{ word, verb string }{
		{"重新打开", verbReopen}, {"重开", verbReopen}, {"纠正", verbFix}, {"更正", verbFix}, {"改", verbFix},
		{"案件", verbView}, {"案子", verbView}, {"查看", verbView}, {"看", verbView},
		{"受理", verbAccept}, {"接", verbAccept},
		{"回复", verbReply}, {"回", verbReply},
		{"备注", verbNote}, {"记", verbNote},
		{"转交", verbMove}, {"转", verbMove},
		{"结案", verbClose}, {"结", verbClose},
	}
	for _, v := range verbs {
		n, rest, after, ok := cutVerbNumber(text, t, v.word)
		switch {
		case ok:
			return command{verb: v.verb, number: n, rest: rest}, true
		case after == nil:
			continue // not this verb
		case *after == "" && v.verb != verbView:
			return command{verb: v.verb}, true // "接" alone: ask for the number
		}
		return command{}, false
	}
	return command{}, false
}

// cutVerbNumber reads "<word> <number> <rest>" at the start of t, the
// director's text folded (widthFold) from text: the number, and the rest
// as typed. after is nil when t does not start with word, and otherwise
// what follows word when no number does.
func cutVerbNumber(text, t, word string) (n int64, rest string, after *string, ok bool) {
	tail, found := strings.CutPrefix(t, word)
	if !found {
		return 0, "", nil, false
	}
	tail = strings.TrimLeft(tail, " :：#号")
	digits := 0
	for digits < len(tail) && tail[digits] >= '0' && tail[digits] <= '9' {
		digits++
	}
	if digits == 0 {
		return 0, "", &tail, false
	}
	n, err := strconv.ParseInt(tail[:digits], 10, 64)
	if err != nil {
		return 0, "", &tail, false
	}
	return n, typedRest(text, tail[digits:]), &tail, true
}

// typedRest is what follows a command's number as the director typed it:
// folded is that tail of widthFold(text), which maps rune for rune and
// space to space, so the tail of text with as many runes is the same
// words with their own full-width punctuation and line breaks, which the
// member reads.
func typedRest(text, folded string) string {
	lead := func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(":：,，", r) }
	orig := []rune(strings.TrimRightFunc(text, unicode.IsSpace))
	n := utf8.RuneCountInString(folded)
	if n > len(orig) {
		// Cannot happen while widthFold maps rune for rune; the folded
		// words are still the director's.
		return strings.TrimSpace(strings.TrimLeftFunc(folded, lead))
	}
	return strings.TrimSpace(strings.TrimLeftFunc(string(orig[len(orig)-n:]), lead))
}

// widthFold turns full-width digits, letters, spaces and "#" into their
// ASCII forms, as a phone's Chinese keyboard types them.
func widthFold(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u3000':
			return ' '
		case r >= '！' && r <= '～':
			return r - '！' + '!'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, s)
}

// fix records a director's correction of what the bot made of a case:
// its intent (a labelled example for the next training, and the case's
// kind) or its category.
func (d Directors) fix(ctx context.Context, req *bot.Request, k *bot.Case, word string) (string, error) {
	word = strings.TrimSpace(word)
	correction := bot.Correction{CaseID: k.ID, OpenID: k.OpenID, Text: k.Summary, Actor: req.Msg.OpenID}
	if cat, ok := categoryNamed(word); ok {
		k.Category, correction.Category = cat, cat
		if err := req.Cases.SaveCase(ctx, *k); err != nil {
			return "", err
		}
		if err := req.Cases.Correct(ctx, correction); err != nil {
			return "", err
		}
		return fmt.Sprintf(textDirFixedCat, k.Number, categoryName(cat)), req.Cases.Log(ctx, k.ID, bot.ActionCorrected, req.Msg.OpenID, "类别："+categoryName(cat))
	}
	intent, name, ok := intentNamed(word)
	if !ok {
		return fmt.Sprintf(textDirFixWhat, k.Number, k.Number, k.Number), nil
	}
	correction.Intent = intent
	k.Kind = bot.CaseQuestion
	if intent == bot.IntentHelp {
		k.Kind = bot.CaseHelp
	}
	if err := req.Cases.SaveCase(ctx, *k); err != nil {
		return "", err
	}
	if err := req.Cases.Correct(ctx, correction); err != nil {
		return "", err
	}
	if err := req.Cases.Log(ctx, k.ID, bot.ActionCorrected, req.Msg.OpenID, "理解："+name); err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirFixedAs, k.Number, name), nil
}

// intentNamed reads the intent a director names, and how to say it back.
func intentNamed(word string) (bot.Intent, string, bool) {
	for _, n := range []struct {
		words  []string
		intent bot.Intent
		name   string
	}{
		{[]string{"求助", "帮忙", "困难"}, bot.IntentHelp, "求助"},
		{[]string{"政策", "咨询", "政策咨询"}, bot.IntentPolicy, "政策问题"},
		{[]string{"联系", "联系卡", "电话"}, bot.IntentContact, "要联系方式"},
		{[]string{"访视", "预约", "上门"}, bot.IntentVisit, "预约访视"},
		{[]string{"进度", "查询", "查进度"}, bot.IntentStatus, "查求助进度"},
		{[]string{"问候", "打招呼", "感谢"}, bot.IntentGreeting, "打招呼"},
		{[]string{"退订", "不要推送"}, bot.IntentStop, "不要推送"},
		{[]string{"删除", "删除信息"}, bot.IntentForget, "删除信息"},
		{[]string{"无关", "广告", "垃圾"}, bot.IntentUnknown, "无关消息"},
	} {
		for _, w := range n.words {
			if word == w {
				return n.intent, n.name, true
			}
		}
	}
	return "", "", false
}

// categoryNamed reads a category a director names (categoryName's words).
func categoryNamed(word string) (string, bool) {
	for _, c := range []string{bot.CategoryWages, bot.CategoryInjury, bot.CategorySchool, bot.CategoryRights,
		bot.CategoryLivelihood, bot.CategoryDocuments, bot.CategoryFamily, bot.CategoryOther} {
		if word == categoryName(c) || (c == bot.CategorySchool && word == "上学") {
			return c, true
		}
	}
	return "", false
}
