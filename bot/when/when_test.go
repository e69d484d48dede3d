package when

import (
	"fmt"
	"testing"
	"time"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("load Asia/Shanghai: %v", err)
	}
	return loc
}

// said is what Parse read, written the way a director would check it:
// "2026-12-05 15:00 下午", "2027-01-27 农历", "15:30", "晚上", or "" when nothing.
func said(m Moment, ok bool) string {
	if !ok {
		return ""
	}
	s := ""
	if m.HasDay {
		s = m.Day.Format("2006-01-02")
		if m.Lunar {
			s += " 农历"
		}
	}
	if m.HasTime {
		s += fmt.Sprintf(" %02d:%02d", m.Hour, m.Minute)
	}
	if m.Part != "" {
		s += " " + m.Part
	}
	if len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

func TestParse(t *testing.T) {
	loc := shanghai(t)
	friday := time.Date(2026, 12, 4, 10, 0, 0, 0, loc) // 农历十月廿六
	newYearsEve := time.Date(2026, 12, 31, 10, 0, 0, 0, loc)
	monthEnd := time.Date(2026, 11, 30, 10, 0, 0, 0, loc)
	sunday := time.Date(2026, 12, 6, 10, 0, 0, 0, loc)
	springFestivalEve := time.Date(2027, 2, 5, 10, 0, 0, 0, loc)
	afterSpringFestival := time.Date(2027, 2, 10, 10, 0, 0, 0, loc)

	for _, tc := range []struct {
		now  time.Time
		text string
		want string
	}{
		// relative days
		{friday, "今天", "2026-12-04"},
		{friday, "明天", "2026-12-05"},
		{friday, "明儿", "2026-12-05"},
		{friday, "后天", "2026-12-06"},
		{friday, "大后天", "2026-12-07"},
		// weekdays; the week runs Monday 12-07 to Sunday 12-13 next week
		{friday, "下周三", "2026-12-09"},
		{friday, "下星期三", "2026-12-09"},
		{friday, "下礼拜三", "2026-12-09"},
		{friday, "下个礼拜三", "2026-12-09"},
		{friday, "下下周三", "2026-12-16"},
		{friday, "这周六", "2026-12-05"},
		{friday, "周六", "2026-12-05"},
		{friday, "星期六", "2026-12-05"},
		{friday, "礼拜六", "2026-12-05"},
		{friday, "礼拜天", "2026-12-06"},
		{friday, "周日", "2026-12-06"},
		{friday, "星期天", "2026-12-06"},
		{friday, "周一", "2026-12-07"},
		{friday, "周五", "2026-12-11"},  // said on a Friday: next week's
		{friday, "这周三", "2026-12-02"}, // this week's, as said, though past
		{friday, "周末", "2026-12-05"},
		{sunday, "周日", "2026-12-13"},  // said on a Sunday: next week's
		{sunday, "这周日", "2026-12-06"}, // …and 这周日 is today
		{sunday, "下周一", "2026-12-07"},
		// dates
		{friday, "12月5日", "2026-12-05"},
		{friday, "12月5号", "2026-12-05"},
		{friday, "十二月五号", "2026-12-05"},
		{friday, "12.5", "2026-12-05"},
		{friday, "12/5", "2026-12-05"},
		{friday, "12-5", "2026-12-05"},
		{friday, "12月5", "2026-12-05"},
		{friday, "2026年12月5日", "2026-12-05"},
		{friday, "2026-12-25", "2026-12-25"},
		{friday, "明年3月5日", "2027-03-05"},
		{friday, "12月3日", "2027-12-03"}, // past this year: next year's
		{friday, "12月4日", "2026-12-04"}, // today is not past
		{friday, "1月2日", "2027-01-02"},
		{friday, "5号", "2026-12-05"},
		{friday, "3号", "2027-01-03"}, // past this month: next month's
		{friday, "31号", "2026-12-31"},
		{friday, "下个月5号", "2027-01-05"},
		{friday, "2月30日", ""},
		{friday, "我1950年3月5日出生", ""},
		{friday, "2月30日或者3号", ""}, // a day said that does not exist reads as nothing
		{friday, "2月30日下午3点", ""},
		{time.Date(2027, 1, 10, 10, 0, 0, 0, loc), "下个月30号", ""},
		{friday, "下个月31号", "2027-01-31"},
		// month and year ends
		{newYearsEve, "明天", "2027-01-01"},
		{newYearsEve, "1月2日", "2027-01-02"},
		{newYearsEve, "12月31日", "2026-12-31"},
		{newYearsEve, "2号", "2027-01-02"},
		{newYearsEve, "下周一", "2027-01-04"},
		{monthEnd, "1号", "2026-12-01"},
		{monthEnd, "31号", "2026-12-31"},
		{monthEnd, "后天", "2026-12-02"},
		// lunar dates around Spring Festival 2027 (正月初一 = 2027-02-06; 腊月 has 29 days)
		{friday, "冬月十五", "2026-12-23 农历"},
		{friday, "腊月二十", "2027-01-27 农历"},
		{friday, "腊月廿三", "2027-01-30 农历"},
		{friday, "农历十二月二十", "2027-01-27 农历"},
		{friday, "腊月三十", "2027-02-05 农历"}, // 年三十 is New Year's Eve even in a 29-day 腊月
		{friday, "除夕", "2027-02-05 农历"},
		{friday, "正月初一", "2027-02-06 农历"},
		{friday, "正月初三", "2027-02-08 农历"},
		{friday, "大年初二", "2027-02-07 农历"},
		{friday, "正月十五", "2027-02-20 农历"},
		{springFestivalEve, "除夕", "2027-02-05 农历"},
		{springFestivalEve, "正月初一", "2027-02-06 农历"},
		{afterSpringFestival, "正月初三", "2028-01-28 农历"}, // past: the next Spring Festival's
		{friday, "冬月三十", "2027-01-07 农历"},
		{friday, "农历三月三十", ""}, // 三月 of lunar 2027 has 29 days
		{friday, "腊月事多，明天下午来吧", "2026-12-05 下午"},
		// times (now 10:00)
		{friday, "3点", "15:00"}, // 1–7 点 alone is the afternoon or evening
		{friday, "7点", "19:00"},
		{friday, "8点", "08:00"},
		{friday, "下午3点", "15:00 下午"},
		{friday, "下午三点半", "15:30 下午"},
		{friday, "15:30", "15:30"},
		{friday, "15点30", "15:30"},
		{friday, "15点30分", "15:30"},
		{friday, "上午10点", "10:00 上午"},
		{friday, "早上8点", "08:00 上午"},
		{friday, "中午", "中午"},
		{friday, "中午1点", "13:00 中午"},
		{friday, "晚上", "晚上"},
		{friday, "晚上7点", "19:00 晚上"},
		{friday, "晚7点", "19:00 晚上"},
		{friday, "两点", "14:00"},
		{friday, "十二点", "12:00"},
		{friday, "三点一刻", "15:15"},
		{friday, "十点零五分", "10:05"},
		{friday, "3点05", "15:05"},
		{friday, "4点钟", "16:00"},
		{friday, "下午 3 点", "15:00 下午"},
		{friday, "明天晚上12点", ""}, // midnight is no visit time: nothing rather than 19:00
		{friday, "25点", ""},
		// days and times together, with other words around them
		{friday, "那就后天下午3点来嘛", "2026-12-06 15:00 下午"},
		{friday, "访 1001 12.5 上午10点 上门访视", "2026-12-05 10:00 上午"},
		{friday, "明天下午", "2026-12-05 下午"},
		{friday, "今晚7点", "2026-12-04 19:00 晚上"},
		{friday, "明早8点半", "2026-12-05 08:30 上午"},
		{friday, "下周三上午9点可以吗", "2026-12-09 09:00 上午"},
		{friday, "周三三点", "2026-12-09 15:00"},
		{friday, "明天一点", "2026-12-05 13:00"},
		{friday, "上午不行，下午3点吧", "15:00 下午"},
		{friday, "请于12月5号下午两点到", "2026-12-05 14:00 下午"},
		// traditional characters and full-width digits
		{friday, "後天下午3點", "2026-12-06 15:00 下午"},
		{friday, "下週三", "2026-12-09"},
		{friday, "禮拜天", "2026-12-06"},
		{friday, "十二月五號", "2026-12-05"},
		{friday, "臘月二十", "2027-01-27 农历"},
		{friday, "農曆十二月二十", "2027-01-27 农历"},
		{friday, "１２月５日", "2026-12-05"},
		{friday, "１５：３０", "15:30"},
		{friday, "明兒下午兩點", "2026-12-05 14:00 下午"},
		// no date or time
		{friday, "", ""},
		{friday, "你好，我想咨询一下", ""},
		{friday, "1001", ""},
		{friday, "案件1001进展如何", ""},
		{friday, "电话13812345678", ""},
		{friday, "早上好", ""},
		{friday, "快一点", ""},
		{friday, "多一点时间", ""},
		{friday, "一周一次", ""},
		{friday, "住3号楼", ""},
		{friday, "花了12.5元", ""},
		{friday, "大概3-5天", ""},
		{friday, "第三点", ""},
		{friday, "版本1.2.3", ""},
	} {
		m, ok := Parse(tc.text, tc.now, loc)
		if got := said(m, ok); got != tc.want {
			t.Errorf("Parse(%q) said on %s = %q, want %q", tc.text, tc.now.Format("2006-01-02 Mon"), got, tc.want)
		}
		if ok && m.HasDay && (m.Day.Location() != loc || m.Day.Hour() != 0 || m.Day.Minute() != 0) {
			t.Errorf("Parse(%q).Day = %v, want 00:00 in %v", tc.text, m.Day, loc)
		}
	}
}

// The day is the caller's local day, whatever zone now is given in.
func TestParseInCallersLocation(t *testing.T) {
	loc := shanghai(t)
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC) // 2026-12-05 04:00 in Shanghai
	m, ok := Parse("明天", now, loc)
	if got := said(m, ok); got != "2026-12-06" {
		t.Errorf("Parse(明天) at %v = %q, want 2026-12-06", now, got)
	}
}

func TestAt(t *testing.T) {
	loc := shanghai(t)
	morning := time.Date(2026, 12, 4, 10, 0, 0, 0, loc)
	afternoon := time.Date(2026, 12, 4, 16, 0, 0, 0, loc)
	for _, tc := range []struct {
		now  time.Time
		text string
		want string
	}{
		{morning, "3点", "2026-12-04 15:00"},   // still ahead today
		{afternoon, "3点", "2026-12-05 15:00"}, // passed: tomorrow
		{morning, "10点", "2026-12-05 10:00"},  // exactly now is not ahead
		{morning, "明天", "2026-12-05 10:00"},   // no hour: the default
		{morning, "明天下午", "2026-12-05 15:00"},
		{morning, "后天上午", "2026-12-06 09:00"},
		{morning, "周六中午", "2026-12-05 12:00"},
		{morning, "晚上", "2026-12-04 19:00"},
		{morning, "上午", "2026-12-05 09:00"},
		{morning, "12.5 上午10点半", "2026-12-05 10:30"},
		{morning, "今天上午9点", "2026-12-04 09:00"}, // a day said is kept, even when the hour has passed
		{morning, "腊月二十下午", "2027-01-27 15:00"},
	} {
		m, ok := Parse(tc.text, tc.now, loc)
		if !ok {
			t.Errorf("Parse(%q) read nothing", tc.text)
			continue
		}
		at := m.At(tc.now, loc, 10)
		if got := at.Format("2006-01-02 15:04"); got != tc.want || at.Location() != loc {
			t.Errorf("Parse(%q).At(%s) = %s %v, want %s %v", tc.text, tc.now.Format("15:04"), got, at.Location(), tc.want, loc)
		}
	}
	if got := (Moment{}).At(afternoon, loc, 9).Format("2006-01-02 15:04"); got != "2026-12-05 09:00" {
		t.Errorf("Moment{}.At(16:00, default 9) = %s, want 2026-12-05 09:00", got)
	}
}

// Whatever a member types, Parse gives a moment that exists, or nothing.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"那就后天下午3点来嘛", "访 1001 12.5 上午10点", "腊月三十", "2026-02-30", "下下周日晚上7点半", "１２月５日", "农历闰六月初一"} {
		f.Add(seed)
	}
	loc := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, loc)
	f.Fuzz(func(t *testing.T, text string) {
		m, ok := Parse(text, now, loc)
		if !ok {
			return
		}
		if m.HasTime && (m.Hour < 0 || m.Hour > 23 || m.Minute < 0 || m.Minute > 59) {
			t.Errorf("Parse(%q) = %02d:%02d", text, m.Hour, m.Minute)
		}
		if m.HasDay && (m.Day.Hour() != 0 || m.Day.Minute() != 0 || m.Day.Year() < 2025 || m.Day.Year() > 2036) {
			t.Errorf("Parse(%q).Day = %v", text, m.Day)
		}
	})
}
