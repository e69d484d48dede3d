// Package when reads the dates and times members and directors write in
// WeChat messages ("那就后天下午3点来嘛", "访 1001 12.5 上午10点", "腊月二十").
//
// What it reads (after folding full-width characters and the traditional
// characters these words use into their plain simplified forms):
//
//	今天 今日 今儿 今早 今晚         today (今早 also says 上午, 今晚 晚上)
//	明天 明日 明儿 明早 明晚         tomorrow
//	后天 后日 / 大后天               in two / three days
//	周六 星期六 礼拜六 周日 星期天 礼拜天 周末
//	                              the next such day, never today: 周日 said on a
//	                              Sunday is next week's; 周末 is the coming Saturday
//	                              (today when said on a weekend day)
//	这周六 本周六 这个礼拜六         that day of this week (Monday to Sunday), even if past
//	下周三 下星期三 下个礼拜三 下下周三  that day of next week / the week after
//	12月5日 12月5号 十二月五号 12月5  the next 5 December (today included)
//	2026年12月5日 明年3月5日 2026-12-05  that year's day, never moved
//	12.5 12/5 12-5                 as 12月5日 (not when a unit follows: 12.5元, 3-5天)
//	5号 5日 五号                    the next 5th of a month (today included)
//	下个月5号 这个月5号              that month's 5th
//	腊月二十 腊月廿三 正月初三 冬月十五 农历十二月二十 闰六月初一 除夕 大年初二
//	                              the next such lunar day (see lunar.go)
//	3点 15:30 15点30 三点半 三点一刻 十二点 两点 下午3点 上午10点 早上8点 晚上7点 晚7点
//	上午 早上 中午 下午 傍晚 晚上     a part of the day without an hour
//
// Numbers of three or more digits (case and member numbers such as 1001, phone
// numbers) are never read as a day or an hour, and neither are 3号楼, 第三点, 一周一次.
package when

import (
	"strings"
	"time"
)

// Moment is a date and/or a time of day read from a message.
type Moment struct {
	HasDay       bool
	Day          time.Time // the local calendar day at 00:00 in the caller's location (valid when HasDay)
	Lunar        bool      // the day was said as a lunar date (腊月二十, 正月初三)
	HasTime      bool
	Hour, Minute int    // 24-hour clock (valid when HasTime)
	Part         string // "上午", "中午", "下午", "晚上" when a part of the day is said (with or without an hour)
}

// The parts of the day a Moment names.
const (
	partMorning   = "上午"
	partNoon      = "中午"
	partAfternoon = "下午"
	partEvening   = "晚上"
)

// usualHour is the hour a visit said only as a part of the day starts.
func usualHour(part string, defaultHour int) int {
	switch part {
	case partMorning:
		return 9
	case partNoon:
		return 12
	case partAfternoon:
		return 15
	case partEvening:
		return 19
	}
	return defaultHour
}

// Parse reads the first date and/or time in text, relative to now (in loc). ok is false when text says
// neither. Dates in the past are moved forward where the words allow it (周六 is the next Saturday, 12月5日
// said on 12月8日 is next year's; 明天 is never "moved").
//
// A part of the day said without an hour ("明天下午") gives ok with HasTime false and Part set.
// A day said that does not exist (2月30日; 三月三十 when that lunar 三月 has 29 days), or an hour that
// is no visit's (25点, 晚上12点), gives ok false whatever else the text says, so that no visit is
// booked at another time than the one meant.
// An hour without a part of the day is read for visits, which happen 8:00–20:00: 1–7 点 is the
// afternoon or evening (3点 is 15:00, 7点 is 19:00), 8–12 点 is the morning or noon, 0 and 13–23
// are the 24-hour clock. Whether that hour is still ahead today is At's business.
func Parse(text string, now time.Time, loc *time.Location) (m Moment, ok bool) {
	if loc == nil {
		loc = now.Location()
	}
	now = now.In(loc)
	rd := &reader{
		r:     normalize(text),
		today: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc),
		loc:   loc,
	}
	lastPart, lastPartEnd := "", -1 // the latest part of the day read, and where it ends
	firstPart := ""
	dayEnd := -1
	for i := 0; i < len(rd.r) && !(m.HasDay && m.HasTime); {
		if isNumeral(rd.at(i)) && rd.at(i-1) == '第' {
			i = rd.next(i)
			continue
		}
		if !m.HasDay {
			d, ok := rd.day(i)
			if !ok && d.end > i { // 2月30日: better no reading than a visit on another day than the one said
				return Moment{}, false
			}
			if ok {
				m.HasDay, m.Day, m.Lunar = true, d.day, d.lunar
				dayEnd = d.end
				if d.part != "" {
					lastPart, lastPartEnd = d.part, d.end
					if firstPart == "" {
						firstPart = d.part
					}
				}
				i = d.end
				continue
			}
		}
		if !m.HasTime {
			attached := ""
			if lastPartEnd >= 0 && rd.spaces(lastPartEnd) == i {
				attached = lastPart
			}
			afterDay := dayEnd >= 0 && rd.spaces(dayEnd) == i
			c, ok := rd.clock(i, attached, afterDay)
			if !ok && c.end > i { // 晚上12点
				return Moment{}, false
			}
			if ok {
				m.HasTime, m.Hour, m.Minute, m.Part = true, c.hour, c.minute, attached
				i = c.end
				continue
			}
		}
		if part, end, ok := rd.part(i); ok {
			lastPart, lastPartEnd = part, end
			if firstPart == "" {
				firstPart = part
			}
			i = end
			continue
		}
		i = rd.next(i)
	}
	if !m.HasTime {
		m.Part = firstPart
	}
	return m, m.HasDay || m.HasTime || m.Part != ""
}

// At is the moment as a time in loc: on the day said (when !HasDay: today if that time is still ahead,
// else tomorrow), at the hour said, else at the part of day's usual hour (上午 9:00, 中午 12:00,
// 下午 15:00, 晚上 19:00), else at defaultHour.
func (m Moment) At(now time.Time, loc *time.Location, defaultHour int) time.Time {
	if loc == nil {
		loc = now.Location()
	}
	now = now.In(loc)
	hour, minute := usualHour(m.Part, defaultHour), 0
	if m.HasTime {
		hour, minute = m.Hour, m.Minute
	}
	if m.HasDay {
		y, mo, d := m.Day.Date()
		return time.Date(y, mo, d, hour, minute, 0, 0, loc)
	}
	t := time.Date(now.Year(), now.Month(), now.Day(), hour, minute, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(now.Year(), now.Month(), now.Day()+1, hour, minute, 0, 0, loc)
	}
	return t
}

// reader walks the normalized runes of one message.
type reader struct {
	r     []rune
	today time.Time // 00:00 of the day the message was said, in loc
	loc   *time.Location
}

// dayToken is a day read at some position, and where its words end.
type dayToken struct {
	day   time.Time
	lunar bool
	part  string // 今晚, 明早: a part of the day said with the day
	end   int
}

// clockToken is an hour (and minute) read at some position, and where its words end.
type clockToken struct {
	hour, minute, end int
}

// normalize folds full-width ASCII (１２：３０) and the traditional characters
// the date words use (後天, 下週三, 禮拜, 點, 號, 臘月, 農曆) into plain forms.
func normalize(text string) []rune {
	out := make([]rune, 0, len(text))
	for _, r := range text {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		case r == 0x3000:
			r = ' '
		}
		out = append(out, simplified(r))
	}
	return out
}

func simplified(r rune) rune {
	switch r {
	case '週':
		return '周'
	case '後':
		return '后'
	case '點':
		return '点'
	case '號':
		return '号'
	case '臘':
		return '腊'
	case '農':
		return '农'
	case '曆':
		return '历'
	case '陰':
		return '阴'
	case '舊':
		return '旧'
	case '兩':
		return '两'
	case '這':
		return '这'
	case '個':
		return '个'
	case '禮':
		return '礼'
	case '鐘':
		return '钟'
	case '兒':
		return '儿'
	case '閏':
		return '闰'
	case '時':
		return '时'
	case '裡':
		return '里'
	case '單':
		return '单'
	case '門':
		return '门'
	case '樓':
		return '楼'
	case '間':
		return '间'
	}
	return r
}

func (rd *reader) at(i int) rune {
	if i < 0 || i >= len(rd.r) {
		return 0
	}
	return rd.r[i]
}

// has reports whether word is written at i, and where it ends.
func (rd *reader) has(i int, word string) (end int, ok bool) {
	end = i
	for _, w := range word {
		if rd.at(end) != w {
			return i, false
		}
		end++
	}
	return end, true
}

// spaces skips blanks from i.
func (rd *reader) spaces(i int) int {
	for rd.at(i) == ' ' || rd.at(i) == '\t' {
		i++
	}
	return i
}

// next is where to look after nothing was read at i: past the whole number
// there, so that 1001 is not read again as 001 or 1.
func (rd *reader) next(i int) int {
	switch {
	case isDigit(rd.at(i)):
		for isDigit(rd.at(i)) {
			i++
		}
		return i
	case isNumeral(rd.at(i)):
		for isNumeral(rd.at(i)) && !isDigit(rd.at(i)) {
			i++
		}
		return i
	}
	return i + 1
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func chineseDigit(r rune) (int, bool) {
	switch r {
	case '零', '〇':
		return 0, true
	case '一':
		return 1, true
	case '二', '两':
		return 2, true
	case '三':
		return 3, true
	case '四':
		return 4, true
	case '五':
		return 5, true
	case '六':
		return 6, true
	case '七':
		return 7, true
	case '八':
		return 8, true
	case '九':
		return 9, true
	}
	return 0, false
}

func isNumeral(r rune) bool {
	if _, ok := chineseDigit(r); ok {
		return true
	}
	return isDigit(r) || r == '十' || r == '廿' || r == '卅'
}

// digits reads a run of ASCII digits at i (end == i: none).
func (rd *reader) digits(i int) (value, end int) {
	for end = i; isDigit(rd.at(end)); end++ {
		if end-i < 9 {
			value = value*10 + int(rd.at(end)-'0')
		}
	}
	return value, end
}

// chinese reads a Chinese numeral below 100 at i: 五, 十, 十二, 二十, 二十五, 廿三, 卅 (end == i: none).
func (rd *reader) chinese(i int) (value, end int) {
	units := func(tens, at int) (int, int) {
		if d, ok := chineseDigit(rd.at(at)); ok && d > 0 {
			return tens + d, at + 1
		}
		return tens, at
	}
	switch rd.at(i) {
	case '十':
		return units(10, i+1)
	case '廿':
		return units(20, i+1)
	case '卅':
		return units(30, i+1)
	}
	d, ok := chineseDigit(rd.at(i))
	if !ok {
		return 0, i
	}
	if rd.at(i+1) == '十' && d > 0 {
		return units(d*10, i+2)
	}
	return d, i + 1
}

// small reads a one- or two-digit number, in digits or Chinese numerals.
func (rd *reader) small(i int) (value, end int, ok bool) {
	if isDigit(rd.at(i)) {
		value, end = rd.digits(i)
		if end-i > 2 {
			return 0, i, false
		}
		return value, end, true
	}
	value, end = rd.chinese(i)
	return value, end, end > i
}

// isUnit reports whether r after a number makes it an amount, a count or a
// range rather than a date (12.5元, 3-5天, 12-15岁, 3.5点).
func isUnit(r rune) bool {
	return r != 0 && strings.ContainsRune("元块钱毛角度斤克两米里%个人位岁次回遍趟天年月周分秒小点时万千百片倍粒支瓶升袋盒kKgGmMlL", r)
}

// day reads a day at i: relative words, weekdays, lunar dates, calendar dates.
// When !ok and end > i, the words up to end said a day that does not exist.
func (rd *reader) day(i int) (dayToken, bool) {
	if d, ok := rd.relativeDay(i); ok {
		return d, true
	}
	if d, ok := rd.weekday(i); ok {
		return d, true
	}
	if d, ok := rd.lunarDate(i); ok || d.end > i {
		return d, ok
	}
	return rd.calendarDate(i)
}

type relativeWord struct {
	word   string
	offset int
	part   string
}

func relativeWords() []relativeWord {
	return []relativeWord{
		{"大后天", 3, ""},
		{"后天", 2, ""}, {"后日", 2, ""}, {"后儿", 2, ""},
		{"明天", 1, ""}, {"明日", 1, ""}, {"明儿", 1, ""},
		{"明早", 1, partMorning}, {"明晨", 1, partMorning}, {"明晚", 1, partEvening},
		{"今天", 0, ""}, {"今日", 0, ""}, {"今儿", 0, ""},
		{"今早", 0, partMorning}, {"今晨", 0, partMorning}, {"今晚", 0, partEvening},
	}
}

func (rd *reader) relativeDay(i int) (dayToken, bool) {
	for _, w := range relativeWords() {
		if end, ok := rd.has(i, w.word); ok {
			return dayToken{day: rd.today.AddDate(0, 0, w.offset), part: w.part, end: end}, true
		}
	}
	return dayToken{}, false
}

// weekday reads 周六, 星期六, 礼拜天, 周末, with 这/本 (this week), 下 (next week) or
// 下下 (the week after) before them. Weeks run Monday to Sunday.
func (rd *reader) weekday(i int) (dayToken, bool) {
	j := i
	weeks := -1 // no week said: the next such day
	if end, ok := rd.has(j, "下下"); ok {
		weeks, j = 2, end
	} else if r := rd.at(j); r == '下' {
		weeks, j = 1, j+1
	} else if r == '这' || r == '本' {
		weeks, j = 0, j+1
	}
	if weeks >= 0 && rd.at(j) == '个' {
		j++
	}
	if end, ok := rd.has(j, "星期"); ok {
		j = end
	} else if end, ok := rd.has(j, "礼拜"); ok {
		j = end
	} else if rd.at(j) == '周' {
		j++
	} else {
		return dayToken{}, false
	}
	r := rd.at(j)
	wd := 0 // Monday 1 … Sunday 7
	weekend := false
	switch r {
	case '一', '1':
		wd = 1
	case '二', '2':
		wd = 2
	case '三', '3':
		wd = 3
	case '四', '4':
		wd = 4
	case '五', '5':
		wd = 5
	case '六', '6':
		wd = 6
	case '日', '天', '七', '7':
		wd = 7
	case '末':
		wd, weekend = 6, true
	default:
		return dayToken{}, false
	}
	j++
	// 一周一次, 周年, 周1001 are not days.
	if after := rd.at(j); (isDigit(r) && isDigit(after)) || (after != 0 && strings.ContainsRune("次遍回趟年岁", after)) {
		return dayToken{}, false
	}
	today := int(rd.today.Weekday())
	if today == 0 {
		today = 7
	}
	var delta int
	switch {
	case weeks >= 0:
		delta = wd - today + 7*weeks
	case weekend && today >= 6:
		delta = 0
	default:
		delta = (wd - today + 7) % 7
		if delta == 0 {
			delta = 7
		}
	}
	return dayToken{day: rd.today.AddDate(0, 0, delta), end: j}, true
}

// calendarDay is y-m-d at 00:00 in the reader's location, if there is such a day.
func (rd *reader) calendarDay(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, rd.loc)
	return t, t.Day() == d
}

// visitYear reports whether a year said could be a visit's: last year to ten
// years on. 1950年3月5日 is a birthday, not a day to read (nor is its 3月5日).
func (rd *reader) visitYear(y int) bool {
	return y >= rd.today.Year()-1 && y <= rd.today.Year()+10
}

// nextYearly is the next m-d from today on (29 February may be years away).
func (rd *reader) nextYearly(m, d int) (time.Time, bool) {
	for y := rd.today.Year(); y <= rd.today.Year()+8; y++ {
		if t, ok := rd.calendarDay(y, m, d); ok && !t.Before(rd.today) {
			return t, true
		}
	}
	return time.Time{}, false
}

// nextMonthly is the next d-th of a month from today on (31号 skips short months).
func (rd *reader) nextMonthly(d int) (time.Time, bool) {
	for k := 0; k <= 12; k++ {
		first := time.Date(rd.today.Year(), rd.today.Month()+time.Month(k), 1, 0, 0, 0, 0, rd.loc)
		if t, ok := rd.calendarDay(first.Year(), int(first.Month()), d); ok && !t.Before(rd.today) {
			return t, true
		}
	}
	return time.Time{}, false
}

// calendarDate reads Gregorian dates: 2026年12月5日, 12月5号, 十二月五号, 2026-12-05,
// 12.5, 12/5, 12-5, 下个月5号, 5号. When !ok and end > i, the words up to end
// said a day that does not exist (2月30日, 2026-02-30).
func (rd *reader) calendarDate(i int) (dayToken, bool) {
	for _, read := range []func(int) (dayToken, bool){rd.numericDate, rd.monthDate, rd.monthDayOfMonth, rd.dayOfMonth} {
		if d, ok := read(i); ok || d.end > i {
			return d, ok
		}
	}
	return dayToken{}, false
}

// daySuffix skips 日 or 号 after a day's number; ok is false when a unit
// follows instead (12.5元) or the number goes on.
func (rd *reader) daySuffix(j int) (end int, ok bool) {
	switch r := rd.at(j); {
	case r == '日' || r == '号':
		return j + 1, true
	case isDigit(r) || isUnit(r):
		return j, false
	}
	return j, true
}

// numericDate reads 2026-12-05, 2026/12/5, 2026.12.5, 12.5, 12/5 and 12-5.
func (rd *reader) numericDate(i int) (dayToken, bool) {
	if strings.ContainsRune(".-/:", rd.at(i-1)) && rd.at(i-1) != 0 {
		return dayToken{}, false
	}
	first, j := rd.digits(i)
	sep := rd.at(j)
	if j == i || !strings.ContainsRune(".-/", sep) || sep == 0 {
		return dayToken{}, false
	}
	second, k := rd.digits(j + 1)
	if k-(j+1) < 1 || k-(j+1) > 2 {
		return dayToken{}, false
	}
	switch j - i {
	case 4: // year first
		if rd.at(k) != sep {
			return dayToken{}, false
		}
		third, l := rd.digits(k + 1)
		if l-(k+1) < 1 || l-(k+1) > 2 {
			return dayToken{}, false
		}
		end, ok := rd.daySuffix(l)
		if !ok || rd.at(end) == sep {
			return dayToken{}, false
		}
		t, ok := rd.calendarDay(first, second, third)
		return dayToken{day: t, end: end}, ok && rd.visitYear(first)
	case 1, 2:
		if rd.at(k) == sep && isDigit(rd.at(k+1)) { // 1.2.3 is a version, 3-5-7 a list
			return dayToken{}, false
		}
		end, ok := rd.daySuffix(k)
		if !ok || first < 1 || first > 12 {
			return dayToken{}, false
		}
		if _, valid := rd.calendarDay(2024, first, second); !valid { // 2024 has every day of the year
			return dayToken{}, false
		}
		t, ok := rd.nextYearly(first, second)
		return dayToken{day: t, end: end}, ok
	}
	return dayToken{}, false
}

// monthDate reads [2026年|今年|明年|后年] 12月5日, 十二月五号, 12月5.
func (rd *reader) monthDate(i int) (dayToken, bool) {
	j, year := i, 0
	if v, end := rd.digits(i); end-i == 4 && rd.at(end) == '年' {
		j, year = rd.spaces(end+1), v
	} else {
		for offset, word := range []string{"今年", "明年", "后年"} {
			if end, ok := rd.has(i, word); ok {
				j, year = rd.spaces(end), rd.today.Year()+offset
				break
			}
		}
	}
	month, end, ok := rd.small(j)
	if !ok || rd.at(end) != '月' {
		return dayToken{}, false
	}
	d, end, ok := rd.small(end + 1)
	if !ok {
		return dayToken{}, false
	}
	end, ok = rd.daySuffix(end)
	if !ok {
		return dayToken{}, false
	}
	var t time.Time
	if year > 0 {
		t, ok = rd.calendarDay(year, month, d)
		ok = ok && rd.visitYear(year)
	} else {
		t, ok = rd.nextYearly(month, d)
	}
	return dayToken{day: t, end: end}, ok
}

// monthDayOfMonth reads 下个月5号, 下月5号, 这个月5号, 本月5号.
func (rd *reader) monthDayOfMonth(i int) (dayToken, bool) {
	months, j := -1, i
	for _, w := range []struct {
		word   string
		months int
	}{{"下个月", 1}, {"下月", 1}, {"这个月", 0}, {"这月", 0}, {"本月", 0}} {
		if end, ok := rd.has(i, w.word); ok {
			months, j = w.months, end
			break
		}
	}
	if months < 0 {
		return dayToken{}, false
	}
	d, end, ok := rd.small(j)
	if !ok || (rd.at(end) != '号' && rd.at(end) != '日') {
		return dayToken{}, false
	}
	first := rd.today.AddDate(0, months, 1-rd.today.Day())
	t, ok := rd.calendarDay(first.Year(), int(first.Month()), d)
	return dayToken{day: t, end: end + 1}, ok
}

// dayOfMonth reads 5号, 5日 and 五号: this month's, or next month's when past.
// 3号楼, 5号床 and the like are places, not days; 五日 is too often 一日三餐 to read.
func (rd *reader) dayOfMonth(i int) (dayToken, bool) {
	d, end, ok := rd.small(i)
	if !ok || rd.at(i-1) == '月' { // 2月30日 is no day, not the 30th
		return dayToken{}, false
	}
	switch rd.at(end) {
	case '号':
		if r := rd.at(end + 1); r != 0 && strings.ContainsRune("楼床房室门线院栋单窗机桌车位码口厅柜箱座仓案", r) {
			return dayToken{}, false
		}
	case '日':
		if !isDigit(rd.at(i)) {
			return dayToken{}, false
		}
	default:
		return dayToken{}, false
	}
	t, ok := rd.nextMonthly(d)
	return dayToken{day: t, end: end + 1}, ok
}

// partWords are the ways of saying a part of the day, longest first.
func partWords() []struct{ word, part string } {
	return []struct{ word, part string }{
		{"上午", partMorning}, {"早上", partMorning}, {"早晨", partMorning}, {"清早", partMorning}, {"一早", partMorning},
		{"中午", partNoon}, {"晌午", partNoon},
		{"下午", partAfternoon}, {"午后", partAfternoon},
		{"晚上", partEvening}, {"傍晚", partEvening}, {"夜里", partEvening}, {"夜晚", partEvening}, {"晚间", partEvening},
		{"早", partMorning}, {"晚", partEvening},
	}
}

// part reads a part of the day at i. 早上好 and 晚上好 are greetings, not
// times; 早 and 晚 alone count only right before an hour in digits (晚7点),
// since 早一点 and 晚点 mean "earlier" and "later".
func (rd *reader) part(i int) (part string, end int, ok bool) {
	for _, w := range partWords() {
		end, ok := rd.has(i, w.word)
		if !ok {
			continue
		}
		if rd.at(end) == '好' {
			return "", i, false
		}
		if end-i == 1 && !isDigit(rd.at(rd.spaces(end))) {
			return "", i, false
		}
		return w.part, end, true
	}
	return "", i, false
}

// clock reads an hour at i: 3点, 15:30, 15点30, 三点半, 十二点, 两点一刻, 3点钟, 15时30分.
// When !ok and end > i, the words up to end said an hour that is no visit's (25点, 晚上12点).
// part is the part of the day said right before it; afterDay tells that a day
// was said right before it (明天一点).
func (rd *reader) clock(i int, part string, afterDay bool) (clockToken, bool) {
	h, j, ok := rd.small(i)
	if !ok {
		return clockToken{}, false
	}
	inDigits := isDigit(rd.at(i))
	if inDigits && rd.at(rd.spaces(j)) == '点' { // 3 点, as voice input writes it
		j = rd.spaces(j)
	}
	minute, said := 0, false
	switch {
	case inDigits && rd.at(j) == ':':
		m, end := rd.digits(j + 1)
		if end-(j+1) != 2 || m > 59 {
			return clockToken{}, false
		}
		minute, j, said = m, end, true
	case rd.at(j) == '点' || (inDigits && rd.at(j) == '时'):
		if rd.at(j+1) == '儿' { // 一点儿: a little
			return clockToken{}, false
		}
		minute, j, said = rd.minutes(j + 1)
		// 一点 is as often "a little" (快一点, 多一点时间) as one o'clock.
		if !inDigits && h == 1 && part == "" && !afterDay && !said {
			return clockToken{}, false
		}
	default:
		return clockToken{}, false
	}
	hour, ok := hourOfPart(h, part)
	if !ok || h > 23 {
		return clockToken{end: j}, false
	}
	return clockToken{hour: hour, minute: minute, end: j}, true
}

// minutes reads what follows 点: 半, 一刻, 三刻, 整, 钟, 30, 30分, 零五, 十五分.
// said is false when nothing there is a minute.
func (rd *reader) minutes(j int) (minute, end int, said bool) {
	switch rd.at(j) {
	case '半':
		return 30, j + 1, true
	case '整', '钟':
		return 0, j + 1, true
	}
	if end, ok := rd.has(j, "一刻"); ok {
		return 15, end, true
	}
	if end, ok := rd.has(j, "三刻"); ok {
		return 45, end, true
	}
	withFen := func(m, end int) (int, int, bool) {
		if rd.at(end) == '分' {
			end++
		}
		return m, end, true
	}
	if isDigit(rd.at(j)) {
		m, end := rd.digits(j)
		if end-j > 2 || m > 59 {
			return 0, j, false
		}
		return withFen(m, end)
	}
	if r := rd.at(j); r == '零' || r == '〇' {
		if d, ok := chineseDigit(rd.at(j + 1)); ok && d > 0 {
			return withFen(d, j+2)
		}
		return 0, j, false
	}
	// 三点五 is not clearly 3:05; 三点五分 and 三点十五 are.
	if m, end := rd.chinese(j); end > j && m <= 59 && (m >= 10 || rd.at(end) == '分') {
		return withFen(m, end)
	}
	return 0, j, false
}

// hourOfPart turns an hour as said into the 24-hour clock. Without a part of
// the day, 1–7 is the afternoon or evening (visits happen 8:00–20:00).
func hourOfPart(h int, part string) (int, bool) {
	switch part {
	case partMorning:
		return h, true
	case partNoon:
		if h >= 1 && h <= 5 {
			return h + 12, true
		}
		return h, true
	case partAfternoon:
		if h == 0 {
			return 0, false
		}
		if h < 12 {
			return h + 12, true
		}
		return h, true
	case partEvening:
		if h == 0 || h == 12 { // 晚上12点 is midnight, not a visit time
			return 0, false
		}
		if h < 12 {
			return h + 12, true
		}
		return h, true
	}
	if h >= 1 && h <= 7 {
		return h + 12, true
	}
	return h, true
}
