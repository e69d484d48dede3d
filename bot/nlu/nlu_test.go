package nlu

import (
	"math"
	"os"
	"strings"
	"sync"
	"testing"

	"nuanjia/bot"
)

func TestNormalize(t *testing.T) {
	n := normalizer(t)
	for _, c := range []struct{ name, in, want string }{
		{"full-width latin and digits", "ＬＯＮＧＬＩＮ　１２３", "longlin 123"},
		{"full-width punctuation", "你好，在吗？！", "你好 在吗"},
		{"traditional", "計劃生育協會聯繫電話", "计划生育协会联系电话"},
		{"traditional phrase rule", "頭髮", "头发"},
		{"bracket pinyin", "計生協(xié)聯(lián)系電話", "计生协联系电话"},
		{"bracket simplified", "鳳皇石材廠(厂)", "凤皇石材厂"},
		{"full-width brackets", "縣工業(yè)園區（qū）", "县工业园区"},
		{"real bracketed text stays", "我受伤了(很急)", "我受伤了 很急"},
		{"fillers", "嗯那个就是我想问一下啊", "我想问一下"},
		{"final particle", "帮帮我们吧", "帮帮我们"},
		{"particle inside a word", "孩子去网吧了", "孩子去网吧了"},
		{"pinyin kept, lower-cased", "LongLin XieHui DianHua", "longlin xiehui dianhua"},
		{"tone marks", "lóng lín", "long lin"},
		{"emoji", "👍👍", ""},
		{"dialect words", "娃儿咋个办 冇钱", "孩子怎么办 没钱"},
		{"dialect in traditional", "娃兒啥子時候上學", "孩子什么时候上学"},
	} {
		if got := n.Normalize(c.in); got != c.want {
			t.Errorf("%s: Normalize(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// TestNormalizeMatchesOpenCC checks the fast path against OpenCC's own
// Convert on the seed article and the evaluation texts.
func TestNormalizeMatchesOpenCC(t *testing.T) {
	n := normalizer(t)
	var texts []string
	if b, err := os.ReadFile("/work/shared/seed/000_1deb948e5fd35df0.txt"); err == nil {
		texts = append(texts, strings.Split(string(b), "\n")...)
	}
	for _, l := range loadLabelled(t, "testdata/eval.tsv") {
		texts = append(texts, l.text)
	}
	texts = append(texts, "一目瞭然", "著作權", "乾隆皇帝乾杯", "瞭解")
	for _, s := range texts {
		want, err := n.cc.Convert(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(n.simplify([]rune(s))); got != want {
			t.Errorf("simplify(%q) = %q, OpenCC says %q", s, got, want)
		}
	}
}

func TestPinyinAndHomophones(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in     string
		intent bot.Intent
		branch string
	}{
		{"longlin xinzhou dianhua", bot.IntentContact, "longlin-xinzhou"},
		{"longlinxinzhou", bot.IntentContact, "longlin-xinzhou"},
		{"ZHEBAO", bot.IntentContact, "longlin-zhebao"},
		{"凤凰石材厂电话", bot.IntentContact, "dushan-fenghuang"},
		{"宏发煤矿电话", bot.IntentContact, "longshan-hongfa"},
		{"记生协电话", bot.IntentContact, ""},
		{"我在新州工资被拖欠", bot.IntentHelp, "longlin-xinzhou"},
		{"yinhangka bei dongjie le gongzi qu bu chulai", bot.IntentHelp, ""},
		// 都删 sounds like 笃山 (dū shān) but shares no character with it.
		{"我退出了 把我的记录都删掉", bot.IntentForget, ""},
	} {
		u := ix.Understand(c.in)
		if u.Intent != c.intent || u.Branch != c.branch {
			t.Errorf("Understand(%q) = %s/%q (norm %q), want %s/%q", c.in, u.Intent, u.Branch, u.Norm, c.intent, c.branch)
		}
	}
}

// TestPinyinWholeSyllables checks that typed pinyin becomes a word only
// when whole syllables spell it with its characters' usual readings.
func TestPinyinWholeSyllables(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want, not string }{
		{"qu bu chulai", "", "补助"}, // 助 has a rare reading chú: bu chu is 不出
		{"buzhu", "补助", ""},
		{"gongzi qu bu chulai", "工资", "补助"},
		{"fangdongbutuiyajin", "房东", ""}, // joined words still split
		{"longlinxinzhou", "隆林新州", ""},
	} {
		norm := ix.Understand(c.in).Norm
		if c.want != "" && !strings.Contains(norm, c.want) {
			t.Errorf("norm(%q) = %q, want it to contain %s", c.in, norm, c.want)
		}
		if c.not != "" && strings.Contains(norm, c.not) {
			t.Errorf("norm(%q) = %q, must not contain %s", c.in, norm, c.not)
		}
	}
}

func TestUnderstandFields(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	u := ix.Understand("我老公在工地受伤了流血不止")
	if u.Intent != bot.IntentHelp || !u.Urgent || u.Score <= 0 || u.Score > 1 {
		t.Errorf("injury: %+v", u)
	}
	if u := ix.Understand("老板拖欠工资"); u.Urgent {
		t.Errorf("unpaid wages marked urgent: %+v", u)
	}
	if u := ix.Understand("育儿补贴怎么领"); u.Intent != bot.IntentPolicy || u.FAQ != "childcare-subsidy" {
		t.Errorf("policy: %+v", u)
	}
	// A FAQ keyword typed with one sound-alike character still finds it.
	if u := ix.Understand("准生正在哪里办"); u.Intent != bot.IntentPolicy || u.FAQ != "birth-registration" {
		t.Errorf("sound-alike keyword: %+v", u)
	}
	// …but two wrong characters are a different phrase, not a typo.
	if u := ix.Understand("尊生正"); u.FAQ != "" {
		t.Errorf("two sound-alike characters matched a keyword: %+v", u)
	}
	if u := ix.Understand("今天天气不错"); u.FAQ != "" || len(u.FAQs) != 0 {
		t.Errorf("nothing fits, yet FAQ: %+v", u)
	}
	for _, s := range []string{"", "1", "12345", "😊", "？？", "asdf"} {
		if u := ix.Understand(s); u.Intent != bot.IntentUnknown {
			t.Errorf("Understand(%q) = %s, want unknown", s, u.Intent)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	set := loadLabelled(t, "testdata/eval.tsv")
	want := make([]bot.Understanding, len(set))
	for i, l := range set {
		want[i] = ix.Understand(l.text)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, l := range set {
				if u := ix.Understand(l.text); u.Intent != want[i].Intent || u.FAQ != want[i].FAQ || u.Branch != want[i].Branch {
					t.Errorf("concurrent Understand(%q) differs", l.text)
				}
			}
		}()
	}
	wg.Wait()
}

func TestNearest(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lat, lng float64
		want     string
		maxKm    float64
	}{
		{24.771, 105.345, "longlin-xinzhou", 1},
		{24.62, 105.18, "longlin-zhebao", 0.01},
		{25.199, 105.352, "dushan-fenghuang", 1},
		{25.246, 105.598, "puping-xinjie", 1},
	} {
		b, km, ok := ix.Nearest(c.lat, c.lng)
		if !ok || b.ID != c.want || km > c.maxKm {
			t.Errorf("Nearest(%v, %v) = %s %.2f km, want %s", c.lat, c.lng, b.ID, km, c.want)
		}
	}
	// Anlong county seat to Xinzhou, Longlin: about 37 km as the crow flies.
	if d := haversineKm(25.099, 105.442, 24.770, 105.344); math.Abs(d-37.8) > 1.5 {
		t.Errorf("haversine county→xinzhou = %.1f km", d)
	}
	empty := &Index{}
	if _, _, ok := empty.Nearest(25, 105); ok {
		t.Error("Nearest on no branches reported ok")
	}
}

func TestLookups(t *testing.T) {
	kb := demoKB(t)
	ix, err := New(normalizer(t), kb)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := ix.Branch("county"); !ok || b.Name != "安龙县计生协" {
		t.Errorf("Branch(county) = %+v, %v", b, ok)
	}
	if _, ok := ix.Branch("nope"); ok {
		t.Error("Branch(nope) found")
	}
	if f, ok := ix.FAQ("residence-permit"); !ok || f.Source == "" {
		t.Errorf("FAQ(residence-permit) = %+v, %v", f, ok)
	}
	if len(ix.Knowledge().Branches) != 15 || len(ix.Knowledge().FAQs) != 14 {
		t.Errorf("Knowledge: %d branches, %d faqs", len(ix.Knowledge().Branches), len(ix.Knowledge().FAQs))
	}
}

// TestDemoData pins what the issue asks of the shipped demo file.
func TestDemoData(t *testing.T) {
	kb := demoKB(t)
	raw, _ := os.ReadFile("../../kb/demo.yaml")
	if !strings.Contains(strings.SplitN(string(raw), "\n", 2)[0], "DEMO") {
		t.Error("demo.yaml must say DEMO in its first line")
	}
	wantBranches := []string{"county", "longlin-xinzhou", "longlin-zhebao", "longlin-tianshengqiao", "dushan-fenghuang",
		"longshan-coal", "longshan-hongfa", "longshan-qiujiawan", "longshan-weifeng", "longshan-xinfa", "industrial-park",
		"zhaodi-jinlong", "puping-xinjie", "qifeng-daping", "zhaodi-xier"}
	wantFAQs := []string{"marriage-birth-cert", "birth-registration", "three-child-policy", "childcare-subsidy",
		"reward-assistance", "special-assistance", "free-contraceptives", "prenatal-checkup", "maternity-insurance",
		"child-schooling", "residence-permit", "left-behind-children", "equal-services", "association-membership"}
	if len(kb.Branches) != len(wantBranches) || len(kb.FAQs) != len(wantFAQs) {
		t.Fatalf("got %d branches, %d faqs", len(kb.Branches), len(kb.FAQs))
	}
	countyDirector := false
	for i, b := range kb.Branches {
		if b.ID != wantBranches[i] {
			t.Errorf("branches[%d] = %s, want %s", i, b.ID, wantBranches[i])
		}
		if !(strings.HasPrefix(b.Phone, "0859-00000") || strings.HasPrefix(b.Phone, "0776-00000")) || len(b.Directors) < 1 || len(b.Directors) > 2 {
			t.Errorf("branch %s: phone %q, %d directors", b.ID, b.Phone, len(b.Directors))
		}
		for _, d := range b.Directors {
			if !strings.HasPrefix(d.OpenID, "demo-openid-") {
				t.Errorf("branch %s: openid %q is not a demo id", b.ID, d.OpenID)
			}
			countyDirector = countyDirector || (b.ID == "county" && d.County)
		}
	}
	if !countyDirector {
		t.Error("county branch needs a director with county: true")
	}
	for i, f := range kb.FAQs {
		if f.ID != wantFAQs[i] {
			t.Errorf("faqs[%d] = %s, want %s", i, f.ID, wantFAQs[i])
		}
		if !strings.Contains(f.Answer, "具体以当地政策为准") || len([]rune(f.Answer)) > 200 || f.Updated > "2026-11-29" {
			t.Errorf("faq %s: answer %d runes, updated %s", f.ID, len([]rune(f.Answer)), f.Updated)
		}
	}
}

func TestParseKnowledgeStrict(t *testing.T) {
	if _, err := ParseKnowledge([]byte("branches:\n  - id: a\n    nmae: typo\n")); err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Errorf("unknown field: err = %v", err)
	}
	if _, err := ParseKnowledge(nil); err == nil {
		t.Error("empty document accepted")
	}
	if _, err := ParseKnowledge([]byte("faqs: []\n---\nfaqs: []\n")); err == nil {
		t.Error("two documents accepted")
	}
}

func TestValidate(t *testing.T) {
	good := func() bot.Knowledge {
		return bot.Knowledge{
			Branches: []bot.Branch{
				{ID: "county", Name: "县", Lat: 25, Lng: 105, Phone: "0859-0000001",
					Directors: []bot.Director{{Name: "甲", OpenID: "demo-1", County: true}}},
				{ID: "b", Name: "乙", Lat: 24, Lng: 105, Phone: "0776-0000001"},
			},
			FAQs: []bot.FAQ{{ID: "x", Question: "问", Answer: "答", Updated: "2026-01-01", Source: "法"}},
		}
	}
	if err := Validate(good()); err != nil {
		t.Fatalf("good kb: %v", err)
	}
	for _, c := range []struct {
		name   string
		break_ func(*bot.Knowledge)
		want   []string
	}{
		{"bad date", func(k *bot.Knowledge) { k.FAQs[0].Updated = "2024-13-01" },
			[]string{`faqs[0] (id "x"): updated: "2024-13-01" is not a YYYY-MM-DD date`}},
		{"bad faq id", func(k *bot.Knowledge) { k.FAQs[0].ID = "Bad_ID" }, []string{`faqs[0] (id "Bad_ID"): id:`}},
		{"duplicate branch", func(k *bot.Knowledge) { k.Branches[1].ID = "county" }, []string{`branches[1] (id "county"): id: duplicate of branches[0]`}},
		{"missing name and phone", func(k *bot.Knowledge) { k.Branches[1].Name, k.Branches[1].Phone = "", "" },
			[]string{`branches[1] (id "b"): name: missing`, `branches[1] (id "b"): phone: missing`}},
		{"lat out of range", func(k *bot.Knowledge) { k.Branches[1].Lat = 95 }, []string{`branches[1] (id "b"): lat: 95 is outside`}},
		{"lng out of range", func(k *bot.Knowledge) { k.Branches[1].Lng = -181 }, []string{`branches[1] (id "b"): lng: -181 is outside`}},
		{"director openid", func(k *bot.Knowledge) { k.Branches[0].Directors[0].OpenID = "" },
			[]string{`branches[0] (id "county"): directors[0].openid: missing`}},
		{"no county", func(k *bot.Knowledge) { k.Branches[0].ID = "c" }, []string{`no branch with id "county"`}},
		{"faq answer and source", func(k *bot.Knowledge) { k.FAQs[0].Answer, k.FAQs[0].Source = "", "" },
			[]string{`faqs[0] (id "x"): answer: missing`, `faqs[0] (id "x"): source: missing`}},
		{"empty keyword", func(k *bot.Knowledge) { k.FAQs[0].Keywords = []string{"a", " "} }, []string{`faqs[0] (id "x"): keywords[1]: empty`}},
	} {
		k := good()
		c.break_(&k)
		err := Validate(k)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
		if _, err := New(normalizer(t), k); err == nil {
			t.Errorf("%s: New accepted an invalid kb", c.name)
		}
	}
}
