package bot

import (
	"errors"
	"fmt"
	"strings"
)

// WeChat's limits on a custom menu (menu/create): names and keys are
// counted in UTF-8 bytes, so a Chinese character costs three.
const (
	MenuMaxButtons      = 3
	MenuMaxSubButtons   = 5
	MenuMaxNameBytes    = 16 // a top-level button: 5 Chinese characters
	MenuMaxSubNameBytes = 60
	MenuMaxKeyBytes     = 128
)

// MenuButtonClick is the one button type the bot's menu uses: the member's
// tap comes back as a CLICK event carrying the key, which the router maps
// to an intent.
const MenuButtonClick = "click"

// MenuKeyFAQ prefixes the CLICK key of a policy topic: "faq:<faq id>" is
// answered as a policy question about that FAQ.
const MenuKeyFAQ = "faq:"

// Menu is the official account's custom menu, shaped as menu/create's body.
type Menu struct {
	Buttons []MenuButton `json:"button"`
}

// MenuButton is a CLICK button, or a top-level button that only opens its
// sub-buttons (and sends no event of its own).
type MenuButton struct {
	Type       string       `json:"type,omitempty"`
	Name       string       `json:"name"`
	Key        string       `json:"key,omitempty"`
	SubButtons []MenuButton `json:"sub_button,omitempty"`
}

// menuTopic is a policy FAQ the menu offers, with its label on the button.
type menuTopic struct{ faqID, label string }

// menuTopics are the most asked policy topics, most asked first. The menu
// has room for menuTopicSlots of them; a topic whose FAQ the knowledge base
// lacks is skipped.
func menuTopics() []menuTopic {
	return []menuTopic{
		{"childcare-subsidy", "育儿补贴"},
		{"birth-registration", "生育登记"},
		{"prenatal-checkup", "免费产检"},
	}
}

// menuTopicSlots leaves room in 更多 for its three fixed sub-buttons.
const menuTopicSlots = MenuMaxSubButtons - 3

// NewMenu builds the account's menu: 求助 · 联系卡 · 更多, where 更多 holds
// up to two policy topics from kb, then 预约访视, 我的求助 and 我的信息.
func NewMenu(kb Knowledge) Menu {
	have := make(map[string]bool, len(kb.FAQs))
	for _, f := range kb.FAQs {
		have[f.ID] = true
	}
	var more []MenuButton
	for _, t := range menuTopics() {
		if len(more) == menuTopicSlots {
			break
		}
		if have[t.faqID] {
			more = append(more, clickButton(t.label, MenuKeyFAQ+t.faqID))
		}
	}
	more = append(more,
		clickButton("预约访视", string(IntentVisit)),
		clickButton("我的求助", string(IntentStatus)),
		clickButton("我的信息", string(IntentProfile)),
	)
	return Menu{Buttons: []MenuButton{
		clickButton("求助", string(IntentHelp)),
		clickButton("联系卡", string(IntentContact)),
		{Name: "更多", SubButtons: more},
	}}
}

func clickButton(name, key string) MenuButton {
	return MenuButton{Type: MenuButtonClick, Name: name, Key: key}
}

// Validate checks m against WeChat's limits before it is sent, so
// WeChat never refuses it half-way. It reports every problem at once, one
// per line, each naming its button ("更多 › 育儿补贴").
func (m Menu) Validate() error {
	var errs []error
	bad := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if len(m.Buttons) == 0 {
		errs = append(errs, errors.New("menu: no buttons"))
	}
	if len(m.Buttons) > MenuMaxButtons {
		names := make([]string, 0, len(m.Buttons)-MenuMaxButtons)
		for _, b := range m.Buttons[MenuMaxButtons:] {
			names = append(names, fmt.Sprintf("%q", b.Name))
		}
		bad("menu", "%d top-level buttons, at most %d (too many: %s)",
			len(m.Buttons), MenuMaxButtons, strings.Join(names, ", "))
	}
	keys := map[string]string{} // key → the button that has it
	leaf := func(where string, b MenuButton) {
		if b.Type != MenuButtonClick {
			bad(where, "type %q, want %q (the bot answers only menu clicks)", b.Type, MenuButtonClick)
		}
		switch {
		case b.Key == "":
			bad(where, "no key")
		case len(b.Key) > MenuMaxKeyBytes:
			bad(where, "key is %d bytes, at most %d", len(b.Key), MenuMaxKeyBytes)
		case keys[b.Key] != "":
			bad(where, "key %q is also %s's", b.Key, keys[b.Key])
		default:
			keys[b.Key] = where
		}
	}
	for i, b := range m.Buttons {
		where := buttonName(b.Name, i)
		checkName(bad, where, b.Name, MenuMaxNameBytes)
		if len(b.SubButtons) == 0 {
			leaf(where, b)
			continue
		}
		if b.Type != "" || b.Key != "" {
			bad(where, "has sub-buttons, so it takes no type or key")
		}
		if len(b.SubButtons) > MenuMaxSubButtons {
			names := make([]string, 0, len(b.SubButtons)-MenuMaxSubButtons)
			for _, s := range b.SubButtons[MenuMaxSubButtons:] {
				names = append(names, fmt.Sprintf("%q", s.Name))
			}
			bad(where, "%d sub-buttons, at most %d (too many: %s)",
				len(b.SubButtons), MenuMaxSubButtons, strings.Join(names, ", "))
		}
		for j, s := range b.SubButtons {
			sub := where + " › " + buttonName(s.Name, j)
			checkName(bad, sub, s.Name, MenuMaxSubNameBytes)
			if len(s.SubButtons) > 0 {
				bad(sub, "sub-buttons cannot have sub-buttons")
			}
			leaf(sub, s)
		}
	}
	return errors.Join(errs...)
}

// buttonName names a button in an error: its name, or its position when it
// has none.
func buttonName(name string, i int) string {
	if strings.TrimSpace(name) == "" {
		return fmt.Sprintf("button %d", i+1)
	}
	return fmt.Sprintf("%q", name)
}

func checkName(bad func(where, format string, args ...any), where, name string, maxBytes int) {
	switch {
	case strings.TrimSpace(name) == "":
		bad(where, "no name")
	case len(name) > maxBytes:
		bad(where, "name is %d bytes, at most %d", len(name), maxBytes)
	}
}
