// Package config reads nuanjia's settings from the environment once, at
// start, and reports every missing or invalid value on its own short line.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is every setting nuanjia reads. It is passed down explicitly.
type Config struct {
	DatabaseURL     string // DATABASE_URL
	RedisURL        string // REDIS_URL
	HTTPAddr        string // HTTP_ADDR
	WeChatAppID     string // WECHAT_APP_ID
	WeChatAppSecret string // WECHAT_APP_SECRET
	WeChatToken     string // WECHAT_TOKEN
	WeChatAESKey    string // WECHAT_AES_KEY (optional)
	WeChatAPIBase   string // WECHAT_API_BASE

	// Reliable processing.
	SpoolDir         string        // SPOOL_DIR: pushes wait here while PostgreSQL is away
	ShutdownTimeout  time.Duration // SHUTDOWN_TIMEOUT: how long stopping may take in all
	SweepEvery       time.Duration // SWEEP_EVERY: how often the sweeper looks for unhandled pushes
	SweepGrace       time.Duration // SWEEP_GRACE: how long a kept push may stay unhandled first
	SpoolReplayEvery time.Duration // SPOOL_REPLAY_EVERY: how often the spool is moved into PostgreSQL

	// Cases.
	CaseAcceptSLA       time.Duration // CASE_ACCEPT_SLA: not accepted this long, the county is told
	CaseUrgentAcceptSLA time.Duration // CASE_URGENT_ACCEPT_SLA: the same for urgent cases
	CaseReplySLA        time.Duration // CASE_REPLY_SLA: accepted this long with no reply, the assignee is reminded
	CaseQuestionBatch   time.Duration // CASE_QUESTION_BATCH: questions the bot could not answer wait this long to be alerted together
	CaseClockEvery      time.Duration // CASE_CLOCK_EVERY: how often the case clock runs

	// Branch tags at WeChat.
	TagSyncEvery time.Duration // TAG_SYNC_EVERY: how often members' branch tags are brought in step

	// Broadcasts (群发).
	BroadcastMonthlyLimit   int           // BROADCAST_MONTHLY_LIMIT: mass messages per member per calendar month
	BroadcastSchedulerEvery time.Duration // BROADCAST_SCHEDULER_EVERY: how often due broadcasts are looked for

	// Retention ("365d" or any Go duration).
	MessageRetention time.Duration // MESSAGE_RETENTION: message texts are blanked after this
	CaseRetention    time.Duration // CASE_RETENTION: a closed case's texts are blanked this long after it closed
	MemberEraseAfter time.Duration // MEMBER_ERASE_AFTER: a member who left and did not come back is erased after this
	RetentionEvery   time.Duration // RETENTION_EVERY: how often the retention job runs
	// Template ids (empty: customer-service messages only) and their
	// keyword keys, comma-separated in the order the fields are listed.
	CaseAlertTemplate  string    // WECHAT_TEMPLATE_CASE_ALERT
	CaseAlertFields    [4]string // WECHAT_TEMPLATE_CASE_ALERT_FIELDS: number, category, urgency, words
	CaseUpdateTemplate string    // WECHAT_TEMPLATE_CASE_UPDATE
	CaseUpdateFields   [3]string // WECHAT_TEMPLATE_CASE_UPDATE_FIELDS: number, status, words

	// Home visits.
	VisitReminders        []time.Duration // VISIT_REMINDERS: offsets before a visit, such as -24h,-2h
	VisitQuietFrom        time.Duration   // VISIT_QUIET_HOURS: no reminder from this time of day…
	VisitQuietTo          time.Duration   // …until this one (equal: no quiet hours)
	VisitSchedulerEvery   time.Duration   // VISIT_SCHEDULER_EVERY: how often reminders and digests are looked for
	VisitReminderTemplate string          // WECHAT_TEMPLATE_VISIT_REMINDER
	VisitReminderFields   [4]string       // WECHAT_TEMPLATE_VISIT_REMINDER_FIELDS: number, time, purpose, words
	TimeZone              *time.Location  // TZ: visits' times and the digest's morning (default Asia/Shanghai)
}

// Defaults for the optional settings.
const (
	DefaultHTTPAddr      = "127.0.0.1:8080"
	DefaultWeChatAPIBase = "https://api.weixin.qq.com"
	DefaultSpoolDir      = "spool"

	DefaultShutdownTimeout  = 10 * time.Second
	DefaultSweepEvery       = 10 * time.Second
	DefaultSweepGrace       = time.Minute
	DefaultSpoolReplayEvery = time.Second

	DefaultCaseAcceptSLA       = 2 * time.Hour
	DefaultCaseUrgentAcceptSLA = 30 * time.Minute
	DefaultCaseReplySLA        = 24 * time.Hour
	DefaultCaseQuestionBatch   = 10 * time.Minute
	DefaultCaseClockEvery      = 15 * time.Second
	DefaultTagSyncEvery        = 30 * time.Second

	// WeChat's own limit for a service account's follower (platform notes §3.5).
	DefaultBroadcastMonthlyLimit   = 4
	DefaultBroadcastSchedulerEvery = 30 * time.Second

	DefaultMessageRetention    = 365 * 24 * time.Hour
	DefaultCaseRetention       = 3 * 365 * 24 * time.Hour
	DefaultMemberEraseAfter    = 30 * 24 * time.Hour
	DefaultRetentionEvery      = time.Hour
	DefaultVisitReminders      = "-24h,-2h"
	DefaultVisitQuietHours     = "21:00-08:00"
	DefaultVisitSchedulerEvery = 30 * time.Second
	DefaultTimeZone            = "Asia/Shanghai"

	// The keyword keys of the templates chosen from WeChat's library.
	DefaultCaseAlertFields  = "character_string1,thing2,phrase3,thing4"
	DefaultCaseUpdateFields = "character_string1,phrase2,thing3"
	DefaultVisitFields      = "character_string1,time2,thing3,thing4"
)

// Need names a group of settings a subcommand cannot run without.
type Need int

const (
	NeedDatabase  Need = iota // DATABASE_URL
	NeedRedis                 // REDIS_URL
	NeedWebhook               // WECHAT_TOKEN, WECHAT_APP_ID (to check the AppID inside encrypted pushes)
	NeedWeChatAPI             // WECHAT_APP_ID, WECHAT_APP_SECRET
)

// Load reads the environment through getenv. It checks the form of every
// value that is set, and that every setting the needs call for is set.
// The error lists one problem per line, naming the variable.
func Load(getenv func(string) string, needs ...Need) (Config, error) {
	c := Config{
		DatabaseURL:     strings.TrimSpace(getenv("DATABASE_URL")),
		RedisURL:        strings.TrimSpace(getenv("REDIS_URL")),
		HTTPAddr:        strings.TrimSpace(getenv("HTTP_ADDR")),
		WeChatAppID:     strings.TrimSpace(getenv("WECHAT_APP_ID")),
		WeChatAppSecret: strings.TrimSpace(getenv("WECHAT_APP_SECRET")),
		WeChatToken:     strings.TrimSpace(getenv("WECHAT_TOKEN")),
		WeChatAESKey:    strings.TrimSpace(getenv("WECHAT_AES_KEY")),
		WeChatAPIBase:   strings.TrimSpace(getenv("WECHAT_API_BASE")),
		SpoolDir:        strings.TrimSpace(getenv("SPOOL_DIR")),

		CaseAlertTemplate:  strings.TrimSpace(getenv("WECHAT_TEMPLATE_CASE_ALERT")),
		CaseUpdateTemplate: strings.TrimSpace(getenv("WECHAT_TEMPLATE_CASE_UPDATE")),

		VisitReminderTemplate: strings.TrimSpace(getenv("WECHAT_TEMPLATE_VISIT_REMINDER")),
	}
	if c.SpoolDir == "" {
		c.SpoolDir = DefaultSpoolDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.WeChatAPIBase == "" {
		c.WeChatAPIBase = DefaultWeChatAPIBase
	}
	c.WeChatAPIBase = strings.TrimRight(c.WeChatAPIBase, "/")

	appIDPattern := regexp.MustCompile(`^wx[0-9a-zA-Z]{6,30}$`)
	tokenPattern := regexp.MustCompile(`^[0-9A-Za-z_-]{3,32}$`)
	aesKeyPattern := regexp.MustCompile(`^[0-9A-Za-z]{43}$`)

	var problems []error
	bad := func(name, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	required := map[string]bool{}
	for _, n := range needs {
		switch n {
		case NeedDatabase:
			required["DATABASE_URL"] = true
		case NeedRedis:
			required["REDIS_URL"] = true
		case NeedWebhook:
			required["WECHAT_TOKEN"] = true
			required["WECHAT_APP_ID"] = true
		case NeedWeChatAPI:
			required["WECHAT_APP_ID"] = true
			required["WECHAT_APP_SECRET"] = true
		}
	}
	values := []struct{ name, value string }{
		{"DATABASE_URL", c.DatabaseURL}, {"REDIS_URL", c.RedisURL},
		{"WECHAT_APP_ID", c.WeChatAppID}, {"WECHAT_APP_SECRET", c.WeChatAppSecret},
		{"WECHAT_TOKEN", c.WeChatToken},
	}
	for _, v := range values {
		if required[v.name] && v.value == "" {
			bad(v.name, "not set")
		}
	}

	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DATABASE_URL", "want postgres://user@host:port/db?sslmode=disable")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("REDIS_URL", "want redis://host:port/db")
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "want host:port, such as %s", DefaultHTTPAddr)
	}
	if c.WeChatAppID != "" && !appIDPattern.MatchString(c.WeChatAppID) {
		bad("WECHAT_APP_ID", "want the account's AppID: wx followed by letters and digits")
	}
	if c.WeChatToken != "" && !tokenPattern.MatchString(c.WeChatToken) {
		bad("WECHAT_TOKEN", "want 3 to 32 letters, digits or -_ (WeChat's rule for the Token)")
	}
	if c.WeChatAESKey != "" && !aesKeyPattern.MatchString(c.WeChatAESKey) {
		bad("WECHAT_AES_KEY", "want the 43-character EncodingAESKey (letters and digits), or leave it unset for plaintext mode")
	}
	if u, err := url.Parse(c.WeChatAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("WECHAT_API_BASE", "want a URL such as %s", DefaultWeChatAPIBase)
	}
	durations := []struct {
		name     string
		into     *time.Duration
		def, min time.Duration
	}{
		{"SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, DefaultShutdownTimeout, time.Second},
		{"SWEEP_EVERY", &c.SweepEvery, DefaultSweepEvery, 100 * time.Millisecond},
		// Shorter than a handling may take (30 s) would handle pushes
		// twice as often as needed; the row locks keep it correct anyway.
		{"SWEEP_GRACE", &c.SweepGrace, DefaultSweepGrace, time.Second},
		{"SPOOL_REPLAY_EVERY", &c.SpoolReplayEvery, DefaultSpoolReplayEvery, 100 * time.Millisecond},
		{"CASE_ACCEPT_SLA", &c.CaseAcceptSLA, DefaultCaseAcceptSLA, time.Minute},
		{"CASE_URGENT_ACCEPT_SLA", &c.CaseUrgentAcceptSLA, DefaultCaseUrgentAcceptSLA, time.Minute},
		{"CASE_REPLY_SLA", &c.CaseReplySLA, DefaultCaseReplySLA, time.Minute},
		{"CASE_QUESTION_BATCH", &c.CaseQuestionBatch, DefaultCaseQuestionBatch, 0},
		{"CASE_CLOCK_EVERY", &c.CaseClockEvery, DefaultCaseClockEvery, 100 * time.Millisecond},
		{"TAG_SYNC_EVERY", &c.TagSyncEvery, DefaultTagSyncEvery, 100 * time.Millisecond},
		{"BROADCAST_SCHEDULER_EVERY", &c.BroadcastSchedulerEvery, DefaultBroadcastSchedulerEvery, 100 * time.Millisecond},
		{"MESSAGE_RETENTION", &c.MessageRetention, DefaultMessageRetention, 24 * time.Hour},
		{"CASE_RETENTION", &c.CaseRetention, DefaultCaseRetention, 24 * time.Hour},
		{"MEMBER_ERASE_AFTER", &c.MemberEraseAfter, DefaultMemberEraseAfter, 0},
		{"RETENTION_EVERY", &c.RetentionEvery, DefaultRetentionEvery, 100 * time.Millisecond},
		{"VISIT_SCHEDULER_EVERY", &c.VisitSchedulerEvery, DefaultVisitSchedulerEvery, 100 * time.Millisecond},
	}
	for _, d := range durations {
		raw := strings.TrimSpace(getenv(d.name))
		if raw == "" {
			*d.into = d.def
			continue
		}
		v, err := parseDuration(raw)
		if err != nil || v < d.min {
			bad(d.name, "want a duration of at least %s, such as %s", d.min, d.def)
			continue
		}
		*d.into = v
	}
	c.BroadcastMonthlyLimit = DefaultBroadcastMonthlyLimit
	if raw := strings.TrimSpace(getenv("BROADCAST_MONTHLY_LIMIT")); raw != "" {
		// More than WeChat's 4 would only schedule sends it drops unseen.
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > DefaultBroadcastMonthlyLimit {
			bad("BROADCAST_MONTHLY_LIMIT", "want a whole number from 1 to %d (WeChat's limit)", DefaultBroadcastMonthlyLimit)
		} else {
			c.BroadcastMonthlyLimit = n
		}
	}
	templateIDPattern := regexp.MustCompile(`^[0-9A-Za-z_-]{10,64}$`)
	for _, t := range []struct{ name, value string }{
		{"WECHAT_TEMPLATE_CASE_ALERT", c.CaseAlertTemplate}, {"WECHAT_TEMPLATE_CASE_UPDATE", c.CaseUpdateTemplate},
		{"WECHAT_TEMPLATE_VISIT_REMINDER", c.VisitReminderTemplate},
	} {
		if t.value != "" && !templateIDPattern.MatchString(t.value) {
			bad(t.name, "want the template id from the account's template library (letters, digits, - and _)")
		}
	}
	if err := fieldKeys(c.CaseAlertFields[:], getenv("WECHAT_TEMPLATE_CASE_ALERT_FIELDS"), DefaultCaseAlertFields); err != nil {
		bad("WECHAT_TEMPLATE_CASE_ALERT_FIELDS", "%v", err)
	}
	if err := fieldKeys(c.CaseUpdateFields[:], getenv("WECHAT_TEMPLATE_CASE_UPDATE_FIELDS"), DefaultCaseUpdateFields); err != nil {
		bad("WECHAT_TEMPLATE_CASE_UPDATE_FIELDS", "%v", err)
	}
	if err := fieldKeys(c.VisitReminderFields[:], getenv("WECHAT_TEMPLATE_VISIT_REMINDER_FIELDS"), DefaultVisitFields); err != nil {
		bad("WECHAT_TEMPLATE_VISIT_REMINDER_FIELDS", "%v", err)
	}
	var err error
	if c.VisitReminders, err = reminderOffsets(getenv("VISIT_REMINDERS")); err != nil {
		bad("VISIT_REMINDERS", "%v", err)
	}
	if c.VisitQuietFrom, c.VisitQuietTo, err = quietHours(getenv("VISIT_QUIET_HOURS")); err != nil {
		bad("VISIT_QUIET_HOURS", "%v", err)
	}
	zone := strings.TrimSpace(getenv("TZ"))
	if zone == "" {
		zone = DefaultTimeZone
	}
	if c.TimeZone, err = time.LoadLocation(zone); err != nil {
		if zone != DefaultTimeZone {
			bad("TZ", "want a time zone name such as %s", DefaultTimeZone)
		}
		// A server image without tzdata: China has kept +08:00 all year since 1991.
		c.TimeZone = time.FixedZone("CST", 8*60*60)
	}
	return c, errors.Join(problems...)
}

// maxReminderOffset bounds a reminder's offset: a reminder a month ahead
// reminds nobody of anything.
const maxReminderOffset = 30 * 24 * time.Hour

// reminderOffsets reads VISIT_REMINDERS: offsets before a visit,
// comma-separated, each a negative Go duration or whole days ("-1d");
// raw "" takes the default, "none" means no reminders.
func reminderOffsets(raw string) ([]time.Duration, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = DefaultVisitReminders
	}
	if raw == "none" {
		return nil, nil
	}
	var out []time.Duration
	seen := map[time.Duration]bool{}
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		d, err := parseDuration(strings.TrimPrefix(p, "-"))
		if err != nil || !strings.HasPrefix(p, "-") || d < time.Minute || d > maxReminderOffset {
			return nil, fmt.Errorf("%q: want offsets before the visit such as %s (each from -1m to -30d), or none", p, DefaultVisitReminders)
		}
		if seen[d] {
			return nil, fmt.Errorf("%q is listed twice", p)
		}
		seen[d] = true
		out = append(out, -d)
	}
	return out, nil
}

// quietHours reads VISIT_QUIET_HOURS, "21:00-08:00", as times of day
// since midnight; raw "" takes the default, "none" means no quiet hours.
func quietHours(raw string) (from, to time.Duration, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = DefaultVisitQuietHours
	}
	if raw == "none" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(raw, "-")
	if ok {
		from, err = clockTime(a)
	}
	if ok && err == nil {
		to, err = clockTime(b)
	}
	if !ok || err != nil || from == to {
		return 0, 0, fmt.Errorf("%q: want two different times of day such as %s, or none", raw, DefaultVisitQuietHours)
	}
	return from, to, nil
}

// clockTime reads "21:00" or "8:30" as the time since midnight.
func clockTime(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// fieldKeys reads a template's keyword keys, comma-separated, into keys
// (one per field, in order); raw "" takes def.
func fieldKeys(keys []string, raw, def string) error {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = def
	}
	parts := strings.Split(raw, ",")
	keyPattern := regexp.MustCompile(`^[a-z_]+[0-9]+$`)
	if len(parts) != len(keys) {
		return fmt.Errorf("want %d keyword keys separated by commas, such as %s", len(keys), def)
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !keyPattern.MatchString(p) {
			return fmt.Errorf("%q is not a keyword key such as thing2 (see the template's details in the account)", p)
		}
		keys[i] = p
	}
	return nil
}

// parseDuration reads a Go duration, or whole days as "365d": retention
// is said in days, and 8760h helps nobody.
func parseDuration(raw string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(raw, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad number of days %q", raw)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(raw)
}
