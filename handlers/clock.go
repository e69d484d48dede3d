package handlers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"nuanjia/bot"
)

// Clock does the case desk's work that waits for time, a few seconds
// apart inside serve: questions alerted in batches, cases not accepted in
// time told to the county, assignees reminded to reply, alerts and
// replies that reached nobody made up for. Each round runs in one
// transaction whose lists lock their cases, so with several serve
// processes every one-off message is written once.
type Clock struct {
	Desk Desk
}

// clockBatch bounds each list of a round; the rest waits for the next.
const clockBatch = 50

// Texts the clock sends directors.
const (
	textEscalatedFmt   = "【超时未受理】%s的编号%d（%s%s）已%s没人受理，请县协会跟进。回复「接 %d」受理。"
	textUnreachedFmt   = "【通知未送达】%s的编号%d（%s）的提醒没能送到支部负责人，请县协会跟进。回复「案件 %d」查看。"
	textRemindFmt      = "【请回复会员】编号%d受理已%s，还没有回复会员。回复「回 %d 内容」答复。"
	textQuestionsFmt   = "【会员问题%d条】机器人答不了，请看一下：%s\n回复「案件 编号」查看，「回 编号 内容」答复。"
	textUndeliveredFmt = "给编号%d会员的回复没能送达（%s）。请打电话联系会员。"
)

// Tick runs one round.
func (c Clock) Tick(ctx context.Context, book bot.CaseClock) error {
	steps := []func(context.Context, bot.CaseClock) error{
		c.questions, c.unaccepted, c.unreplied, c.unreached, c.undelivered,
	}
	for _, step := range steps {
		if err := step(ctx, book); err != nil {
			return err
		}
	}
	return nil
}

// questions alerts each branch's waiting questions in one message.
func (c Clock) questions(ctx context.Context, book bot.CaseClock) error {
	ks, err := book.QuestionsToAlert(ctx, c.Desk.Settings.QuestionBatch, clockBatch)
	if err != nil || len(ks) == 0 {
		return err
	}
	byBranch := map[string][]bot.Case{}
	for _, k := range ks {
		byBranch[k.BranchID] = append(byBranch[k.BranchID], k)
	}
	ids := make([]string, 0, len(byBranch))
	for id := range byBranch {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	now := c.Desk.now()
	for _, id := range ids {
		group := byBranch[id]
		numbers := make([]string, len(group))
		for i, k := range group {
			numbers[i] = fmt.Sprint(k.Number)
		}
		b := c.Desk.branch(id)
		to := reachable(b)
		unreached := len(to) == 0
		if unreached {
			to = c.Desk.countyDirectors()
		}
		text := fmt.Sprintf(textQuestionsFmt, len(group), strings.Join(numbers, "、"))
		first := group[0]
		if len(group) == 1 {
			// One question reads better as the alert itself.
			sends, _ := c.Desk.alertSends(first, b, bot.KindAlert, "")
			if err := book.Enqueue(ctx, sends); err != nil {
				return err
			}
		} else {
			first.Summary = fmt.Sprintf("%d条会员问题待回复", len(group))
			sends := make([]bot.Send, 0, len(to))
			for _, dir := range to {
				snd := c.Desk.toDirector(dir.OpenID, bot.KindAlert, first, text, first.Summary)
				snd.AtMostOnce = true
				sends = append(sends, snd)
			}
			if err := book.Enqueue(ctx, sends); err != nil {
				return err
			}
		}
		for _, k := range group {
			k.AlertedAt = &now
			if unreached {
				// As an alert does: the log says why the county has it.
				if err := c.Desk.markUnreached(ctx, book, &k, b); err != nil {
					return err
				}
			}
			if err := book.SaveCase(ctx, k); err != nil {
				return err
			}
			if err := book.Log(ctx, k.ID, bot.ActionAlerted, bot.ActorBot, fmt.Sprintf("通知%d人（%d条一起）", len(to), len(group))); err != nil {
				return err
			}
		}
	}
	return nil
}

// unaccepted tells the county of cases nobody accepted in time.
func (c Clock) unaccepted(ctx context.Context, book bot.CaseClock) error {
	ks, err := book.Unaccepted(ctx, c.Desk.Settings.AcceptSLA, c.Desk.Settings.UrgentAcceptSLA, clockBatch)
	if err != nil {
		return err
	}
	for _, k := range ks {
		urgent := ""
		if k.Urgent {
			urgent = "，紧急"
		}
		b := c.Desk.branch(k.BranchID)
		text := fmt.Sprintf(textEscalatedFmt, shortName(b), k.Number, categoryName(k.Category), urgent,
			c.Desk.elapsed(waitingSince(k)), k.Number)
		if err := c.toCounty(ctx, book, k, bot.KindEscalation, text, "超时未受理"); err != nil {
			return err
		}
		now := c.Desk.now()
		k.EscalatedAt = &now
		if err := book.SaveCase(ctx, k); err != nil {
			return err
		}
		if err := book.Log(ctx, k.ID, bot.ActionEscalated, bot.ActorBot, "超时未受理，通知县计生协"); err != nil {
			return err
		}
	}
	return nil
}

// unreplied reminds assignees who accepted a case and said nothing since.
func (c Clock) unreplied(ctx context.Context, book bot.CaseClock) error {
	ks, err := book.Unreplied(ctx, c.Desk.Settings.ReplySLA, clockBatch)
	if err != nil {
		return err
	}
	for _, k := range ks {
		since := k.CreatedAt
		if k.AcceptedAt != nil {
			since = *k.AcceptedAt
		}
		text := fmt.Sprintf(textRemindFmt, k.Number, c.Desk.elapsed(since), k.Number)
		if err := book.Enqueue(ctx, []bot.Send{c.Desk.toDirector(k.Assignee, bot.KindCaseNotice, k, text, "请回复会员")}); err != nil {
			return err
		}
		now := c.Desk.now()
		k.RemindedAt = &now
		if err := book.SaveCase(ctx, k); err != nil {
			return err
		}
		if err := book.Log(ctx, k.ID, bot.ActionReminded, bot.ActorBot, c.Desk.directorName(k.Assignee)); err != nil {
			return err
		}
	}
	return nil
}

// unreached tells the county of cases whose alerts reached nobody.
func (c Clock) unreached(ctx context.Context, book bot.CaseClock) error {
	ks, err := book.Unreached(ctx, clockBatch)
	if err != nil {
		return err
	}
	for _, k := range ks {
		b := c.Desk.branch(k.BranchID)
		text := fmt.Sprintf(textUnreachedFmt, shortName(b), k.Number, categoryName(k.Category), k.Number)
		if err := c.toCounty(ctx, book, k, bot.KindEscalation, text, "通知未送达"); err != nil {
			return err
		}
		now := c.Desk.now()
		k.UnreachedAt = &now
		if err := book.SaveCase(ctx, k); err != nil {
			return err
		}
		if err := book.Log(ctx, k.ID, bot.ActionUnreached, bot.ActorBot, "支部负责人没收到，通知县计生协"); err != nil {
			return err
		}
	}
	return nil
}

// undelivered tells assignees (or, with none, the case's branch) that a
// reply did not reach the member.
func (c Clock) undelivered(ctx context.Context, book bot.CaseClock) error {
	rs, err := book.UndeliveredReplies(ctx, clockBatch)
	if err != nil {
		return err
	}
	for _, r := range rs {
		// The list marked the reply reported: whoever can act on the case
		// now is told. A case moved since it was replied to has no
		// assignee; its branch's directors (or the county's) have it.
		var to []string
		if r.Case.Assignee != "" {
			to = []string{r.Case.Assignee}
		} else {
			dirs := reachable(c.Desk.branch(r.Case.BranchID))
			if len(dirs) == 0 {
				dirs = c.Desk.countyDirectors()
			}
			for _, dir := range dirs {
				to = append(to, dir.OpenID)
			}
		}
		text := fmt.Sprintf(textUndeliveredFmt, r.Case.Number, failedWords(r.Reason))
		sends := make([]bot.Send, 0, len(to))
		for _, openID := range to {
			sends = append(sends, c.Desk.toDirector(openID, bot.KindCaseNotice, r.Case, text, "回复未送达"))
		}
		if err := book.Enqueue(ctx, sends); err != nil {
			return err
		}
		if err := book.Log(ctx, r.Case.ID, bot.ActionNote, bot.ActorBot, "回复未送达："+failedWords(r.Reason)); err != nil {
			return err
		}
	}
	return nil
}

// toCounty writes text to every county director about k, at most once
// each: the county is the safety net, and its own loss is logged by the
// outbox like any other.
func (c Clock) toCounty(ctx context.Context, book bot.CaseClock, k bot.Case, kind, text, words string) error {
	var sends []bot.Send
	for _, dir := range c.Desk.countyDirectors() {
		snd := c.Desk.toDirector(dir.OpenID, kind, k, text, words)
		if tpl := c.Desk.alertTemplate(k); tpl != nil {
			// The county may not have written to the bot for days: the
			// template first, as for an alert.
			snd.Channel, snd.Fallback, snd.Template = bot.ChannelTemplate, bot.ChannelCustomerService, tpl
		}
		snd.AtMostOnce = true
		sends = append(sends, snd)
	}
	return book.Enqueue(ctx, sends)
}

// failedWords says why the outbox gave up, for a director.
func failedWords(reason string) string {
	switch reason {
	case bot.FailedOutsideWindow:
		return "会员超过48小时没发消息"
	case bot.FailedCSLimit:
		return "超过了微信的客服消息条数限制"
	case bot.FailedUnsubscribed:
		return "会员已取消关注"
	case bot.FailedUncertain:
		return "微信没有确认收到"
	case bot.FailedMaxAttempts, bot.FailedLeaseExpired:
		return "多次发送都没有成功"
	}
	return "微信拒收"
}

// waitingSince is when a case began waiting to be accepted: its latest
// alert (after a move or a reopening), else its opening.
func waitingSince(k bot.Case) time.Time {
	if k.AlertedAt != nil {
		return *k.AlertedAt
	}
	return k.CreatedAt
}
