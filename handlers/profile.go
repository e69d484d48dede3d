package handlers

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"nuanjia/bot"
)

// Profile serves 我的信息 (the menu's button, or typed): exactly what is
// stored about the member, with their consent. Members keep it by short
// messages: 电话 13912345678, 老家 普坪镇, 我现在在者保乡 (which moves
// them to that branch after a one-tap confirmation, and their branch tag
// follows). Phone, hometown and city are kept only with consent.
// Directors see a member's profile with 会员 1001, for members of their
// branches (all, for the county), and each look is audited.
type Profile struct {
	Desk   Desk
	Places bot.Understander
	Phones bot.PhoneMasker
	// commands are the profile messages' shapes, compiled once.
	commands profileCommands
}

type profileCommands struct {
	phone, hometown, move, member *regexp.Regexp
}

// NewProfile compiles the profile commands.
func NewProfile(desk Desk, places bot.Understander) Profile {
	return Profile{Desk: desk, Places: places, Phones: bot.NewPhoneMasker(), commands: profileCommands{
		// Digits may arrive masked (*) from a member without consent: the
		// answer is then that nothing was kept, not a card.
		phone:    regexp.MustCompile(`^(?:我的)?(?:电话|手机|手机号|电话号码|联系电话|号码)(?:是|改成|改为|换成|[:：])?\s*([+0-9][0-9 *-]{1,18})$`),
		hometown: regexp.MustCompile(`^我?的?(?:老家|家乡|户籍)(?:是|在|[:：]|\s)?\s*(\S{1,10}?(?:乡|镇|村|县|市|街道|区|省))$`),
		move:     regexp.MustCompile(`^我?(?:现在在|现在到了|搬到了?|来到了?|到了)(\S{2,10}?)(?:了|打工|上班)?$`),
		member:   regexp.MustCompile(`^会员\s*(\d{3,9})$`),
	}}
}

const (
	textProfileNoDB     = "现在查不了你的信息，请稍后再试。"
	textProfileHead     = "你的信息（我们只保存这些）："
	textProfileNo       = "\n会员号：%s"
	textProfileBranch   = "\n计生协：%s"
	textProfilePhone    = "\n电话：%s"
	textProfileHome     = "\n老家：%s"
	textProfileCity     = "\n现在在：%s"
	textProfileConsent  = "\n保存电话、位置：%s"
	textProfileHint     = "\n改电话发「电话 号码」；删除全部发「删除我的信息」。"
	textNotSet          = "未留"
	textConsentGiven    = "已同意（%s）"
	textConsentRefused  = "未同意"
	textConsentNotAsked = "没回答过（回复「同意」或「不同意」）"
	textNeedConsent     = "你还没同意我们保存电话和住址，所以没有记下。\n要保存请先回复「同意」，再发一次。"
	textPhoneSaved      = "已记下你的电话：%s。"
	textPhoneBad        = "这个号码不像手机或座机号，请再发一次，比如「电话 13912345678」。"
	textHomeSaved       = "已记下你的老家：%s。"
	textCitySaved       = "已记下你现在在：%s。"
	textMoveAsk         = "要把你的计生协改成「%s」吗？回复 1 确认。"
	textMoved           = "已改好，你现在属于「%s」。"
	textDirMemberHead   = "会员%d：\n计生协：%s\n电话：%s\n老家：%s\n现在在：%s\n同意保存：%s"
	textDirNoSuchMember = "没有找到你能查看的会员%s。"
	stateMoveBranch     = "move_branch"
)

// Handle implements bot.Handler for the 我的信息 button.
func (p Profile) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Cases == nil {
		return bot.Reply{Text: textProfileNoDB}, nil
	}
	text, err := p.show(ctx, req)
	return bot.Reply{Text: text}, err
}

// Intercept implements bot.Interceptor: the profile's messages.
func (p Profile) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText {
		return bot.Reply{}, false, nil
	}
	t := strings.Trim(strings.TrimSpace(req.Msg.Text), "。.!！")
	reply := func(text string, err error) (bot.Reply, bool, error) {
		return bot.Reply{Text: text}, err == nil, err
	}
	switch t {
	case "我的信息", "我的资料", "个人信息", "查看我的信息", "我的个人信息":
		return reply(p.show(ctx, req))
	case "1":
		if conv, ok, err := req.Cases.Conversation(ctx, req.Msg.OpenID, bot.TopicMember); err != nil || (ok && conv.State == stateMoveBranch) {
			if err != nil {
				return bot.Reply{}, false, err
			}
			return reply(p.move(ctx, req, conv.Text))
		}
	}
	if m := p.commands.member.FindStringSubmatch(t); m != nil {
		if role, ok := p.Desk.roleOf(req.Msg.OpenID); ok {
			return reply(p.showMember(ctx, req, role, m[1]))
		}
	}
	if m := p.commands.phone.FindStringSubmatch(t); m != nil {
		return reply(p.setPhone(ctx, req, m[1]))
	}
	if m := p.commands.hometown.FindStringSubmatch(t); m != nil {
		return reply(p.setDetail(ctx, req, bot.FieldHometown, m[1], textHomeSaved))
	}
	if m := p.commands.move.FindStringSubmatch(t); m != nil {
		return reply(p.askMove(ctx, req, m[1]))
	}
	return bot.Reply{}, false, nil
}

// show is the member's own profile.
func (p Profile) show(ctx context.Context, req *bot.Request) (string, error) {
	no, err := req.Cases.MemberNo(ctx, req.Msg.OpenID)
	if err != nil {
		return "", err
	}
	pr, err := req.Cases.Profile(ctx, req.Msg.OpenID)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(textProfileHead)
	fmt.Fprintf(&b, textProfileNo, strconv.FormatInt(no, 10))
	fmt.Fprintf(&b, textProfileBranch, p.branchName(pr.BranchID))
	fmt.Fprintf(&b, textProfilePhone, orNotSet(pr.Phone))
	fmt.Fprintf(&b, textProfileHome, orNotSet(pr.Hometown))
	fmt.Fprintf(&b, textProfileCity, orNotSet(pr.City))
	fmt.Fprintf(&b, textProfileConsent, p.consentWords(pr))
	b.WriteString(textProfileHint)
	return b.String(), nil
}

func (p Profile) showMember(ctx context.Context, req *bot.Request, role Role, number string) (string, error) {
	no, _ := strconv.ParseInt(number, 10, 64)
	openID, pr, found, err := req.Cases.ProfileByNo(ctx, no)
	if err != nil {
		return "", err
	}
	branch := ""
	if pr.BranchID != nil {
		branch = *pr.BranchID
	}
	if !found || !(role.County || containsString(role.Branches, branch)) {
		return fmt.Sprintf(textDirNoSuchMember, number), nil
	}
	err = req.Cases.Audit(ctx, bot.AuditEntry{Actor: req.Msg.OpenID, Subject: openID, What: bot.AuditProfileView,
		Detail: "member " + number})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(textDirMemberHead, no, p.branchName(pr.BranchID), orNotSet(pr.Phone), orNotSet(pr.Hometown),
		orNotSet(pr.City), p.consentWords(pr)), nil
}

func (p Profile) setPhone(ctx context.Context, req *bot.Request, raw string) (string, error) {
	if !req.Member.Consented() {
		return textNeedConsent, nil
	}
	phone, ok := p.Phones.Valid(raw)
	if !ok {
		return textPhoneBad, nil
	}
	if err := req.Cases.SetProfile(ctx, req.Msg.OpenID, bot.FieldPhone, phone); err != nil {
		return "", err
	}
	return fmt.Sprintf(textPhoneSaved, phone), nil
}

func (p Profile) setDetail(ctx context.Context, req *bot.Request, field, value, saved string) (string, error) {
	if !req.Member.Consented() {
		return textNeedConsent, nil
	}
	if err := req.Cases.SetProfile(ctx, req.Msg.OpenID, field, value); err != nil {
		return "", err
	}
	return fmt.Sprintf(saved, value), nil
}

// askMove reads "我现在在者保乡": the city is kept (with consent), and a
// place naming another branch is offered as the member's new branch.
func (p Profile) askMove(ctx context.Context, req *bot.Request, place string) (string, error) {
	var saved string
	if req.Member.Consented() {
		if err := req.Cases.SetProfile(ctx, req.Msg.OpenID, bot.FieldCity, place); err != nil {
			return "", err
		}
		saved = fmt.Sprintf(textCitySaved, place)
	}
	var u bot.Understanding
	if p.Places != nil {
		u = p.Places.Understand(place)
	}
	current := ""
	if req.Member.BranchID != nil {
		current = *req.Member.BranchID
	}
	if u.Branch == "" || u.Branch == current {
		if saved == "" {
			return textNeedConsent, nil
		}
		return saved, nil
	}
	err := req.Cases.SetConversation(ctx, bot.Conversation{OpenID: req.Msg.OpenID, Topic: bot.TopicMember,
		State: stateMoveBranch, Text: u.Branch, Until: p.Desk.now().Add(forgetConfirmWait)})
	if err != nil {
		return "", err
	}
	ask := fmt.Sprintf(textMoveAsk, shortName(p.Desk.branch(u.Branch)))
	if saved != "" {
		return saved + "\n" + ask, nil
	}
	return ask, nil
}

func (p Profile) move(ctx context.Context, req *bot.Request, branchID string) (string, error) {
	if err := req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember); err != nil {
		return "", err
	}
	if err := req.Cases.SetBranch(ctx, req.Msg.OpenID, branchID); err != nil {
		return "", err
	}
	return fmt.Sprintf(textMoved, shortName(p.Desk.branch(branchID))), nil
}

func (p Profile) branchName(id *string) string {
	if id == nil || *id == "" {
		return textNotSet
	}
	if b, ok := p.Desk.Knowledge.Branch(*id); ok {
		return shortName(b)
	}
	return *id
}

func (p Profile) consentWords(pr bot.Profile) string {
	switch {
	case pr.Consent == nil:
		return textConsentNotAsked
	case *pr.Consent && pr.Version == bot.ConsentVersion && pr.ConsentAt != nil:
		return fmt.Sprintf(textConsentGiven, pr.ConsentAt.In(p.Desk.zone()).Format("2006-01-02"))
	}
	return textConsentRefused
}

func orNotSet(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return textNotSet
	}
	return s
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
