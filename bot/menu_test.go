package bot_test

import (
	"slices"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/internal/testkit"
)

// menuKeys lists every CLICK key of m, top-level and sub-buttons, in order.
func menuKeys(m bot.Menu) []string {
	var keys []string
	for _, b := range m.Buttons {
		if b.Key != "" {
			keys = append(keys, b.Key)
		}
		for _, s := range b.SubButtons {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

func TestDemoMenuFitsWeChatsLimits(t *testing.T) {
	m := bot.NewMenu(testkit.DemoKnowledge(t))
	if err := m.Validate(); err != nil {
		t.Fatalf("the demo menu breaks WeChat's limits:\n%v", err)
	}
	var tops []string
	for _, b := range m.Buttons {
		tops = append(tops, b.Name)
	}
	if !slices.Equal(tops, []string{"求助", "联系卡", "更多"}) {
		t.Errorf("top buttons %v, want 求助 · 联系卡 · 更多", tops)
	}
	want := []string{"help", "contact", "faq:childcare-subsidy", "faq:birth-registration", "visit", "status", "profile"}
	if got := menuKeys(m); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
}

// Every key on the menu is one the router serves: an intent, or a policy
// topic whose FAQ the knowledge base has.
func TestDemoMenuKeysAreServed(t *testing.T) {
	f := newRouterFixture(t)
	for _, key := range menuKeys(bot.NewMenu(f.ix.Knowledge())) {
		reply, u := f.route(t, click(key), bot.Member{})
		if u.Intent == bot.IntentUnknown || reply == unknownReply(t) {
			t.Errorf("menu key %q is not served: intent %s, reply:\n%s", key, u.Intent, reply)
		}
		if id, ok := strings.CutPrefix(key, bot.MenuKeyFAQ); ok {
			faq, _ := f.ix.FAQ(id)
			if !strings.HasPrefix(reply, faq.Answer) || faq.Answer == "" {
				t.Errorf("menu key %q does not answer its FAQ:\n%s", key, reply)
			}
		}
	}
}

// A knowledge base without the most asked topics still gets a menu; the
// topics it has fill 更多's policy places in order.
func TestMenuSkipsMissingTopics(t *testing.T) {
	kb := bot.Knowledge{FAQs: []bot.FAQ{{ID: "prenatal-checkup"}, {ID: "three-child-policy"}}}
	m := bot.NewMenu(kb)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"help", "contact", "faq:prenatal-checkup", "visit", "status", "profile"}
	if got := menuKeys(m); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if got := menuKeys(bot.NewMenu(bot.Knowledge{})); slices.ContainsFunc(got, func(k string) bool {
		return strings.HasPrefix(k, bot.MenuKeyFAQ)
	}) {
		t.Errorf("a knowledge base without FAQs got policy topics: %v", got)
	}
}

func TestMenuValidateNamesTheBrokenButton(t *testing.T) {
	click := func(name, key string) bot.MenuButton {
		return bot.MenuButton{Type: bot.MenuButtonClick, Name: name, Key: key}
	}
	more := func(subs ...bot.MenuButton) bot.MenuButton { return bot.MenuButton{Name: "更多", SubButtons: subs} }
	menu := func(buttons ...bot.MenuButton) bot.Menu { return bot.Menu{Buttons: buttons} }
	tests := []struct {
		name  string
		menu  bot.Menu
		wants []string // each must be in the error
	}{
		{"top name of 6 Chinese characters (18 bytes)",
			menu(click("求助求助求助", "help"), click("联系卡", "contact")),
			[]string{`"求助求助求助"`, "18 bytes", "16"}},
		{"top name one byte over",
			menu(click("联系卡五六AB", "contact")),
			[]string{`"联系卡五六AB"`, "17 bytes"}},
		{"sub-button name over 60 bytes",
			menu(more(click(strings.Repeat("育", 21), "visit"))),
			[]string{`"更多" › "` + strings.Repeat("育", 21) + `"`, "63 bytes", "60"}},
		{"a 4th top button",
			menu(click("求助", "help"), click("联系卡", "contact"), more(click("预约访视", "visit")), click("抽奖", "lottery")),
			[]string{`"抽奖"`, "4 top-level buttons", "at most 3"}},
		{"a 6th sub-button",
			menu(more(click("一", "k1"), click("二", "k2"), click("三", "k3"), click("四", "k4"), click("五", "k5"), click("六", "k6"))),
			[]string{`"更多"`, "6 sub-buttons", "at most 5", `"六"`}},
		{"a key over 128 bytes",
			menu(more(click("育儿补贴", "faq:"+strings.Repeat("x", 125)))),
			[]string{`"更多" › "育儿补贴"`, "key is 129 bytes", "128"}},
		{"a button without a key",
			menu(click("求助", "")),
			[]string{`"求助"`, "no key"}},
		{"two buttons with one key",
			menu(click("求助", "help"), more(click("我要求助", "help"))),
			[]string{`"更多" › "我要求助"`, `"help"`}},
		{"no buttons", menu(), []string{"no buttons"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.menu.Validate()
			if err == nil {
				t.Fatalf("Validate passed %+v", tt.menu)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %s:\n%v", w, err)
				}
			}
		})
	}
}

// Exactly at the limits is allowed: 3 top buttons, 5 sub-buttons, a 16-byte
// top name, a 60-byte sub name, a 128-byte key.
func TestMenuValidateAcceptsTheLimits(t *testing.T) {
	sub := func(name, key string) bot.MenuButton {
		return bot.MenuButton{Type: bot.MenuButtonClick, Name: name, Key: key}
	}
	m := bot.Menu{Buttons: []bot.MenuButton{
		sub("联系卡五六A", "contact"), // 16 bytes
		sub("求助", strings.Repeat("k", 128)),
		{Name: "更多", SubButtons: []bot.MenuButton{
			sub(strings.Repeat("育", 20), "k1"), // 60 bytes
			sub("二", "k2"), sub("三", "k3"), sub("四", "k4"), sub("五", "k5"),
		}},
	}}
	if err := m.Validate(); err != nil {
		t.Errorf("a menu exactly at the limits fails:\n%v", err)
	}
}
