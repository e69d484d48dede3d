package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/officialaccount/menu"

	"nuanjia/bot"
	"nuanjia/bot/wxapi"
	"nuanjia/config"
	"nuanjia/store"
)

const menuUsage = "usage: nuanjia menu show|push [--kb FILE.yaml]"

// menuCommand shows or pushes the account's custom menu, built from the
// knowledge base's FAQs.
func menuCommand(ctx context.Context, e env) error { return runMenu(ctx, e, redisPrefix) }

// runMenu is menuCommand with the Redis prefix the access token is cached
// under: serve's, so the two share one token; a test's own in tests.
func runMenu(ctx context.Context, e env, prefix string) error {
	if len(e.args) == 0 {
		return errors.New(menuUsage)
	}
	sub := e.args[0]
	if sub != "show" && sub != "push" {
		return fmt.Errorf("unknown menu command %q\n%s", sub, menuUsage)
	}
	fs := e.flags("menu " + sub)
	kbFile := fs.String("kb", "", "knowledge-base YAML file (default: the database's)")
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(menuUsage)
	}
	if sub == "show" {
		kb, err := loadKnowledge(ctx, e, *kbFile)
		if err != nil {
			return err
		}
		m := bot.NewMenu(kb)
		if err := showMenu(e.stdout, e.stderr, m); err != nil {
			return err
		}
		return m.Validate()
	}
	return pushMenu(ctx, e, *kbFile, prefix)
}

// showMenu writes menu/create's body to stdout, so it can be piped, and
// each name's byte length against its limit to stderr.
func showMenu(stdout, stderr io.Writer, m bot.Menu) error {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	rows := [][]string{{"button", "bytes", "limit", "key"}}
	for _, b := range m.Buttons {
		rows = append(rows, []string{b.Name, strconv.Itoa(len(b.Name)), strconv.Itoa(bot.MenuMaxNameBytes), b.Key})
		for _, s := range b.SubButtons {
			rows = append(rows, []string{"  " + s.Name, strconv.Itoa(len(s.Name)), strconv.Itoa(bot.MenuMaxSubNameBytes), s.Key})
		}
	}
	var table strings.Builder
	writeAligned(&table, rows)
	_, err := io.WriteString(stderr, table.String())
	return err
}

// pushMenu validates the menu and replaces the account's with it; an
// invalid menu is not sent.
func pushMenu(ctx context.Context, e env, kbFile, prefix string) error {
	needs := []config.Need{config.NeedRedis, config.NeedWeChatAPI}
	if kbFile == "" {
		needs = append(needs, config.NeedDatabase)
	}
	cfg, err := config.Load(e.getenv, needs...)
	if err != nil {
		return err
	}
	kb, err := loadKnowledge(ctx, e, kbFile)
	if err != nil {
		return err
	}
	m := bot.NewMenu(kb)
	if err := m.Validate(); err != nil {
		return fmt.Errorf("menu not sent:\n%w", err)
	}
	rd, err := store.OpenRedis(ctx, cfg.RedisURL, prefix)
	if err != nil {
		return err
	}
	defer rd.Close()
	wx, err := wxapi.New(wxapi.Config{
		AppID: cfg.WeChatAppID, AppSecret: cfg.WeChatAppSecret, BaseURL: cfg.WeChatAPIBase,
		Tokens: store.NewRedisTokens(rd.Client(), prefix), Logger: e.log,
	})
	if err != nil {
		return err
	}
	if err := wx.SetMenu(ctx, wechatButtons(m)); err != nil {
		return fmt.Errorf("menu not pushed: %w", err)
	}
	names := make([]string, len(m.Buttons))
	for i, b := range m.Buttons {
		names[i] = b.Name
		if len(b.SubButtons) > 0 {
			subs := make([]string, len(b.SubButtons))
			for j, s := range b.SubButtons {
				subs[j] = s.Name
			}
			names[i] += " (" + strings.Join(subs, " · ") + ")"
		}
	}
	fmt.Fprintf(e.stdout, "menu pushed: %s\n", strings.Join(names, " · "))
	return nil
}

// wechatButtons is m in the SDK's button structs, which SetMenu sends.
func wechatButtons(m bot.Menu) []*menu.Button {
	var convert func(bs []bot.MenuButton) []*menu.Button
	convert = func(bs []bot.MenuButton) []*menu.Button {
		if len(bs) == 0 {
			return nil
		}
		out := make([]*menu.Button, len(bs))
		for i, b := range bs {
			out[i] = &menu.Button{Type: b.Type, Name: b.Name, Key: b.Key, SubButtons: convert(b.SubButtons)}
		}
		return out
	}
	return convert(m.Buttons)
}
