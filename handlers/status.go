package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"nuanjia/bot"
)

// Status answers 我的求助: the member's cases, newest first, with their
// status and last update. Without a case book (the say tool) it names the
// director to ask.
type Status struct {
	Desk Desk
}

const (
	textStatusNone   = "你还没有求助记录。遇到困难直接说，比如“工地老板不给工钱”。"
	textStatusHead   = "你的求助："
	textStatusLine   = "\n编号%d %s %s（%s更新）"
	textStatusReply  = "\n　负责人回复：%s"
	textStatusMore   = "\n更早的求助没有列出。"
	textStatusFmt    = "求助进度请直接问%s。"
	textStatusNoKB   = "求助进度请直接问你所在的计生协负责人。"
	statusListed     = 3
	statusReplyRunes = 40
)

// Handle implements bot.Handler.
func (h Status) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Cases == nil {
		if b, ok := branchOrCounty(h.Desk.Knowledge, req); ok {
			return bot.Reply{Text: fmt.Sprintf(textStatusFmt, contactLine(b))}, nil
		}
		return bot.Reply{Text: textStatusNoKB}, nil
	}
	ks, err := req.Cases.MemberCases(ctx, req.Msg.OpenID, statusListed+1)
	if err != nil {
		return bot.Reply{}, err
	}
	if len(ks) == 0 {
		return bot.Reply{Text: textStatusNone}, nil
	}
	var s strings.Builder
	s.WriteString(textStatusHead)
	for i, k := range ks {
		if i == statusListed {
			s.WriteString(textStatusMore)
			break
		}
		fmt.Fprintf(&s, textStatusLine, k.Number, categoryName(k.Category), statusName(k), h.Desk.shortTime(k.UpdatedAt))
		if reply, ok, err := lastReply(ctx, req.Cases, k); err != nil {
			return bot.Reply{}, err
		} else if ok {
			fmt.Fprintf(&s, textStatusReply, clip(reply, statusReplyRunes))
		}
	}
	return bot.Reply{Text: s.String()}, nil
}

// lastReply is the director's latest reply on k, if any among its recent actions.
func lastReply(ctx context.Context, cases bot.Cases, k bot.Case) (string, bool, error) {
	acts, err := cases.LastActions(ctx, k.ID, 10)
	if err != nil {
		return "", false, err
	}
	for i := len(acts) - 1; i >= 0; i-- {
		if acts[i].Action == bot.ActionReply {
			return acts[i].Text, true, nil
		}
	}
	return "", false, nil
}

// shortTime is a time as a member reads it in Asia/Shanghai: "12月3日 14:05".
func (d Desk) shortTime(t time.Time) string {
	return t.In(d.zone()).Format("1月2日 15:04")
}

// zone is where the association is; the fixed offset serves where the
// system has no time-zone data.
func (d Desk) zone() *time.Location {
	if d.Zone != nil {
		return d.Zone
	}
	return time.FixedZone("CST", 8*60*60)
}
