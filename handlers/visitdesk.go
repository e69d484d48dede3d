package handlers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/when"
)

// VisitSettings are how visits remind members and reach them. cmd fills
// them from the configuration.
type VisitSettings struct {
	// Reminders plans each confirmed visit's reminders (VISIT_REMINDERS,
	// VISIT_QUIET_HOURS); its Zone nil is the desk's zone.
	Reminders bot.ReminderPlan
	// Template is the template message that reaches a member outside the
	// 48-hour window (WECHAT_TEMPLATE_VISIT_REMINDER, "" for none); Fields
	// are its keyword keys: number, time, purpose, words.
	Template string
	Fields   [4]string
}

// VisitDesk serves the directors' visit commands: 访 <会员号> <日期> <时间>
// <事由>, 确认 N, 访毕 N [记录], 改 N <日期> <时间>, 取消 N, 今日访视. It goes
// before the case commands: 改 N is a visit's only when N is a visit the
// director may act on and what follows reads as a date or time; anything
// else is left to the case command. It also words the scheduler's
// reminders and the morning digest.
type VisitDesk struct {
	Desk     Desk
	Settings VisitSettings
}

// Visit command verbs.
const (
	verbVisitBook    = "book"
	verbVisitConfirm = "confirm"
	verbVisitDone    = "done"
	verbVisitMove    = "move"
	verbVisitCancel  = "cancel"
	verbVisitToday   = "today"
	verbVisitHelp    = "help"
)

// The hours visits happen in, and how far ahead they are booked.
const (
	visitFirstHour  = 8
	visitLastHour   = 20 // 20:00 is the latest start
	visitDefaultHr  = 9  // a day said with only a part of it gets its usual hour; with none, 9:00
	visitMaxAhead   = 120 * 24 * time.Hour
	visitMinAhead   = 30 * time.Minute
	visitListed     = 15 // lines in 今日访视 and the digest
	visitDigestHour = 8  // the morning digest goes from 08:00…
	visitDigestLast = 12 // …until noon; later it would be no morning digest
	reminderBatch   = 500
	defaultPurpose  = "上门访视"
)

// Texts directors read about visits.
const (
	textVisitHelp = "访视命令（编号是访视号，从5001起）：\n" +
		"访 1001 12月5日 下午3点 上门访视　给会员号1001约访视\n" +
		"确认 5001　确认会员约的访视\n" +
		"改 5001 12月6日 上午10点　改时间\n" +
		"访毕 5001 记录　访视完成\n" +
		"取消 5001　取消\n" +
		"今日访视　今天的访视"
	textVisitNotFound   = "没有找到你能处理的编号%d访视。"
	textVisitNoMember   = "没有找到你能约的会员号%d。"
	textVisitBookHow    = "请写上日期和时间，比如「访 %d 12月5日 下午3点 上门访视」。"
	textVisitMoveHow    = "请写上新的日期或时间，比如「改 %d 12月6日 上午10点」。"
	textVisitBadHour    = "访视时间要在早上8点到晚上8点之间。"
	textVisitPast       = "这个时间已经过了，请换一个以后的时间。"
	textVisitTooFar     = "只能约四个月以内的访视。"
	textVisitBooked     = "已约：编号%d，会员号%s，%s %s。%s"
	textVisitConfirmed  = "已确认编号%d：%s %s。%s"
	textVisitWasConfirm = "编号%d已经确认过了：%s。"
	textVisitMoved      = "编号%d已改到%s。%s"
	textVisitSameTime   = "编号%d本来就是%s。"
	textVisitDoneOK     = "已记下：编号%d访视完成。"
	textVisitCancelled  = "编号%d已取消，已告诉会员。"
	textVisitClosedFmt  = "编号%d%s，不能再改。"
	textVisitNoReach    = "\n会员超过48小时没发消息，也没有配置模板消息，通知发不出去，请打电话告诉会员。"
	textVisitTold       = "\n已告诉会员。"
	textVisitRemindsFmt = "会员会在访视%s收到提醒。"
	textVisitNoneToday  = "今天没有访视。"
	textVisitTodayHead  = "今天的访视%d次："
	textVisitLine       = "\n%s 编号%d 会员号%s %s %s%s"
	textVisitMore       = "\n只列出前%d次。"
	textVisitRequestFmt = "【访视预约】会员号%s约%s %s，编号%d。回复「确认 %d」确认，或「改 %d 日期 时间」改时间。"
	textVisitMemberMove = "【访视改期】会员号%s把编号%d改到%s，请确认：回复「确认 %d」。"
	textVisitMemberStop = "【访视取消】会员号%s取消了编号%d（%s %s）。"
	textDigestHead      = "【今日访视】今天%d次："
	textDigestCounty    = "\n全县今天共%d次访视。"
	textDigestNone      = "【今日访视】你的支部今天没有访视。"
	textDigestFoot      = "\n回复「今日访视」随时查看。"
)

// Texts members read about their visit.
const (
	textVisitMemberBooked  = "【上门访视】%s约了你%s %s（编号%d）。有变化回复「改期」或「取消访视」。"
	textVisitMemberConfirm = "【上门访视】负责人已确认：%s %s（编号%d）。有变化回复「改期」或「取消访视」。"
	textVisitMemberMoved   = "【上门访视】访视改到%s（编号%d）。有变化回复「改期」或「取消访视」。"
	textVisitMemberCancel  = "【上门访视】%s的访视（编号%d）已取消。需要的话回复「预约访视」再约。"
	textVisitReminder      = "【访视提醒】%s，%s%s（编号%d）。请留在家里；时间不合适回复「改期」，不需要了回复「取消访视」。"
)

// visitCommand is a director's visit command as typed.
type visitCommand struct {
	verb   string
	number int64 // the visit's number; for 访, the member number
	rest   string
}

// Intercept implements bot.Interceptor.
func (d VisitDesk) Intercept(ctx context.Context, req *bot.Request) (bot.Reply, bool, error) {
	if req.Cases == nil || req.Msg.Type != bot.TypeText {
		return bot.Reply{}, false, nil
	}
	role, ok := d.Desk.roleOf(req.Msg.OpenID)
	if !ok {
		return bot.Reply{}, false, nil
	}
	c, ok := parseVisitCommand(req.Msg.Text)
	if !ok {
		return bot.Reply{}, false, nil
	}
	switch c.verb {
	case verbVisitHelp:
		return bot.Reply{Text: textVisitHelp}, true, nil
	case verbVisitToday:
		text, err := d.today(ctx, req.Cases, role)
		return bot.Reply{Text: text}, err == nil, err
	case verbVisitBook:
		text, err := d.book(ctx, req, role, c)
		return bot.Reply{Text: text}, err == nil, err
	}
	if c.verb == verbVisitMove {
		if _, ok := when.Parse(c.rest, d.Desk.now(), d.zone()); !ok {
			return bot.Reply{}, false, nil // 改 N 政策: the case command
		}
	}
	v, found, err := req.Cases.VisitByNumber(ctx, c.number)
	if err != nil {
		return bot.Reply{}, false, err
	}
	if !found || !role.mayVisit(v) {
		if c.verb == verbVisitMove {
			return bot.Reply{}, false, nil
		}
		return bot.Reply{Text: fmt.Sprintf(textVisitNotFound, c.number)}, true, nil
	}
	var text string
	switch c.verb {
	case verbVisitConfirm:
		text, err = d.confirm(ctx, req, &v)
	case verbVisitDone:
		text, err = d.done(ctx, req, &v, c.rest)
	case verbVisitMove:
		text, err = d.move(ctx, req, &v, c.rest)
	case verbVisitCancel:
		text, err = d.cancel(ctx, req, &v)
	}
	return bot.Reply{Text: text}, err == nil, err
}

// mayVisit reports whether r may see and change visit v.
func (r Role) mayVisit(v bot.Visit) bool {
	return r.mayAct(bot.Case{BranchID: v.BranchID})
}

// parseVisitCommand reads a director's visit command, forgiving about
// spaces, full-width digits and a leading "#". A verb counts only with a
// number after it, so "确认一下" and "取消了" stay plain messages.
func parseVisitCommand(text string) (visitCommand, bool) {
	t := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(widthFold(text)), "#"))
	switch strings.Trim(t, "。.!！?？ ") {
	case "今日访视", "今天访视", "今天的访视", "今日访视列表":
		return visitCommand{verb: verbVisitToday}, true
	case "访视命令", "访视帮助":
		return visitCommand{verb: verbVisitHelp}, true
	}
	verbs := []struct{ word, verb string }{
		{"访毕", verbVisitDone}, {"访视完成", verbVisitDone}, {"访", verbVisitBook},
		{"确认", verbVisitConfirm}, {"改", verbVisitMove}, {"取消", verbVisitCancel},
	}
	for _, v := range verbs {
		n, rest, after, ok := cutVerbNumber(text, t, v.word)
		if after == nil {
			continue
		}
		if !ok {
			return visitCommand{}, false
		}
		return visitCommand{verb: v.verb, number: n, rest: rest}, true
	}
	return visitCommand{}, false
}

// book is 访 <会员号> <日期> <时间> <事由>: a confirmed visit, its
// reminders, and the member told.
func (d VisitDesk) book(ctx context.Context, req *bot.Request, role Role, c visitCommand) (string, error) {
	openID, p, found, err := req.Cases.ProfileByNo(ctx, c.number)
	if err != nil {
		return "", err
	}
	branch := ""
	if found && p.BranchID != nil {
		branch = *p.BranchID
	}
	if branch == "" && len(role.Branches) > 0 {
		branch = role.Branches[0] // a member who never said where they are: the director's branch
	}
	if !found || openID == "" || !role.mayVisit(bot.Visit{BranchID: branch}) {
		return fmt.Sprintf(textVisitNoMember, c.number), nil
	}
	dateText, purpose := splitPurpose(c.rest)
	at, problem := d.readTime(dateText, nil)
	if problem == textVisitBookHow {
		return fmt.Sprintf(textVisitBookHow, c.number), nil
	}
	if problem != "" {
		return problem, nil
	}
	v, err := req.Cases.BookVisit(ctx, bot.NewVisit{OpenID: openID, BranchID: branch, At: at, Purpose: purpose,
		Status: bot.VisitConfirmed, BookedBy: req.Msg.OpenID})
	if err != nil {
		return "", err
	}
	if err := d.plan(ctx, req.Cases, v); err != nil {
		return "", err
	}
	told, err := d.tell(ctx, req.Cases, v, fmt.Sprintf(textVisitMemberBooked,
		shortName(d.Desk.branch(v.BranchID)), d.timeWords(v.At), v.Purpose, v.Number), "已预约")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(textVisitBooked, v.Number, memberNoText(v.MemberNo), d.timeWords(v.At), v.Purpose,
		d.remindsWords()) + told, nil
}

// confirm makes a member's requested visit confirmed.
func (d VisitDesk) confirm(ctx context.Context, req *bot.Request, v *bot.Visit) (string, error) {
	if !v.Open() {
		return fmt.Sprintf(textVisitClosedFmt, v.Number, visitStatusName(*v)), nil
	}
	if v.Status == bot.VisitConfirmed {
		return fmt.Sprintf(textVisitWasConfirm, v.Number, d.timeWords(v.At)), nil
	}
	v.Status = bot.VisitConfirmed
	if err := req.Cases.SaveVisit(ctx, *v); err != nil {
		return "", err
	}
	if err := d.plan(ctx, req.Cases, *v); err != nil {
		return "", err
	}
	told, err := d.tell(ctx, req.Cases, *v, fmt.Sprintf(textVisitMemberConfirm, d.timeWords(v.At), v.Purpose, v.Number), "已确认")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(textVisitConfirmed, v.Number, d.timeWords(v.At), v.Purpose, d.remindsWords()) + told, nil
}

// done records the visit as made, with the director's words.
func (d VisitDesk) done(ctx context.Context, req *bot.Request, v *bot.Visit, note string) (string, error) {
	// A visit counted missed was perhaps only not recorded: 访毕 still
	// says it happened.
	if !v.Open() && v.Status != bot.VisitMissed {
		return fmt.Sprintf(textVisitClosedFmt, v.Number, visitStatusName(*v)), nil
	}
	v.Status, v.Note = bot.VisitDone, note
	if err := req.Cases.SaveVisit(ctx, *v); err != nil {
		return "", err
	}
	if _, err := req.Cases.DropReminders(ctx, v.ID, bot.ReasonVisitDone); err != nil {
		return "", err
	}
	return fmt.Sprintf(textVisitDoneOK, v.Number), nil
}

// move is 改 N <日期> <时间>: the visit at its new time, confirmed, its
// reminders written anew, the member told. A time alone keeps the day, a
// day alone keeps the time.
func (d VisitDesk) move(ctx context.Context, req *bot.Request, v *bot.Visit, words string) (string, error) {
	if !v.Open() {
		return fmt.Sprintf(textVisitClosedFmt, v.Number, visitStatusName(*v)), nil
	}
	at, problem := d.readTime(words, v)
	if problem == textVisitBookHow {
		return fmt.Sprintf(textVisitMoveHow, v.Number), nil
	}
	if problem != "" {
		return problem, nil
	}
	if at.Equal(v.At) && v.Status == bot.VisitConfirmed {
		return fmt.Sprintf(textVisitSameTime, v.Number, d.timeWords(v.At)), nil
	}
	v.At, v.Status = at, bot.VisitConfirmed
	if err := req.Cases.SaveVisit(ctx, *v); err != nil {
		return "", err
	}
	if err := d.plan(ctx, req.Cases, *v); err != nil {
		return "", err
	}
	told, err := d.tell(ctx, req.Cases, *v, fmt.Sprintf(textVisitMemberMoved, d.timeWords(v.At)+" "+v.Purpose, v.Number), "已改期")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(textVisitMoved, v.Number, d.timeWords(v.At), d.remindsWords()) + told, nil
}

// cancel cancels the visit and its reminders, and tells the member.
func (d VisitDesk) cancel(ctx context.Context, req *bot.Request, v *bot.Visit) (string, error) {
	if !v.Open() {
		return fmt.Sprintf(textVisitClosedFmt, v.Number, visitStatusName(*v)), nil
	}
	if err := d.cancelVisit(ctx, req.Cases, v); err != nil {
		return "", err
	}
	told, err := d.tell(ctx, req.Cases, *v, fmt.Sprintf(textVisitMemberCancel, d.timeWords(v.At), v.Number), "已取消")
	if err != nil {
		return "", err
	}
	if told == textVisitTold {
		return fmt.Sprintf(textVisitCancelled, v.Number), nil
	}
	return strings.TrimSuffix(fmt.Sprintf(textVisitCancelled, v.Number), "，已告诉会员。") + "。" + told, nil
}

// cancelVisit marks v cancelled and drops its reminders.
func (d VisitDesk) cancelVisit(ctx context.Context, book bot.VisitBook, v *bot.Visit) error {
	v.Status = bot.VisitCancelled
	if err := book.SaveVisit(ctx, *v); err != nil {
		return err
	}
	_, err := book.DropReminders(ctx, v.ID, bot.ReasonVisitCancel)
	return err
}

// today lists today's visits of the director's branches (all, for the
// county), soonest first.
func (d VisitDesk) today(ctx context.Context, book bot.VisitBook, role Role) (string, error) {
	q := d.dayQuery(d.Desk.now())
	q.Statuses = []string{bot.VisitRequested, bot.VisitConfirmed, bot.VisitDone, bot.VisitMissed}
	if !role.County {
		q.Branches = role.Branches
	}
	vs, err := book.FindVisits(ctx, q)
	if err != nil {
		return "", err
	}
	if len(vs) == 0 {
		return textVisitNoneToday, nil
	}
	var s strings.Builder
	fmt.Fprintf(&s, textVisitTodayHead, len(vs))
	d.writeLines(&s, vs, role.County || len(role.Branches) > 1)
	return s.String(), nil
}

// writeLines lists visits, at most visitListed of them, with their
// branch when the reader has several.
func (d VisitDesk) writeLines(s *strings.Builder, vs []bot.Visit, withBranch bool) {
	for i, v := range vs {
		if i == visitListed {
			fmt.Fprintf(s, textVisitMore, visitListed)
			break
		}
		where := ""
		if withBranch {
			where = " " + shortName(d.Desk.branch(v.BranchID))
		}
		fmt.Fprintf(s, textVisitLine, v.At.In(d.zone()).Format("15:04"), v.Number, memberNoText(v.MemberNo),
			v.Purpose, visitStatusName(v), where)
	}
}

// dayQuery selects the visits of the local day of t.
func (d VisitDesk) dayQuery(t time.Time) bot.VisitQuery {
	day := midnight(t, d.zone())
	return bot.VisitQuery{From: day, To: day.AddDate(0, 0, 1)}
}

func midnight(t time.Time, zone *time.Location) time.Time {
	l := t.In(zone)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, zone)
}

// readTime reads a visit's time from words. keep is the visit being
// moved: a time alone keeps its day, a day alone its time. problem is
// what to tell the director (or member) instead; textVisitBookHow when
// no time was found.
func (d VisitDesk) readTime(words string, keep *bot.Visit) (at time.Time, problem string) {
	now, zone := d.Desk.now(), d.zone()
	m, ok := when.Parse(words, now, zone)
	if !ok {
		return time.Time{}, textVisitBookHow
	}
	switch {
	case keep != nil && !m.HasDay:
		m.HasDay, m.Day = true, midnight(keep.At, zone)
	case keep != nil && !m.HasTime && m.Part == "":
		l := keep.At.In(zone)
		m.HasTime, m.Hour, m.Minute = true, l.Hour(), l.Minute()
	case keep == nil && !m.HasDay:
		return time.Time{}, textVisitBookHow // a director books a day, not "3点"
	case keep == nil && !m.HasTime && m.Part == "":
		return time.Time{}, textVisitBookHow
	}
	at = m.At(now, zone, visitDefaultHr)
	return at, d.checkTime(at)
}

// checkTime is what is wrong with at as a visit's time, "" for nothing.
func (d VisitDesk) checkTime(at time.Time) string {
	now := d.Desk.now()
	l := at.In(d.zone())
	switch {
	case l.Hour() < visitFirstHour || l.Hour() > visitLastHour || (l.Hour() == visitLastHour && l.Minute() > 0):
		return textVisitBadHour
	case at.Before(now.Add(visitMinAhead)):
		return textVisitPast
	case at.After(now.Add(visitMaxAhead)):
		return textVisitTooFar
	}
	return ""
}

// splitPurpose separates a 访 command's date and time from its purpose:
// the purpose starts at the first word visits are named by, else it is
// the last words that read as no date or time, else 上门访视.
func splitPurpose(rest string) (dateText, purpose string) {
	rest = strings.TrimSpace(rest)
	first := -1
	for _, w := range []string{"上门", "访视", "婚育", "核对", "孕", "环情", "检查", "返乡", "走访", "慰问", "随访"} {
		if i := strings.Index(rest, w); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		return strings.TrimSpace(rest[:first]), strings.TrimSpace(rest[first:])
	}
	fields := strings.Fields(rest)
	cut := len(fields)
	for cut > 0 {
		if _, ok := when.Parse(fields[cut-1], time.Now(), time.UTC); ok {
			break
		}
		cut--
	}
	if cut < len(fields) && cut > 0 {
		return strings.Join(fields[:cut], " "), strings.Join(fields[cut:], " ")
	}
	return rest, defaultPurpose
}

// purposeOf reads what a member wants the visit for, 上门访视 unless they
// name one of the association's others.
func purposeOf(text string) string {
	switch {
	case strings.Contains(text, "婚育") || strings.Contains(text, "核对"):
		return "婚育信息核对"
	case strings.Contains(text, "孕") || strings.Contains(text, "环"):
		return "孕环情检查"
	case strings.Contains(text, "返乡"):
		return "返乡走访"
	}
	return defaultPurpose
}

// zone is where the association is.
func (d VisitDesk) zone() *time.Location {
	if d.Settings.Reminders.Zone != nil {
		return d.Settings.Reminders.Zone
	}
	return d.Desk.zone()
}

// plan writes v's reminders anew as of now.
func (d VisitDesk) plan(ctx context.Context, book bot.VisitBook, v bot.Visit) error {
	p := d.Settings.Reminders
	p.Zone = d.zone()
	return book.SetReminders(ctx, v.ID, p.Plan(v.At, d.Desk.now()))
}

// remindsWords tells a director when the member will be reminded.
func (d VisitDesk) remindsWords() string {
	offs := d.Settings.Reminders.Offsets
	if len(offs) == 0 {
		return ""
	}
	words := make([]string, len(offs))
	for i, off := range offs {
		words[i] = beforeWords(-off)
	}
	return fmt.Sprintf(textVisitRemindsFmt, strings.Join(words, "、"))
}

// beforeWords is an offset as people say it: 前一天, 前2小时, 前30分钟.
func beforeWords(d time.Duration) string {
	switch {
	case d == 24*time.Hour:
		return "前一天"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("前%d天", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("前%d小时", d/time.Hour)
	}
	return fmt.Sprintf("前%d分钟", d/time.Minute)
}

// timeWords is a visit's time as a phone shows it now: 明天12月5日（周六）15:00.
func (d VisitDesk) timeWords(at time.Time) string { return d.timeWordsAt(at, d.Desk.now()) }

// timeWordsAt is timeWords said at now.
func (d VisitDesk) timeWordsAt(at, now time.Time) string {
	zone := d.zone()
	l := at.In(zone)
	rel := ""
	switch int(midnight(at, zone).Sub(midnight(now, zone)).Hours()+12) / 24 {
	case 0:
		rel = "今天"
	case 1:
		rel = "明天"
	case 2:
		rel = "后天"
	}
	return fmt.Sprintf("%s%d月%d日（%s）%s", rel, l.Month(), l.Day(), weekdayName(l.Weekday()), l.Format("15:04"))
}

// dayWords is a day as offered to members: 明天(12月5日), 周日(12月7日).
func dayWords(day, today time.Time) string {
	name := weekdayName(day.Weekday())
	switch int(day.Sub(today).Hours()+12) / 24 {
	case 1:
		name = "明天"
	case 2:
		name = "后天"
	}
	return fmt.Sprintf("%s(%d月%d日)", name, day.Month(), day.Day())
}

func weekdayName(w time.Weekday) string {
	return [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}[w]
}

// visitStatusName is a visit's status in people's words.
func visitStatusName(v bot.Visit) string {
	switch v.Status {
	case bot.VisitRequested:
		return "待确认"
	case bot.VisitConfirmed:
		return "已确认"
	case bot.VisitDone:
		return "已完成"
	case bot.VisitMissed:
		return "没见到"
	case bot.VisitCancelled:
		return "已取消"
	}
	return v.Status
}

// tell writes a notice to v's member, and returns the words the director
// reads about it: told, or that nothing reaches them.
func (d VisitDesk) tell(ctx context.Context, cases bot.Cases, v bot.Visit, text, status string) (string, error) {
	snd, ok, err := d.toMember(ctx, cases, v, bot.KindVisit, text, status)
	if err != nil {
		return "", err
	}
	if !ok {
		return textVisitNoReach, nil
	}
	return textVisitTold, cases.Enqueue(ctx, []bot.Send{snd})
}

// toMember is a message to v's member: customer-service inside the
// 48-hour window (the template its fallback), else the template; ok is
// false when neither reaches them.
func (d VisitDesk) toMember(ctx context.Context, cases bot.Cases, v bot.Visit, kind, text, words string) (bot.Send, bool, error) {
	if v.OpenID == "" {
		return bot.Send{}, false, nil // erased
	}
	m, found, err := cases.MemberOf(ctx, v.OpenID)
	if err != nil {
		return bot.Send{}, false, err
	}
	snd, ok := d.memberSend(v, kind, text, words, found && m.InWindow(d.Desk.now()))
	return snd, ok, nil
}

// memberSend is toMember's message once the window is known.
func (d VisitDesk) memberSend(v bot.Visit, kind, text, words string, inWindow bool) (bot.Send, bool) {
	snd := bot.Send{OpenID: v.OpenID, Kind: kind, Text: text}
	tpl := d.visitTemplate(v, words)
	switch {
	case inWindow:
		snd.Channel = bot.ChannelCustomerService
		if tpl != nil {
			snd.Fallback, snd.Template = bot.ChannelTemplate, tpl
		}
	case tpl != nil:
		snd.Channel, snd.Template = bot.ChannelTemplate, tpl
	default:
		return bot.Send{}, false
	}
	return snd, true
}

// visitTemplate is a message about v as the visit template, nil when
// none is configured.
func (d VisitDesk) visitTemplate(v bot.Visit, words string) *bot.Template {
	if d.Settings.Template == "" {
		return nil
	}
	values := [4]string{fmt.Sprint(v.Number), v.At.In(d.zone()).Format("2006年1月2日 15:04"), v.Purpose, words}
	data := map[string]string{}
	for i, key := range d.Settings.Fields {
		if key != "" {
			data[key] = templateValue(key, values[i])
		}
	}
	return &bot.Template{ID: d.Settings.Template, Data: data}
}

// toDirectors are messages to the directors of v's branch (the county's
// when nobody there can be messaged): customer-service, with the case
// alert template as fallback when one is configured.
func (d VisitDesk) toDirectors(v bot.Visit, text, words string) []bot.Send {
	to := reachable(d.Desk.branch(v.BranchID))
	if len(to) == 0 {
		to = d.Desk.countyDirectors()
	}
	sends := make([]bot.Send, 0, len(to))
	for _, dir := range to {
		sends = append(sends, d.directorSend(dir.OpenID, bot.KindVisit, fmt.Sprint(v.Number), text, words))
	}
	return sends
}

// directorSend is one message to a director about a visit (or a day's
// visits, with number their count).
func (d VisitDesk) directorSend(openID, kind, number, text, words string) bot.Send {
	snd := bot.Send{OpenID: openID, Kind: kind, Channel: bot.ChannelCustomerService, Text: text}
	if id := d.Desk.Settings.AlertTemplate; id != "" {
		values := [4]string{number, "访视", "一般", words}
		data := map[string]string{}
		for i, key := range d.Desk.Settings.AlertFields {
			if key != "" {
				data[key] = templateValue(key, values[i])
			}
		}
		snd.Fallback, snd.Template = bot.ChannelTemplate, &bot.Template{ID: id, Data: data}
	}
	return snd
}

// RoundResult is what a scheduler round did, for the log.
type RoundResult struct {
	Reminders int // reminders written to the outbox
	Skipped   int // reminders given up (late, unreachable, visit changed…)
	Digests   int // directors sent their morning digest
	Missed    int // visits long past with no 访毕, marked missed
	Full      bool
}

// missedAfter is how long after a visit's time a director has to type
// 访毕 before the visit counts as missed (访毕 still records it done).
const missedAfter = 24 * time.Hour

// Round is one scheduler round at now in one transaction: the reminders
// due (claimed so that with several serve processes each is written
// once), and the morning digests not sent yet today. Full means more
// reminders may be due at once: run another round.
func (d VisitDesk) Round(ctx context.Context, book bot.VisitClock, now time.Time) (RoundResult, error) {
	var res RoundResult
	due, err := book.DueReminders(ctx, now, reminderBatch)
	if err != nil {
		return res, err
	}
	res.Full = len(due) == reminderBatch
	// Of a visit's reminders due together (the scheduler was away), only
	// the latest is worth sending.
	latest := map[int64]int64{}
	for _, r := range due {
		latest[r.Visit.ID] = r.ID
	}
	var ids []int64
	var sends []bot.Send
	for _, r := range due {
		status, reason := bot.ReminderSkipped, ""
		v := r.Visit
		switch {
		case v.OpenID == "":
			status, reason = bot.ReminderCancelled, bot.ReasonErased
		case v.Status == bot.VisitCancelled:
			status, reason = bot.ReminderCancelled, bot.ReasonVisitCancel
		case v.Status == bot.VisitDone || v.Status == bot.VisitMissed:
			status, reason = bot.ReminderCancelled, bot.ReasonVisitDone
		case v.Status != bot.VisitConfirmed:
			status, reason = bot.ReminderCancelled, bot.ReasonUnconfirmed
		case !v.At.After(now):
			reason = bot.ReasonPastAtBooking // the visit's time came first: not sent late
		case latest[v.ID] != r.ID:
			reason = bot.ReasonSameTime
		case !r.Subscribed:
			reason = bot.ReasonUnsubscribed
		}
		if reason == "" {
			inWindow := r.LastInboundAt != nil && now.Sub(*r.LastInboundAt) < bot.CustomerServiceWindow
			snd, ok := d.memberSend(v, bot.KindVisitReminder, d.reminderText(v, now), "请留在家里", inWindow)
			if ok {
				ids, sends = append(ids, r.ID), append(sends, snd)
				continue
			}
			reason = bot.ReasonUnreachable
		}
		if err := book.SkipReminder(ctx, r.ID, status, reason); err != nil {
			return res, err
		}
		res.Skipped++
	}
	if err := book.SendReminders(ctx, ids, sends); err != nil {
		return res, err
	}
	res.Reminders = len(ids)
	if res.Missed, err = book.MarkMissed(ctx, now.Add(-missedAfter)); err != nil {
		return res, err
	}
	if res.Full {
		return res, nil // the digests wait for the round that empties the queue
	}
	res.Digests, err = d.digests(ctx, book, now)
	return res, err
}

// reminderText is the member's reminder of v, said at now.
func (d VisitDesk) reminderText(v bot.Visit, now time.Time) string {
	return fmt.Sprintf(textVisitReminder, d.timeWordsAt(v.At, now), shortName(d.Desk.branch(v.BranchID)), v.Purpose, v.Number)
}

// digests sends each director with open visits today their list, once a
// day, in the morning.
func (d VisitDesk) digests(ctx context.Context, book bot.VisitClock, now time.Time) (int, error) {
	local := now.In(d.zone())
	if local.Hour() < visitDigestHour || local.Hour() >= visitDigestLast {
		return 0, nil
	}
	q := d.dayQuery(now)
	q.Statuses = []string{bot.VisitRequested, bot.VisitConfirmed}
	vs, err := book.FindVisits(ctx, q)
	if err != nil || len(vs) == 0 {
		return 0, err
	}
	byBranch := map[string][]bot.Visit{}
	for _, v := range vs {
		byBranch[v.BranchID] = append(byBranch[v.BranchID], v)
	}
	// Every director the bot can message, once, with the branches they
	// are listed on.
	branches := map[string][]string{}
	county := map[string]bool{}
	for _, b := range d.Desk.Knowledge.Knowledge().Branches {
		for _, dir := range reachable(b) {
			branches[dir.OpenID] = append(branches[dir.OpenID], b.ID)
			if dir.County || b.ID == bot.CountyBranchID {
				county[dir.OpenID] = true
			}
		}
	}
	directors := make([]string, 0, len(branches))
	for id := range branches {
		directors = append(directors, id)
	}
	sort.Strings(directors)
	day := midnight(now, d.zone())
	n := 0
	for _, dir := range directors {
		var mine []bot.Visit
		for _, b := range branches[dir] {
			mine = append(mine, byBranch[b]...)
		}
		if len(mine) == 0 && !county[dir] {
			continue
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].At.Before(mine[j].At) })
		claimed, err := book.ClaimDigest(ctx, dir, day)
		if err != nil {
			return n, err
		}
		if !claimed {
			continue
		}
		var s strings.Builder
		if len(mine) > 0 {
			fmt.Fprintf(&s, textDigestHead, len(mine))
			d.writeLines(&s, mine, len(branches[dir]) > 1)
		} else {
			s.WriteString(textDigestNone)
		}
		if county[dir] {
			fmt.Fprintf(&s, textDigestCounty, len(vs))
		}
		s.WriteString(textDigestFoot)
		words := fmt.Sprintf("今天%d次访视", len(mine))
		if err := book.Enqueue(ctx, []bot.Send{d.directorSend(dir, bot.KindVisitDigest, fmt.Sprint(len(mine)), s.String(), words)}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// StaffBook books a confirmed visit for the member with memberNo, for
// nuanjia visit add: its reminders, and the member told. notice is
// what the staff person reads about telling the member.
func (d VisitDesk) StaffBook(ctx context.Context, book bot.Cases, memberNo int64, at time.Time, purpose, actor string) (v bot.Visit, notice string, err error) {
	openID, p, found, err := book.ProfileByNo(ctx, memberNo)
	if err != nil {
		return bot.Visit{}, "", err
	}
	if !found || openID == "" {
		return bot.Visit{}, "", fmt.Errorf("no member with member number %d", memberNo)
	}
	if problem := d.checkTime(at); problem != "" {
		return bot.Visit{}, "", fmt.Errorf("--at: %s", problem)
	}
	branch := bot.CountyBranchID
	if p.BranchID != nil && *p.BranchID != "" {
		branch = *p.BranchID
	}
	if purpose == "" {
		purpose = defaultPurpose
	}
	v, err = book.BookVisit(ctx, bot.NewVisit{OpenID: openID, BranchID: branch, At: at, Purpose: purpose,
		Status: bot.VisitConfirmed, BookedBy: bot.AuditStaffPrefix + actor})
	if err != nil {
		return bot.Visit{}, "", err
	}
	if err := d.plan(ctx, book, v); err != nil {
		return bot.Visit{}, "", err
	}
	told, err := d.tell(ctx, book, v, fmt.Sprintf(textVisitMemberBooked,
		shortName(d.Desk.branch(v.BranchID)), d.timeWords(v.At), v.Purpose, v.Number), "已预约")
	if err != nil {
		return bot.Visit{}, "", err
	}
	return v, staffNotice(told), nil
}

// StaffCancel cancels the visit with number, for nuanjia visit cancel,
// and tells the member.
func (d VisitDesk) StaffCancel(ctx context.Context, book bot.Cases, number int64) (v bot.Visit, notice string, err error) {
	v, found, err := book.VisitByNumber(ctx, number)
	if err != nil {
		return bot.Visit{}, "", err
	}
	if !found {
		return bot.Visit{}, "", fmt.Errorf("no visit numbered %d", number)
	}
	if !v.Open() {
		return bot.Visit{}, "", fmt.Errorf("visit %d is %s already", number, v.Status)
	}
	if err := d.cancelVisit(ctx, book, &v); err != nil {
		return bot.Visit{}, "", err
	}
	told, err := d.tell(ctx, book, v, fmt.Sprintf(textVisitMemberCancel, d.timeWords(v.At), v.Number), "已取消")
	if err != nil {
		return bot.Visit{}, "", err
	}
	return v, staffNotice(told), nil
}

func staffNotice(told string) string {
	if told == textVisitTold {
		return "the member was told"
	}
	return "the member could not be told (outside the 48-hour window, no WECHAT_TEMPLATE_VISIT_REMINDER): call them"
}
