package when

import (
	"time"

	"github.com/6tail/lunar-go/calendar"
)

// Lunar dates (腊月二十, 正月初三, 农历十二月二十) are converted with
// github.com/6tail/lunar-go (MIT, no dependencies), which computes the Chinese
// calendar astronomically; Spring Festival 2027 comes out as 2027-02-06.
//
// A lunar day is the next such day from today on: 正月初三 said in 冬月 is the
// coming Spring Festival's. 腊月三十 (and 除夕, 大年三十) is New Year's Eve even in
// years whose 腊月 has 29 days; 三十 of another 29-day month is no day.

// lunarDate reads 腊月二十, 腊月廿三, 正月初三, 冬月十五, 农历十二月二十, 闰六月初一,
// 除夕, 大年三十, 大年初二.
func (rd *reader) lunarDate(i int) (dayToken, bool) {
	j, said := i, false
	for _, w := range []string{"农历", "阴历", "旧历"} {
		if end, ok := rd.has(i, w); ok {
			j, said = rd.spaces(end), true
			break
		}
	}
	for _, w := range []string{"除夕", "大年三十", "年三十"} {
		if end, ok := rd.has(j, w); ok {
			return rd.lunarToken(12, 30, end)
		}
	}
	if end, ok := rd.has(j, "大年初"); ok {
		d, end, ok := rd.small(end)
		if !ok || d < 1 || d > 10 {
			return dayToken{}, false
		}
		return rd.lunarToken(1, d, end)
	}
	leap := rd.at(j) == '闰'
	if leap {
		j++
	}
	month := 0
	if end, ok := rd.has(j, "正月"); ok {
		month, j = 1, end
	} else if end, ok := rd.has(j, "冬月"); ok {
		month, j = 11, end
	} else if end, ok := rd.has(j, "腊月"); ok {
		month, j = 12, end
	} else if said || leap {
		m, end, ok := rd.small(j)
		if !ok || rd.at(end) != '月' {
			return dayToken{}, false
		}
		month, j = m, end+1
	}
	if month < 1 || month > 12 {
		return dayToken{}, false
	}
	early := rd.at(j) == '初' // 初一 … 初十
	if early {
		j++
	}
	d, end, ok := rd.small(j)
	if !ok { // 腊月的时候: a month, not a day
		return dayToken{}, false
	}
	// A lunar day that does not exist is no day at all (not 三月三十 of the Gregorian calendar).
	if d < 1 || d > 30 || (early && d > 10) {
		return dayToken{end: end}, false
	}
	end, _ = rd.daySuffix(end)
	if leap {
		month = -month // lunar-go's leap months are negative
	}
	return rd.lunarToken(month, d, end)
}

// lunarToken is the next lunar month/day from today on, as a Gregorian day.
// When there is none, end still tells how far the words went.
func (rd *reader) lunarToken(month, d, end int) (dayToken, bool) {
	y, m, day := rd.today.Date()
	thisYear := calendar.NewLunarFromSolar(calendar.NewSolarFromYmd(y, int(m), day)).GetYear()
	for year := thisYear; year <= thisYear+3; year++ {
		lm := calendar.NewLunarYear(year).GetMonth(month)
		if lm == nil { // that leap month is not in this year
			continue
		}
		wanted := min(d, lm.GetDayCount())
		s := calendar.NewSolarFromJulianDay(lm.GetFirstJulianDay() + float64(wanted-1))
		t := time.Date(s.GetYear(), time.Month(s.GetMonth()), s.GetDay(), 0, 0, 0, 0, rd.loc)
		if t.Before(rd.today) {
			continue
		}
		if d > lm.GetDayCount() && month != 12 {
			return dayToken{end: end}, false
		}
		return dayToken{day: t, lunar: true, end: end}, true
	}
	return dayToken{end: end}, false
}
