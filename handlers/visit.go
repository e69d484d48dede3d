package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/when"
)

// Visit books home visits (上门访视) for members: the visit intent offers
// the next days and waits for the member's date and time, which books a
// requested visit for their branch and alerts its directors. As an
// interceptor it serves 下次访视, 改期 and 取消访视, and the answers to its
// own questions. Without a database (the classify and say tools) it names
// the director who arranges visits.
type Visit struct {
	Knowledge Knowledge
	Visits    VisitDesk
}

// Member conversation states of a visit.
const (
	stateVisitDate = "visit_date" // waiting for the date and time of a new visit
	stateVisitMove = "visit_move" // waiting for the new date and time of a visit
	visitAskWait   = 30 * time.Minute
	visitDaysShown = 4
)

const (
	textVisitFmt   = "上门访视由你所在的计生协安排。请联系%s，说一下方便的时间和地址。"
	textVisitWhere = "\n不知道找哪个协会？告诉我们你在哪里（地名或位置）。"
	textVisitNoKB  = "上门访视由你所在的计生协安排。告诉我们你在哪里（地名或位置），我们帮你找。"

	textVisitOffer     = "可以约：%s… 回复日期和时间，比如「明天下午3点」。"
	textVisitAskTime   = "%d月%d日几点方便？比如「上午10点」或「下午3点」。"
	textVisitAskAgain  = "没看懂时间。请回复日期和时间，比如「明天下午3点」「12月5日上午10点」；不约了回复「算了」。"
	textVisitSent      = "已发给%s，负责人确认后告诉你。\n预约：%s %s（编号%d）。"
	textVisitHave      = "你约了%s %s（编号%d，%s）。\n改时间回复「改期」，不需要了回复「取消访视」。"
	textVisitNone      = "你现在没有约好的访视。想约的话回复「预约访视」。"
	textVisitMoveAsk   = "改到什么时候？回复日期和时间，比如「后天上午10点」。"
	textVisitMoveSent  = "已把改期发给负责人：%s（编号%d），确认后告诉你。"
	textVisitStopped   = "已取消%s的访视（编号%d），已告诉负责人。"
	textVisitDropped   = "好的，不约了。需要时回复「预约访视」。"
	textVisitMemberBad = "访视时间要在早上8点到晚上8点之间，请换个时间。"
	textVisitMemberOld = "这个时间已经过了，请换一个以后的时间。"
	textVisitMemberFar = "只能约四个月以内的访视，请换个近一点的时间。"
)

// Words members type for their visit.
func visitNextWords() []string {
	return []string{"下次访视", "我的访视", "访视时间", "查访视", "什么时候访视"}
}
func visitMoveWords() []string {
	return []string{"改期", "改时间", "访视改期", "改访视", "换个时间"}
}
func visitStopWords() []string {
	return []string{"取消访视", "取消预约", "不要访视", "不用访视了", "取消上门"}
}
func visitDropWords() []string { return []string{"算了", "不约了", "不用了", "取消"} }

// Handle implements bot.Handler: a member who has a visit hears about it,
// one who has none is offered the next days (or booked at once when
// their words say when).
func (h Visit) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Cases == nil {
		return h.whoArranges(req), nil
	}
	v, found, err := req.Cases.MemberVisit(ctx, req.Msg.OpenID)
	if err != nil {
		return bot.Reply{}, err
	}
	if found {
		return bot.Reply{Text: h.have(v)}, nil
	}
	now, zone := h.Visits.Desk.now(), h.Visits.zone()
	if m, ok := when.Parse(req.Msg.Text, now, zone); ok && m.HasDay && (m.HasTime || m.Part != "") {
		reply, _, err := h.answer(ctx, req, bot.Conversation{State: stateVisitDate})
		return reply, err
	}
	today := midnight(now, zone)
	days := make([]string, visitDaysShown)
	for i := range days {
		days[i] = dayWords(today.AddDate(0, 0, i+1), today)
	}
	if err := h.ask(ctx, req, stateVisitDate, 0, ""); err != nil {
		return bot.Reply{}, err
	}
	return bot.Reply{Text: fmt.Sprintf(textVisitOffer, strings.Join(days, "、"))}, nil
}

// whoArranges is the answer without a database: the branch's director.
func (h Visit) whoArranges(req *bot.Request) bot.Reply {
	if b, ok := branchFor(h.Knowledge, req); ok {
		return bot.Reply{Text: fmt.Sprintf(textVisitFmt, contactLine(b))}
	}
	if b, ok := h.Knowledge.Branch(bot.CountyBranchID); ok {
		return bot.Reply{Text: fmt.Sprintf(textVisitFmt, contactLine(b)) + textVisitWhere}
	}
	return bot.Reply{Text: textVisitNoKB}
}

// have tells the member about their visit.
func (h Visit) have(v bot.Visit) string {
	return fmt.Sprintf(textVisitHave, h.Visits.timeWords(v.At), v.Purpose, v.Number, visitStatusName(v))
}

// ask starts the member conversation waiting for a date: the visit being
// moved (0 for a new one) and a day already said ("" for none) in its text.
func (h Visit) ask(ctx context.Context, req *bot.Request, state string, number int64, day string) error {
	h.Visits.Desk.forgetChoice(ctx, req.Msg.OpenID)
	return req.Cases.SetConversation(ctx, bot.Conversation{OpenID: req.Msg.OpenID, Topic: bot.TopicMember,
		State: state, Text: strings.TrimSpace(fmt.Sprintf("%d %s", number, day)), Until: h.Visits.Desk.now().Add(visitAskWait)})
}

// Intercept implements bot.Interceptor: the member's visit words, and
// the answers to the visit questions.
func (h Visit) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText || strings.TrimSpace(req.Msg.Text) == "" {
		return bot.Reply{}, false, nil
	}
	said := strings.Trim(strings.TrimSpace(widthFold(req.Msg.Text)), "。.!！?？ ")
	switch {
	case oneOf(said, visitNextWords()):
		return h.next(ctx, req)
	case oneOf(said, visitMoveWords()):
		return h.startMove(ctx, req)
	case oneOf(said, visitStopWords()):
		return h.stop(ctx, req)
	}
	conv, ok, err := req.Cases.Conversation(ctx, req.Msg.OpenID, bot.TopicMember)
	if err != nil || !ok || (conv.State != stateVisitDate && conv.State != stateVisitMove) {
		return bot.Reply{}, false, err
	}
	if oneOf(said, visitDropWords()) {
		return bot.Reply{Text: textVisitDropped}, true, req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember)
	}
	return h.answer(ctx, req, conv)
}

func oneOf(s string, words []string) bool {
	for _, w := range words {
		if s == w {
			return true
		}
	}
	return false
}

// next is 下次访视.
func (h Visit) next(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	v, found, err := req.Cases.MemberVisit(ctx, req.Msg.OpenID)
	if err != nil || !found {
		return bot.Reply{Text: textVisitNone}, err == nil, err
	}
	return bot.Reply{Text: h.have(v)}, true, nil
}

// startMove is 改期: the bot asks for the new time.
func (h Visit) startMove(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	v, found, err := req.Cases.MemberVisit(ctx, req.Msg.OpenID)
	if err != nil || !found {
		return bot.Reply{Text: textVisitNone}, err == nil, err
	}
	if err := h.ask(ctx, req, stateVisitMove, v.Number, ""); err != nil {
		return bot.Reply{}, false, err
	}
	return bot.Reply{Text: textVisitMoveAsk}, true, nil
}

// stop is 取消访视: cancelled, and the directors told.
func (h Visit) stop(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	v, found, err := req.Cases.MemberVisit(ctx, req.Msg.OpenID)
	if err != nil || !found {
		return bot.Reply{Text: textVisitNone}, err == nil, err
	}
	if err := h.Visits.cancelVisit(ctx, req.Cases, &v); err != nil {
		return bot.Reply{}, false, err
	}
	timeText := h.Visits.timeWords(v.At)
	text := fmt.Sprintf(textVisitMemberStop, memberNoText(v.MemberNo), v.Number, timeText, v.Purpose)
	reply := bot.Reply{Text: fmt.Sprintf(textVisitStopped, timeText, v.Number),
		Sends: h.Visits.toDirectors(v, text, "会员取消访视")}
	return reply, true, nil
}

// answer reads the date and time the member answered and books (or
// moves) their visit. A day alone is kept and its time asked; words that
// say no time are asked again, unless they clearly ask for something else.
func (h Visit) answer(ctx context.Context, req *bot.Request, conv bot.Conversation) (bot.Reply, bool, error) {
	now, zone := h.Visits.Desk.now(), h.Visits.zone()
	var number int64
	var day string
	if f := strings.Fields(conv.Text); len(f) > 0 {
		number, _ = strconv.ParseInt(f[0], 10, 64)
		if len(f) > 1 {
			day = f[1]
		}
	}
	m, ok := when.Parse(req.Msg.Text, now, zone)
	if ok && !m.HasDay && day != "" {
		if d, err := time.ParseInLocation(time.DateOnly, day, zone); err == nil {
			m.HasDay, m.Day = true, d
		}
	}
	switch {
	case !ok && clearOtherIntent(req.U):
		return bot.Reply{}, false, req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember)
	case !ok:
		return bot.Reply{Text: textVisitAskAgain}, true, nil
	case m.HasDay && !m.HasTime && m.Part == "":
		if err := h.ask(ctx, req, conv.State, number, m.Day.Format(time.DateOnly)); err != nil {
			return bot.Reply{}, false, err
		}
		return bot.Reply{Text: fmt.Sprintf(textVisitAskTime, m.Day.Month(), m.Day.Day())}, true, nil
	}
	at := m.At(now, zone, visitDefaultHr)
	switch h.Visits.checkTime(at) {
	case textVisitBadHour:
		return bot.Reply{Text: textVisitMemberBad}, true, nil
	case textVisitPast:
		return bot.Reply{Text: textVisitMemberOld}, true, nil
	case textVisitTooFar:
		return bot.Reply{Text: textVisitMemberFar}, true, nil
	}
	if err := req.Cases.EndConversation(ctx, req.Msg.OpenID, bot.TopicMember); err != nil {
		return bot.Reply{}, false, err
	}
	if conv.State == stateVisitMove {
		return h.moved(ctx, req, number, at)
	}
	return h.book(ctx, req, at)
}

// book books a requested visit at at for the member's branch and alerts
// its directors.
func (h Visit) book(ctx context.Context, req *bot.Request, at time.Time) (bot.Reply, bool, error) {
	b, err := h.Visits.Desk.caseBranch(ctx, req)
	if err != nil {
		return bot.Reply{}, false, err
	}
	v, err := req.Cases.BookVisit(ctx, bot.NewVisit{OpenID: req.Msg.OpenID, BranchID: b.ID, At: at,
		Purpose: purposeOf(req.U.Norm + req.Msg.Text), Status: bot.VisitRequested, BookedBy: bot.BookedByMember})
	if err != nil {
		return bot.Reply{}, false, err
	}
	timeText := h.Visits.timeWords(v.At)
	alert := fmt.Sprintf(textVisitRequestFmt, memberNoText(v.MemberNo), timeText, v.Purpose, v.Number, v.Number, v.Number)
	return bot.Reply{Text: fmt.Sprintf(textVisitSent, shortName(b), timeText, v.Purpose, v.Number),
		Sends: h.Visits.toDirectors(v, alert, "会员预约访视")}, true, nil
}

// moved is the member's new time for visit number: it waits for a
// director's confirmation again, its reminders dropped until then.
func (h Visit) moved(ctx context.Context, req *bot.Request, number int64, at time.Time) (bot.Reply, bool, error) {
	v, found, err := req.Cases.VisitByNumber(ctx, number)
	if err != nil {
		return bot.Reply{}, false, err
	}
	if !found || v.OpenID != req.Msg.OpenID || !v.Open() {
		return bot.Reply{Text: textVisitNone}, true, nil
	}
	v.At, v.Status = at, bot.VisitRequested
	if err := req.Cases.SaveVisit(ctx, v); err != nil {
		return bot.Reply{}, false, err
	}
	if _, err := req.Cases.DropReminders(ctx, v.ID, bot.ReasonUnconfirmed); err != nil {
		return bot.Reply{}, false, err
	}
	timeText := h.Visits.timeWords(v.At)
	text := fmt.Sprintf(textVisitMemberMove, memberNoText(v.MemberNo), v.Number, timeText, v.Number)
	return bot.Reply{Text: fmt.Sprintf(textVisitMoveSent, timeText, v.Number),
		Sends: h.Visits.toDirectors(v, text, "会员改期")}, true, nil
}
