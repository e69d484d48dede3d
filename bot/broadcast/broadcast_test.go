package broadcast_test

import (
	"strings"
	"testing"
	"time"

	"nuanjia/bot/broadcast"
)

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	zone, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		// No tzdata on this machine: China has kept +08:00 all year since 1991.
		return time.FixedZone("CST", 8*60*60)
	}
	return zone
}

// The quota's month is the calendar month in Asia/Shanghai, whatever the
// instant's zone: 23:30 on New Year's Eve in Beijing is December there,
// and half past midnight is January although it is still December in UTC.
func TestMonthIsBeijingsCalendarMonth(t *testing.T) {
	zone := shanghai(t)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 12, 31, 23, 30, 0, 0, zone), "2026年12月"},
		{time.Date(2026, 12, 31, 15, 30, 0, 0, time.UTC), "2026年12月"},
		{time.Date(2027, 1, 1, 0, 30, 0, 0, zone), "2027年1月"},
		{time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC), "2027年1月"},
		{time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), "2026年12月"},
	} {
		if got := broadcast.MonthOf(c.at, zone).String(); got != c.want {
			t.Errorf("MonthOf(%s) = %s, want %s", c.at.Format(time.RFC3339), got, c.want)
		}
	}
}

func testBranches() []broadcast.BranchName {
	return []broadcast.BranchName{
		{ID: "longlin-xinzhou", Name: "新州镇计生协"},
		{ID: "longlin-zhebao", Name: "者保乡计生协"},
	}
}

// A broadcast at 23:30 on 31 December counts against December: a member
// who has 3 that month may get it, one who has 4 may not, and one at
// 00:30 on 1 January goes into a month of its own.
func TestQuotaAcrossTheYearsEnd(t *testing.T) {
	zone := shanghai(t)
	dec := broadcast.MonthOf(time.Date(2026, 12, 1, 12, 0, 0, 0, zone), zone)
	eve := broadcast.Broadcast{At: time.Date(2026, 12, 31, 23, 30, 0, 0, zone), Branches: []string{"longlin-xinzhou"}}
	state := broadcast.QuotaState{Branches: testBranches(), Delivered: map[broadcast.Month]map[string]int{dec: {"longlin-xinzhou": 3}}}
	if err := broadcast.CheckQuota(eve, 4, broadcast.Months(eve, zone), state, zone); err != nil {
		t.Errorf("the 4th of December refused: %v", err)
	}

	// One more scheduled for December (to every branch) makes four.
	state.Pending = []broadcast.Broadcast{{ID: 9, At: time.Date(2026, 12, 20, 9, 0, 0, 0, zone), Status: broadcast.StatusScheduled}}
	err := broadcast.CheckQuota(eve, 4, broadcast.Months(eve, zone), state, zone)
	if err == nil || err.Error() != "2026年12月 新州镇计生协的会员已有4条群发，上限4条" {
		t.Errorf("the 5th of December: %v, want it refused naming the month, branch and count", err)
	}
	// Another branch has room: its members had none.
	zhebao := eve
	zhebao.Branches = []string{"longlin-zhebao"}
	if err := broadcast.CheckQuota(zhebao, 4, broadcast.Months(zhebao, zone), state, zone); err != nil {
		t.Errorf("者保's second of December refused: %v", err)
	}
	// To every branch: refused for 新州镇's members.
	all := eve
	all.Branches = nil
	if err := broadcast.CheckQuota(all, 4, broadcast.Months(all, zone), state, zone); err == nil || !strings.Contains(err.Error(), "新州镇计生协") {
		t.Errorf("a broadcast to every branch: %v, want it refused for 新州镇计生协", err)
	}

	newYear := eve
	newYear.At = time.Date(2027, 1, 1, 0, 30, 0, 0, zone)
	if err := broadcast.CheckQuota(newYear, 4, broadcast.Months(newYear, zone), state, zone); err != nil {
		t.Errorf("00:30 on 1 January refused for December's count: %v", err)
	}
	// A cancelled or sent one is not pending: sent ones are counted from
	// the deliveries instead.
	state.Pending[0].Status = broadcast.StatusCancelled
	if err := broadcast.CheckQuota(eve, 4, broadcast.Months(eve, zone), state, zone); err != nil {
		t.Errorf("a cancelled broadcast still counted: %v", err)
	}
}

// A weekly broadcast starting on Monday 28 December goes once in December
// and four times in January and February: it fits alone, and not with one
// more already scheduled in January, which is named.
func TestRecurringQuotaChecksTheComingMonths(t *testing.T) {
	zone := shanghai(t)
	weekly := broadcast.Broadcast{At: time.Date(2026, 12, 28, 9, 0, 0, 0, zone), Every: "0 9 * * 1", Branches: []string{"longlin-xinzhou"}}
	months := broadcast.Months(weekly, zone)
	if len(months) < 3 || months[0].String() != "2026年12月" || months[2].String() != "2027年2月" {
		t.Fatalf("months checked: %v, want December to February", months)
	}
	for i, want := range []int{1, 4, 4} {
		if n := broadcast.Occurrences(weekly, months[i], zone); n != want {
			t.Errorf("%s: %d occurrences, want %d", months[i], n, want)
		}
	}
	state := broadcast.QuotaState{Branches: testBranches()}
	if err := broadcast.CheckQuota(weekly, 4, months, state, zone); err != nil {
		t.Errorf("weekly alone refused: %v", err)
	}
	state.Pending = []broadcast.Broadcast{{ID: 3, At: time.Date(2027, 1, 10, 9, 0, 0, 0, zone), Status: broadcast.StatusScheduled,
		Branches: []string{"longlin-xinzhou"}}}
	err := broadcast.CheckQuota(weekly, 4, months, state, zone)
	if err == nil || err.Error() != "2027年1月 新州镇计生协的会员已有1条群发，上限4条，这条当月要发4次" {
		t.Errorf("weekly with one more in January: %v", err)
	}
	// Pending recurring ones count with their own occurrences.
	state.Pending = []broadcast.Broadcast{{ID: 4, At: time.Date(2026, 12, 1, 9, 0, 0, 0, zone), Every: "0 9 1 * *", Status: broadcast.StatusScheduled}}
	if err := broadcast.CheckQuota(weekly, 4, months, state, zone); err == nil || !strings.HasPrefix(err.Error(), "2027年1月") {
		t.Errorf("weekly beside a monthly one: %v, want January refused", err)
	}
}

// The next occurrence of a recurring broadcast is never in the past, and
// is read in the bot's zone: 09:00 is Beijing's 09:00.
func TestNextOccurrence(t *testing.T) {
	zone := shanghai(t)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, zone)
	late := time.Date(2026, 12, 3, 10, 0, 0, 0, zone) // a scheduler down for two days
	next, err := broadcast.Next("0 9 * * *", at, late, zone)
	if err != nil || !next.Equal(time.Date(2026, 12, 4, 9, 0, 0, 0, zone)) {
		t.Errorf("Next = %s, %v; want 2026-12-04 09:00 +08:00", next, err)
	}
	for _, bad := range []string{"", "0 9 * *", "@every 1h", "61 9 * * *"} {
		if _, err := broadcast.ParseEvery(bad); err == nil {
			t.Errorf("ParseEvery(%q) accepted", bad)
		}
	}
}

func TestTextLimits(t *testing.T) {
	if got, err := broadcast.CheckText("  春节返乡 政策提醒\n"); err != nil || got != "春节返乡 政策提醒" {
		t.Errorf("CheckText = %q, %v", got, err)
	}
	if _, err := broadcast.CheckText(strings.Repeat("政", broadcast.MaxTextRunes)); err != nil {
		t.Errorf("%d characters refused: %v", broadcast.MaxTextRunes, err)
	}
	for _, bad := range []string{"", "  \n", strings.Repeat("政", broadcast.MaxTextRunes+1), strings.Repeat("😀", 520)} {
		if _, err := broadcast.CheckText(bad); err == nil {
			t.Errorf("CheckText accepted %d characters", len([]rune(bad)))
		}
	}
}

// A daily broadcast is more than a month's quota by itself, and is refused
// saying so.
func TestDailyBroadcastIsRefused(t *testing.T) {
	zone := shanghai(t)
	daily := broadcast.Broadcast{At: time.Date(2027, 1, 1, 9, 0, 0, 0, zone), Every: "0 9 * * *"}
	err := broadcast.CheckQuota(daily, 4, broadcast.Months(daily, zone), broadcast.QuotaState{Branches: testBranches()}, zone)
	if err == nil || !strings.Contains(err.Error(), "2027年1月") || !strings.Contains(err.Error(), "这条当月要发31次") {
		t.Errorf("daily: %v", err)
	}
}
