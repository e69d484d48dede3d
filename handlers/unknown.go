package handlers

import (
	"context"

	"nuanjia/bot"
)

// Unknown answers what the bot did not understand, with what it can do.
type Unknown struct{}

const textUnknown = "没太明白你的意思。可以这样说：\n" +
	"“我要求助”“联系卡”“政策咨询”“预约访视”，\n" +
	"或者直接说遇到了什么事。"

// Handle implements bot.Handler.
func (Unknown) Handle(context.Context, *bot.Request) (bot.Reply, error) {
	return bot.Reply{Text: textUnknown}, nil
}
