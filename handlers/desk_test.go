package handlers

import (
	"strings"
	"testing"
	"unicode/utf8"

	"nuanjia/bot"
)

// Branches as members and directors say them.
func TestShortName(t *testing.T) {
	for name, want := range map[string]string{
		"安龙县驻隆林新州镇流动人口计生协": "新州镇计生协",
		"安龙县驻隆林者保乡流动人口计生协": "者保乡计生协",
		"笃山镇凤皇石材厂流动人口计生协":  "笃山镇凤皇石材厂计生协",
		"安龙县计生协":           "安龙县计生协",
		"招堤街道金龙社区流动人口计生协":  "招堤街道金龙社区计生协",
	} {
		if got := shortName(bot.Branch{ID: "x", Name: name}); got != want {
			t.Errorf("shortName(%s) = %s, want %s", name, got, want)
		}
	}
}

// The category comes from the member's words; harm to a body first.
func TestCategoryOf(t *testing.T) {
	for text, want := range map[string]string{
		"老板拖欠工资三个月了":   bot.CategoryWages,
		"工地上摔下来了工资也没给": bot.CategoryInjury,
		"孩子在这边上学要什么手续": bot.CategorySchool,
		"老公喝醉了打我":      bot.CategoryRights,
		"身份证丢了怎么补":     bot.CategoryDocuments,
		"小摊生意做不下去了":    bot.CategoryLivelihood,
		"今天天气不错":       bot.CategoryOther,
	} {
		if got := categoryOf(text); got != want {
			t.Errorf("categoryOf(%s) = %s, want %s", text, got, want)
		}
	}
}

// An alert's template values stay inside WeChat's rules, whatever the
// member wrote: a thing at most 20 characters, a phrase 5, no line break.
func TestAlertTemplateKeepsWeChatsLimits(t *testing.T) {
	d := Desk{Settings: CaseSettings{AlertTemplate: "tpl-alert-0001",
		AlertFields: [4]string{"character_string1", "thing2", "phrase3", "thing4"}}}
	k := bot.Case{Number: 123, Category: bot.CategorySchool, Urgent: true,
		Summary: "孩子在这边上学\n学校说要居住证和社保证明，我们没有，怎么办才好呢，急"}
	tpl := d.alertTemplate(k)
	if tpl == nil || tpl.ID != "tpl-alert-0001" || tpl.URL != "" {
		t.Fatalf("template = %+v, want the configured id and no URL (no page to open)", tpl)
	}
	limits := map[string]int{"character_string1": 32, "thing2": 20, "phrase3": 5, "thing4": 20}
	for key, limit := range limits {
		v, ok := tpl.Data[key]
		if !ok || v == "" {
			t.Errorf("%s missing", key)
		}
		if n := utf8.RuneCountInString(v); n > limit || strings.ContainsAny(v, "\n\r") {
			t.Errorf("%s = %q (%d runes), over WeChat's %d or with a line break", key, v, n, limit)
		}
	}
	if tpl.Data["character_string1"] != "123" || tpl.Data["phrase3"] != "紧急" || !strings.HasPrefix(tpl.Data["thing4"], "孩子在这边上学") {
		t.Errorf("values = %v", tpl.Data)
	}
	if (Desk{}).alertTemplate(k) != nil {
		t.Error("a template without a configured id")
	}
}
