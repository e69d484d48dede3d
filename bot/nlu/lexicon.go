package nlu

import (
	"bytes"
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v3"

	"nuanjia/bot"
)

// lexiconFile is the association's vocabulary: data, each entry with its
// reason, compiled in so every process reads the same words.
//
//go:embed lexicon.yaml
var lexiconFile []byte

// lexicon is lexicon.yaml.
type lexicon struct {
	Cues []struct {
		Intent bot.Intent `yaml:"intent"`
		Alone  bool       `yaml:"alone"`
		Reason string     `yaml:"reason"`
		Words  []string   `yaml:"words"`
	} `yaml:"cues"`
	Markers     map[string]wordList `yaml:"markers"`
	Danger      []dangerWords       `yaml:"danger"`
	PassiveHarm wordList            `yaml:"passive_harm"`
}

// dangerWords are the words of one kind of danger.
type dangerWords struct {
	Kind   string   `yaml:"kind"`
	Reason string   `yaml:"reason"`
	Words  []string `yaml:"words"`
}

// maxDangerKinds: an entry holds its kinds as a bit set.
const maxDangerKinds = 16

// wordList is a list of words with the reason they are there.
type wordList struct {
	Reason string   `yaml:"reason"`
	Words  []string `yaml:"words"`
}

// loadLexicon parses and checks lexicon.yaml: every entry has its words
// and its reason, names a known intent or marker.
func loadLexicon() (lexicon, error) {
	var l lexicon
	dec := yaml.NewDecoder(bytes.NewReader(lexiconFile))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return lexicon{}, fmt.Errorf("lexicon.yaml: %w", err)
	}
	for i, c := range l.Cues {
		if intentIndex(c.Intent) < 0 || c.Reason == "" || len(c.Words) == 0 {
			return lexicon{}, fmt.Errorf("lexicon.yaml: cues[%d]: want a known intent, a reason and words", i)
		}
	}
	for _, name := range []string{"past", "progress", "erase", "personal", "ask"} {
		if m, ok := l.Markers[name]; !ok || m.Reason == "" || len(m.Words) == 0 {
			return lexicon{}, fmt.Errorf("lexicon.yaml: markers.%s: want a reason and words", name)
		}
	}
	if len(l.Markers) != 5 {
		return lexicon{}, fmt.Errorf("lexicon.yaml: markers: want past, progress, erase, personal and ask")
	}
	if l.PassiveHarm.Reason == "" || len(l.PassiveHarm.Words) == 0 {
		return lexicon{}, fmt.Errorf("lexicon.yaml: passive_harm: want a reason and words")
	}
	if len(l.Danger) == 0 || len(l.Danger) > maxDangerKinds {
		return lexicon{}, fmt.Errorf("lexicon.yaml: danger: want 1 to %d kinds", maxDangerKinds)
	}
	for i, d := range l.Danger {
		if d.Kind == "" || d.Reason == "" || len(d.Words) == 0 {
			return lexicon{}, fmt.Errorf("lexicon.yaml: danger[%d]: want a kind, a reason and words", i)
		}
	}
	return l, nil
}

// keywordAliases pair what members call a benefit with the knowledge base
// keyword that names it, when the keyword is a shortening: the money is
// 奖扶金, the programme 奖扶. Vocabulary, applied only when the keyword is
// in the knowledge base.
func keywordAliases() [][2]string {
	return [][2]string{
		{"奖扶金", "奖扶"}, {"奖扶钱", "奖扶"}, {"奖励扶助金", "奖励扶助"},
		{"特扶金", "特扶"}, {"特扶钱", "特扶"}, {"特别扶助金", "特别扶助"},
		{"育儿补贴金", "育儿补贴"}, {"生育津贴费", "生育津贴"},
	}
}

// passiveHarm lists what can be done to a member. After 被 or 遭 with a few
// words between ("被人堵在厕所打了", "遭几个人抢了钱") it is a trouble to
// solve, however the victim and the place are described. 打 appears only in
// forms that mean a beating, never in 打工 or 打电话.
func passiveHarm() []string {
	return []string{"打了", "打伤", "打得", "打成", "打我", "打他", "打她", "打孩子", "打一顿", "打断", "打骂", "揍",
		"骗", "抢", "偷", "欺负", "砸", "撞", "咬", "堵", "拦住", "威胁", "敲诈", "勒索", "赶出", "扣押", "扣了", "锁在", "关起来"}
}

// englishWords are Latin words that are not pinyin; they must match a
// whole word, never a piece of a pinyin run.
func englishWords() map[string]bool {
	return map[string]bool{"hello": true, "hi": true, "ok": true, "thanks": true, "td": true, "stop": true, "unsubscribe": true}
}

// colloquialWords are dialect and colloquial words (south-western Mandarin
// as spoken in Guizhou and Guangxi, some Cantonese) paired with the
// standard word. This is vocabulary, not a character table: each pair is a
// word members use, and Normalize rewrites it so one standard spelling in
// the lexicon and the FAQs covers both. Words that also start ordinary
// words (没得 in 没得到) are left out.
func colloquialWords() [][2]string {
	return [][2]string{
		{"啥子", "什么"}, {"啥", "什么"}, {"么子", "什么"}, {"搞哪样", "干什么"}, {"做哪样", "干什么"},
		{"咋个", "怎么"}, {"咋", "怎么"}, {"啷个", "怎么"},
		{"哪点", "哪里"}, {"哪块", "哪里"},
		{"冇得", "没有"}, {"冇", "没"}, {"莫得", "没有"},
		{"细娃儿", "孩子"}, {"细娃", "孩子"}, {"娃儿", "孩子"}, {"娃娃", "孩子"},
		{"怀起", "怀孕"}, {"怀上", "怀孕"}, {"有喜", "怀孕"},
		{"晓得", "知道"}, {"好多钱", "多少钱"}, {"要得", "好的"},
		// After a verb of paying or getting, 好多 asks how much (是好多 =
		// 是多少); elsewhere it means "many" and stays.
		{"是好多", "是多少"}, {"报好多", "报多少"}, {"领好多", "领多少"}, {"补好多", "补多少"}, {"给好多", "给多少"},
		{"拿好多", "拿多少"}, {"交好多", "交多少"}, {"罚好多", "罚多少"}, {"发好多", "发多少"},
		{"堂客", "老婆"}, {"婆娘", "老婆"}, {"屋里头", "家里"}, {"屋头", "家里"},
		{"遭打", "被打"}, {"遭骗", "被骗"}, {"遭抢", "被抢"}, {"遭偷", "被偷"}, {"遭欺负", "被欺负"},
		{"莫发", "别发"}, {"莫再", "别再"}, {"莫要", "不要"},
	}
}
