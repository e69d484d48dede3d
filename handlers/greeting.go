package handlers

import (
	"context"

	"nuanjia/bot"
)

// Greeting welcomes new followers and answers hellos with what the bot can do.
type Greeting struct{}

const (
	textWelcome = "欢迎关注安龙县流动人口计生协！让流动人口有个温暖的家。\n" +
		"遇到困难直接说，比如“老板拖欠工资”；\n" +
		"要电话发“联系卡”或你在的地方，比如“新州”；\n" +
		"问政策直接问，比如“三孩有补贴吗”。"
	textHello = "你好！我是暖家小助手。\n" +
		"可以帮你：求助、查联系卡、问政策、约上门访视。\n" +
		"直接说你的事就行。"
)

// Handle implements bot.Handler.
func (Greeting) Handle(ctx context.Context, req *bot.Request) (bot.Reply, error) {
	if req.Msg.Event == bot.EventSubscribe || req.Msg.Event == bot.EventScan {
		if req.Msg.Event == bot.EventSubscribe && req.Cases != nil {
			// Following again stops the erasure the leaving started.
			if err := req.Cases.Resubscribed(ctx, req.Msg.OpenID); err != nil {
				return bot.Reply{}, err
			}
		}
		return bot.Reply{Text: textWelcome}, nil
	}
	return bot.Reply{Text: textHello}, nil
}
