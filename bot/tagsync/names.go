package tagsync

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxTagName is WeChat's limit on a tag's name, in bytes (45158 beyond it).
const MaxTagName = 30

// maxIDSuffix bounds the branch id added to a name two branches share, so
// that most of the name is still the branch's.
const maxIDSuffix = 14

// TagNames gives every branch the name of its WeChat tag: the short name
// people use for it ("新州镇计生协"), at most MaxTagName bytes, different
// from every other branch's. Branches whose short names come out the same
// each get their id added ("…-longshan-coal"). The result depends only on
// the branches given, whatever their order.
func TagNames(branches []Branch) map[string]string {
	sorted := append([]Branch(nil), branches...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	base := make(map[string]string, len(sorted))
	sharing := map[string]int{}
	for _, b := range sorted {
		n := tagName(b)
		base[b.ID] = n
		sharing[n]++
	}
	names := make(map[string]string, len(sorted))
	used := map[string]bool{}
	for _, b := range sorted {
		if n := base[b.ID]; sharing[n] == 1 {
			names[b.ID], used[n] = n, true
		}
	}
	for _, b := range sorted {
		if _, ok := names[b.ID]; ok {
			continue
		}
		// Rare (names alike in their first 30 bytes), and a counter after
		// the id only when even the trimmed ids are alike.
		for n := 1; ; n++ {
			suffix := "-" + trimBytes(b.ID, maxIDSuffix)
			if n > 1 {
				suffix += strconv.Itoa(n)
			}
			name := trimBytes(base[b.ID], MaxTagName-len(suffix)) + suffix
			if !used[name] {
				names[b.ID], used[name] = name, true
				break
			}
		}
	}
	return names
}

// tagName is the branch's short name within MaxTagName bytes. The
// shortening follows the case desk's (handlers/desk.go shortName), which
// this package cannot import: "流动人口" goes, and "安龙县驻隆林新州镇"
// becomes the town after the county it is in. A name still too long loses
// its common ending "计生协" before it is cut.
func tagName(b Branch) string {
	name := strings.TrimSpace(strings.ReplaceAll(b.Name, "流动人口", ""))
	if _, after, ok := strings.Cut(name, "驻"); ok && utf8.RuneCountInString(after) > 2 {
		_, size := utf8.DecodeRuneInString(after)
		_, size2 := utf8.DecodeRuneInString(after[size:])
		name = after[size+size2:]
	}
	if len(name) > MaxTagName {
		name = strings.TrimSuffix(name, "计生协")
	}
	if name == "" {
		name = b.ID
	}
	return trimBytes(name, MaxTagName)
}

// trimBytes cuts s to at most n bytes, on a rune boundary.
func trimBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
