package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"nuanjia/bot"
)

// CaseSettings are how the case desk reaches directors and how long it
// waits for them. cmd fills them from the configuration.
type CaseSettings struct {
	// AlertTemplate is the template of a new-case alert to directors
	// (WECHAT_TEMPLATE_CASE_ALERT, "" for none: customer-service only).
	// AlertFields are its keyword keys, in order: number, category,
	// urgency, the member's first words.
	AlertTemplate string
	AlertFields   [4]string
	// UpdateTemplate tells a member what happened to their case outside
	// the 48-hour window (WECHAT_TEMPLATE_CASE_UPDATE). UpdateFields:
	// number, status, the words.
	UpdateTemplate string
	UpdateFields   [3]string

	AcceptSLA       time.Duration // CASE_ACCEPT_SLA: open this long, the county is told
	UrgentAcceptSLA time.Duration // CASE_URGENT_ACCEPT_SLA: the same for urgent cases
	ReplySLA        time.Duration // CASE_REPLY_SLA: accepted this long without a reply, the assignee is reminded
	QuestionBatch   time.Duration // CASE_QUESTION_BATCH: questions wait this long to be alerted together
}

// Desk is what the case handlers share: which branch a case belongs to,
// who its directors are, and the messages that tell them and the member.
type Desk struct {
	Knowledge Knowledge
	Choices   bot.ChoiceMemory
	Settings  CaseSettings
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Zone is the association's time zone for times shown (nil: UTC+8).
	Zone *time.Location
	// Log counts adverts dropped without a case (nil: not counted).
	Log *slog.Logger
}

func (d Desk) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// How long the bot waits for an answer it asked for.
const (
	describeWait = 30 * time.Minute   // what happened, after a bare 求助
	rateWait     = 7 * 24 * time.Hour // the rating after a close
	focusWait    = 30 * time.Minute   // a director's case in conversation
)

// Member conversation states.
const (
	stateDescribe = "describe" // waiting for what happened
	stateRate     = "rate"     // waiting for 1 满意 / 2 不满意
	stateFocus    = "focus"    // a director is on one case
	stateConfirm  = "confirm"  // a director's plain message waits for "1"
)

// caseBranch is where a new case goes: the member's branch, else the
// place named in the message, else the branch nearest a location they
// sent, else the county.
func (d Desk) caseBranch(ctx context.Context, req *bot.Request) (bot.Branch, error) {
	if req.Member.BranchID != nil {
		if b, ok := d.Knowledge.Branch(*req.Member.BranchID); ok {
			return b, nil
		}
	}
	if req.U.Branch != "" {
		if b, ok := d.Knowledge.Branch(req.U.Branch); ok {
			return b, nil
		}
	}
	lat, lng, ok, err := req.Cases.LastLocation(ctx, req.Msg.OpenID)
	if err != nil {
		return bot.Branch{}, err
	}
	if ok {
		if b, _, ok := d.Knowledge.Nearest(lat, lng); ok {
			return b, nil
		}
	}
	return d.county(), nil
}

// county is the county association, or a stand-in with its id when the
// knowledge base has none (the case still belongs somewhere).
func (d Desk) county() bot.Branch {
	if b, ok := d.Knowledge.Branch(bot.CountyBranchID); ok {
		return b
	}
	return bot.Branch{ID: bot.CountyBranchID, Name: "县计生协"}
}

// branch is a case's branch, or the county's when the knowledge base no
// longer has it.
func (d Desk) branch(id string) bot.Branch {
	if b, ok := d.Knowledge.Branch(id); ok {
		return b
	}
	return d.county()
}

// countyDirectors are the directors who act on every branch: the county
// association's, and anyone the knowledge base marks county.
func (d Desk) countyDirectors() []bot.Director {
	var out []bot.Director
	seen := map[string]bool{}
	for _, b := range d.Knowledge.Knowledge().Branches {
		for _, dir := range b.Directors {
			if dir.OpenID != "" && !seen[dir.OpenID] && (dir.County || b.ID == bot.CountyBranchID) {
				seen[dir.OpenID] = true
				out = append(out, dir)
			}
		}
	}
	return out
}

// reachable are a branch's directors the bot can message.
func reachable(b bot.Branch) []bot.Director {
	var out []bot.Director
	for _, dir := range b.Directors {
		if dir.OpenID != "" {
			out = append(out, dir)
		}
	}
	return out
}

// Role is what a director may do: their name, and the branches whose
// cases they act on (County: all of them).
type Role struct {
	Name     string
	Branches []string
	County   bool
}

// roleOf is openID's role, if the knowledge base lists them as a director.
func (d Desk) roleOf(openID string) (Role, bool) {
	if openID == "" {
		return Role{}, false
	}
	var r Role
	found := false
	for _, b := range d.Knowledge.Knowledge().Branches {
		for _, dir := range b.Directors {
			if dir.OpenID != openID {
				continue
			}
			found = true
			r.Name = dir.Name
			r.Branches = append(r.Branches, b.ID)
			if dir.County || b.ID == bot.CountyBranchID {
				r.County = true
			}
		}
	}
	return r, found
}

// mayAct reports whether r may see and change case k.
func (r Role) mayAct(k bot.Case) bool {
	if r.County {
		return true
	}
	for _, id := range r.Branches {
		if id == k.BranchID {
			return true
		}
	}
	return false
}

// directorName is the name of the director with openID, or a neutral word.
func (d Desk) directorName(openID string) string {
	if r, ok := d.roleOf(openID); ok && r.Name != "" {
		return r.Name
	}
	return "负责人"
}

// shortName is how members and directors say a branch: "新州镇计生协" for
// 安龙县驻隆林新州镇流动人口计生协.
func shortName(b bot.Branch) string {
	name := strings.ReplaceAll(b.Name, "流动人口", "")
	if _, after, ok := strings.Cut(name, "驻"); ok && utf8.RuneCountInString(after) > 2 {
		// "驻隆林" names the county they are in; the town after it is
		// what people say.
		_, size := utf8.DecodeRuneInString(after)
		_, size2 := utf8.DecodeRuneInString(after[size:])
		name = after[size+size2:]
	}
	if name == "" {
		return b.ID
	}
	return name
}

// categoryOf reads a case's category from the member's words (normalised).
// The first list that matches wins, in this order: harm to a body before
// money, because an injured worker who is also unpaid needs the injury
// seen first.
func categoryOf(norm string) string {
	cues := []struct {
		category string
		words    []string
	}{
		{bot.CategoryInjury, []string{"受伤", "工伤", "摔", "砸", "骨折", "流血", "出血", "住院", "医院", "生病", "病了", "发烧", "中毒", "疼", "痛", "伤"}},
		{bot.CategoryRights, []string{"打我", "被打", "打人", "家暴", "威胁", "骗", "扣押", "强迫", "报警", "欺负", "侵权", "维权", "性骚扰", "不让走"}},
		{bot.CategoryWages, []string{"工资", "工钱", "欠薪", "拖欠", "血汗钱", "不给钱", "没发钱", "结账", "讨薪", "赔偿", "辞退", "裁员"}},
		{bot.CategorySchool, []string{"上学", "入学", "学校", "读书", "转学", "学位", "幼儿园", "借读"}},
		{bot.CategoryDocuments, []string{"身份证", "户口", "居住证", "证明", "证件", "准生证", "出生证", "办证", "社保卡"}},
		{bot.CategoryLivelihood, []string{"生意", "摊", "店", "门面", "贷款", "找工作", "没活", "失业", "没饭吃", "房租", "住的地方"}},
		{bot.CategoryFamily, []string{"老婆", "老公", "孩子", "小孩", "老人", "离婚", "怀孕", "结婚", "父母", "家里"}},
	}
	for _, c := range cues {
		for _, w := range c.words {
			if strings.Contains(norm, w) {
				return c.category
			}
		}
	}
	return bot.CategoryOther
}

// categoryName is a category as directors and members read it, at most
// four characters so it fits a template's short fields.
func categoryName(c string) string {
	switch c {
	case bot.CategoryWages:
		return "欠薪"
	case bot.CategoryInjury:
		return "伤病"
	case bot.CategorySchool:
		return "子女上学"
	case bot.CategoryRights:
		return "维权"
	case bot.CategoryLivelihood:
		return "生计"
	case bot.CategoryDocuments:
		return "证件"
	case bot.CategoryFamily:
		return "家庭"
	}
	return "其他"
}

// statusName is a case's status in a director's or member's words.
func statusName(k bot.Case) string {
	switch k.Status {
	case bot.CaseOpen:
		return "待受理"
	case bot.CaseAccepted:
		return "处理中"
	case bot.CaseClosed:
		return "已结案"
	}
	return k.Status
}

// kindName says whether a case is a help request or a question.
func kindName(k bot.Case) string {
	if k.Kind == bot.CaseQuestion {
		return "问题"
	}
	return "求助"
}

// Limits of WeChat's template keyword values (its 2023 rules): a thing
// at most 20 characters, a phrase at most 5 (Chinese), a
// character_string at most 32; none may hold a line break.
const (
	thingMax  = 20
	phraseMax = 5
	stringMax = 32
)

// templateValue fits s to the limit of WeChat's field type named by key's
// prefix (thing, phrase, character_string, …).
func templateValue(key, s string) string {
	s = strings.Join(strings.Fields(s), " ")
	limit := thingMax
	switch {
	case strings.HasPrefix(key, "phrase"):
		limit = phraseMax
	case strings.HasPrefix(key, "character_string"), strings.HasPrefix(key, "number"):
		limit = stringMax
	}
	return clip(s, limit)
}

// clip shortens s to at most n characters, marking a cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// urgencyWord is a case's urgency in a template's phrase field.
func urgencyWord(k bot.Case) string {
	if k.Urgent {
		return "紧急"
	}
	return "一般"
}

// Texts directors read.
const (
	textAlertFmt = "【新%s】编号%d%s\n类别：%s　会员号：%s\n支部：%s\n“%s”\n回复「接 %d」受理，「案件 %d」查看。"
	textMovedIn  = "（由%s转来）"
)

// memberNoText is a member number as shown, or "—" for a member erased.
func memberNoText(n int64) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

// alertSends tell b's directors about case k: a template message when one
// is configured, falling back to a customer-service message (WeChat
// refusing the template, or none configured), and never sent twice: a
// send whose fate is unknown is given up, and the case clock tells the
// county of an alert that reached nobody. A branch with no director the
// bot can message alerts the county's instead; unreached is then true.
func (d Desk) alertSends(k bot.Case, b bot.Branch, kind, note string) (sends []bot.Send, unreached bool) {
	to := reachable(b)
	if len(to) == 0 {
		to, unreached = d.countyDirectors(), true
	}
	urgent := ""
	if k.Urgent {
		urgent = "【紧急】"
	}
	text := fmt.Sprintf(textAlertFmt, kindName(k), k.Number, urgent, categoryName(k.Category),
		memberNoText(k.MemberNo), shortName(b), clip(k.Summary, 60), k.Number, k.Number)
	if note != "" {
		text = note + "\n" + text
	}
	for _, dir := range to {
		snd := bot.Send{OpenID: dir.OpenID, Kind: kind, Channel: bot.ChannelCustomerService,
			Text: text, CaseID: k.ID, AtMostOnce: true}
		if tpl := d.alertTemplate(k); tpl != nil {
			snd.Channel, snd.Fallback, snd.Template = bot.ChannelTemplate, bot.ChannelCustomerService, tpl
		}
		sends = append(sends, snd)
	}
	return sends, unreached
}

// alertTemplate is the alert as a template message, nil when none is
// configured. It has no URL: there is no page to open until the
// directors' H5 pages exist.
func (d Desk) alertTemplate(k bot.Case) *bot.Template {
	id := d.Settings.AlertTemplate
	if id == "" {
		return nil
	}
	f := d.Settings.AlertFields
	values := [4]string{fmt.Sprint(k.Number), categoryName(k.Category), urgencyWord(k), k.Summary}
	data := map[string]string{}
	for i, key := range f {
		if key != "" {
			data[key] = templateValue(key, values[i])
		}
	}
	return &bot.Template{ID: id, Data: data}
}

// alert writes case k's alert to its branch's directors in the
// transaction, and logs it. The branch named by moved (if any) is where it
// came from.
func (d Desk) alert(ctx context.Context, cases bot.Cases, k *bot.Case, note string) error {
	b := d.branch(k.BranchID)
	sends, unreached := d.alertSends(*k, b, bot.KindAlert, note)
	if err := cases.Enqueue(ctx, sends); err != nil {
		return err
	}
	now := d.now()
	k.AlertedAt = &now
	if unreached {
		// Nobody at the branch can be messaged: the county was alerted
		// instead, which is what the clock would do later.
		if err := d.markUnreached(ctx, cases, k, b); err != nil {
			return err
		}
	}
	if err := cases.Log(ctx, k.ID, bot.ActionAlerted, bot.ActorBot, fmt.Sprintf("通知%d人", len(sends))); err != nil {
		return err
	}
	return cases.SaveCase(ctx, *k)
}

// markUnreached records on k that its branch b has nobody the bot can
// message, so the county was alerted instead.
func (d Desk) markUnreached(ctx context.Context, cases bot.Cases, k *bot.Case, b bot.Branch) error {
	now := d.now()
	k.UnreachedAt = &now
	return cases.Log(ctx, k.ID, bot.ActionUnreached, bot.ActorBot, shortName(b)+"没有可通知的负责人，通知县计生协")
}

// Texts members read about their case.
const (
	textNoticeHead = "【你的求助·编号%d】"
)

// tellMember is a message to case k's member about it: customer-service
// inside the 48-hour window, else the update template if one is
// configured, whose short field carries words ("" for the start of text).
// ok is false when neither can reach them.
func (d Desk) tellMember(ctx context.Context, cases bot.Cases, k bot.Case, kind, status, text, words string) (bot.Send, bool, error) {
	if k.OpenID == "" {
		return bot.Send{}, false, nil // erased
	}
	m, found, err := cases.MemberOf(ctx, k.OpenID)
	if err != nil {
		return bot.Send{}, false, err
	}
	snd := bot.Send{OpenID: k.OpenID, Kind: kind, CaseID: k.ID,
		Text: fmt.Sprintf(textNoticeHead, k.Number) + text}
	if words == "" {
		words = text
	}
	tpl := d.updateTemplate(k, status, words)
	inWindow := found && m.InWindow(d.now())
	switch {
	case inWindow:
		snd.Channel = bot.ChannelCustomerService
		if tpl != nil {
			snd.Fallback = bot.ChannelTemplate
			snd.Template = tpl
		}
	case tpl != nil:
		snd.Channel, snd.Template = bot.ChannelTemplate, tpl
	default:
		return bot.Send{}, false, nil
	}
	return snd, true, nil
}

// updateTemplate is a member's case update as a template message.
func (d Desk) updateTemplate(k bot.Case, status, text string) *bot.Template {
	id := d.Settings.UpdateTemplate
	if id == "" {
		return nil
	}
	values := [3]string{fmt.Sprint(k.Number), status, text}
	data := map[string]string{}
	for i, key := range d.Settings.UpdateFields {
		if key != "" {
			data[key] = templateValue(key, values[i])
		}
	}
	return &bot.Template{ID: id, Data: data}
}

// forgetChoice drops a numbered question the bot asked openID, so that
// their next "1" or "2" answers the conversation just started instead.
func (d Desk) forgetChoice(ctx context.Context, openID string) {
	if d.Choices != nil {
		_, _, _ = d.Choices.TakePendingChoice(ctx, openID) // a stale question is harmless if it stays
	}
}

// dropAdvert counts an advert that opens no case. The openid may be
// logged, the words never.
func (d Desk) dropAdvert(req *bot.Request) {
	if d.Log != nil {
		d.Log.Info("advert dropped without a case", "openid", req.Msg.OpenID, "intent", string(req.U.Intent))
	}
}
