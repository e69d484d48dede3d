// Package handlers holds one handler per intent. Each answers in short,
// natural Simplified Chinese that fits a phone screen.
package handlers

import (
	"fmt"
	"strings"

	"nuanjia/bot"
)

// Knowledge is what handlers read from the knowledge base. The serving
// process passes the live index, which is swapped when an import lands.
type Knowledge interface {
	Branch(id string) (bot.Branch, bool)
	FAQ(id string) (bot.FAQ, bool)
	Nearest(lat, lng float64) (b bot.Branch, km float64, ok bool)
	// Knowledge is the whole base: the case desk looks directors up in it.
	Knowledge() bot.Knowledge
}

// branchFor finds the branch a request is about: the one the member named,
// else the member's own. ok is false when neither is known.
func branchFor(k Knowledge, req *bot.Request) (bot.Branch, bool) {
	if req.U.Branch != "" {
		if b, ok := k.Branch(req.U.Branch); ok {
			return b, true
		}
	}
	if req.Member.BranchID != nil {
		if b, ok := k.Branch(*req.Member.BranchID); ok {
			return b, true
		}
	}
	return bot.Branch{}, false
}

// branchOrCounty is branchFor with the county association as last resort.
func branchOrCounty(k Knowledge, req *bot.Request) (bot.Branch, bool) {
	if b, ok := branchFor(k, req); ok {
		return b, true
	}
	return k.Branch(bot.CountyBranchID)
}

// card is a branch's contact card, a few short lines.
func card(b bot.Branch) string {
	var s strings.Builder
	fmt.Fprintf(&s, "【%s】", b.Name)
	for _, d := range b.Directors {
		if d.Phone != "" {
			fmt.Fprintf(&s, "\n负责人：%s %s", d.Name, d.Phone)
		} else {
			fmt.Fprintf(&s, "\n负责人：%s", d.Name)
		}
	}
	if b.Phone != "" {
		fmt.Fprintf(&s, "\n电话：%s", b.Phone)
	}
	if b.Address != "" {
		fmt.Fprintf(&s, "\n地址：%s", b.Address)
	}
	if b.Hours != "" {
		fmt.Fprintf(&s, "\n时间：%s", b.Hours)
	}
	return s.String()
}

// contactLine is one line naming who to call at a branch.
func contactLine(b bot.Branch) string {
	if len(b.Directors) > 0 && b.Directors[0].Phone != "" {
		return fmt.Sprintf("%s负责人%s，电话%s", b.Name, b.Directors[0].Name, b.Directors[0].Phone)
	}
	return fmt.Sprintf("%s，电话%s", b.Name, b.Phone)
}
