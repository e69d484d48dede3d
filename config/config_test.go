package config

import (
	"strings"
	"testing"
	"time"
)

// goodEnv is a complete, valid environment for serving.
func goodEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL":      "postgres://postgres@127.0.0.1:5432/nuanjia?sslmode=disable",
		"REDIS_URL":         "redis://127.0.0.1:6379/0",
		"WECHAT_APP_ID":     "wx1234567890abcdef",
		"WECHAT_APP_SECRET": "0123456789abcdef0123456789abcdef",
		"WECHAT_TOKEN":      "nuanjia-token_1",
		"WECHAT_AES_KEY":    strings.Repeat("a1B2c3D4e5", 4) + "xyz", // 43 characters
	}
}

var allNeeds = []Need{NeedDatabase, NeedRedis, NeedWebhook, NeedWeChatAPI}

// load runs Load over env.
func load(env map[string]string, needs ...Need) (Config, error) {
	return Load(func(k string) string { return env[k] }, needs...)
}

// problemLines splits a Load error into the lines an operator reads.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoadGoodValuesAndDefaults(t *testing.T) {
	env := goodEnv()
	c, err := load(env, allNeeds...)
	if err != nil {
		t.Fatalf("Load with good values: %v", err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("HTTPAddr default = %q, want 127.0.0.1:8080", c.HTTPAddr)
	}
	if c.WeChatAPIBase != "https://api.weixin.qq.com" {
		t.Errorf("WeChatAPIBase default = %q, want https://api.weixin.qq.com", c.WeChatAPIBase)
	}
	got := map[string]string{
		"DATABASE_URL": c.DatabaseURL, "REDIS_URL": c.RedisURL, "WECHAT_APP_ID": c.WeChatAppID,
		"WECHAT_APP_SECRET": c.WeChatAppSecret, "WECHAT_TOKEN": c.WeChatToken, "WECHAT_AES_KEY": c.WeChatAESKey,
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s read as %q, want %q", k, got[k], v)
		}
	}
}

func TestLoadTrimsSpacesAndTrailingSlash(t *testing.T) {
	env := goodEnv()
	env["WECHAT_API_BASE"] = "http://127.0.0.1:9000/"
	env["HTTP_ADDR"] = " 0.0.0.0:80 "
	c, err := load(env, allNeeds...)
	if err != nil {
		t.Fatal(err)
	}
	if c.WeChatAPIBase != "http://127.0.0.1:9000" {
		t.Errorf("WeChatAPIBase = %q, want the trailing slash trimmed", c.WeChatAPIBase)
	}
	if c.HTTPAddr != "0.0.0.0:80" {
		t.Errorf("HTTPAddr = %q, want spaces trimmed", c.HTTPAddr)
	}
}

// Plaintext mode: the EncodingAESKey is optional.
func TestLoadWithoutAESKey(t *testing.T) {
	env := goodEnv()
	delete(env, "WECHAT_AES_KEY")
	c, err := load(env, allNeeds...)
	if err != nil {
		t.Fatalf("Load without WECHAT_AES_KEY: %v", err)
	}
	if c.WeChatAESKey != "" {
		t.Errorf("WeChatAESKey = %q, want empty", c.WeChatAESKey)
	}
}

func TestLoadReportsEachBadValue(t *testing.T) {
	tests := []struct {
		name     string
		variable string
		value    string // "" with unset true: removed from the environment
		unset    bool
	}{
		{"database url missing", "DATABASE_URL", "", true},
		{"database url of another kind", "DATABASE_URL", "mysql://root@localhost/nuanjia", false},
		{"redis url missing", "REDIS_URL", "", true},
		{"redis url without scheme", "REDIS_URL", "127.0.0.1:6379", false},
		{"app id missing", "WECHAT_APP_ID", "", true},
		{"app id not an AppID", "WECHAT_APP_ID", "gh_1234567890ab", false},
		{"app secret missing", "WECHAT_APP_SECRET", "", true},
		{"token missing", "WECHAT_TOKEN", "", true},
		{"token with a space", "WECHAT_TOKEN", "nuan jia", false},
		{"token too short", "WECHAT_TOKEN", "ab", false},
		{"aes key of 42 characters", "WECHAT_AES_KEY", strings.Repeat("a", 42), false},
		{"aes key with a symbol", "WECHAT_AES_KEY", strings.Repeat("a", 42) + "+", false},
		{"http addr without port", "HTTP_ADDR", "127.0.0.1", false},
		{"api base not a url", "WECHAT_API_BASE", "api.weixin.qq.com", false},
		{"api base of another scheme", "WECHAT_API_BASE", "ftp://api.weixin.qq.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := goodEnv()
			if tt.unset {
				delete(env, tt.variable)
			} else {
				env[tt.variable] = tt.value
			}
			_, err := load(env, allNeeds...)
			lines := problemLines(t, err)
			if len(lines) != 1 {
				t.Fatalf("want one problem line, got %d: %q", len(lines), lines)
			}
			if !strings.HasPrefix(lines[0], tt.variable+":") {
				t.Errorf("problem %q does not start with the variable %s", lines[0], tt.variable)
			}
			if tt.unset && !strings.Contains(lines[0], "not set") {
				t.Errorf("problem %q does not say the variable is not set", lines[0])
			}
		})
	}
}

func TestLoadListsEveryProblemOnItsOwnLine(t *testing.T) {
	env := goodEnv()
	delete(env, "DATABASE_URL")
	delete(env, "WECHAT_APP_SECRET")
	env["REDIS_URL"] = "http://127.0.0.1:6379"
	env["WECHAT_AES_KEY"] = "short"
	bad := []string{"DATABASE_URL", "WECHAT_APP_SECRET", "REDIS_URL", "WECHAT_AES_KEY"}

	_, err := load(env, allNeeds...)
	lines := problemLines(t, err)
	if len(lines) != len(bad) {
		t.Fatalf("%d problem lines for %d bad values:\n%s", len(lines), len(bad), err)
	}
	for _, name := range bad {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, name+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is named on %d lines, want 1:\n%s", name, n, err)
		}
	}
}

// A subcommand asks only for what it uses: `import` needs the database, not
// WeChat's secrets.
func TestLoadRequiresOnlyWhatIsNeeded(t *testing.T) {
	env := map[string]string{"DATABASE_URL": goodEnv()["DATABASE_URL"]}
	if _, err := load(env, NeedDatabase); err != nil {
		t.Errorf("import-style Load: %v", err)
	}
	_, err := load(env, NeedDatabase, NeedWebhook)
	lines := problemLines(t, err)
	if len(lines) != 2 {
		t.Fatalf("webhook without token and app id: %q", lines)
	}
	if !strings.Contains(err.Error(), "WECHAT_TOKEN") || !strings.Contains(err.Error(), "WECHAT_APP_ID") {
		t.Errorf("error %q does not name WECHAT_TOKEN and WECHAT_APP_ID", err)
	}
}

// The reliability settings have defaults, take Go durations, and refuse
// nonsense with a line naming the variable.
func TestLoadReliabilitySettings(t *testing.T) {
	c, err := load(goodEnv(), allNeeds...)
	if err != nil {
		t.Fatal(err)
	}
	if c.SpoolDir != "spool" || c.ShutdownTimeout != DefaultShutdownTimeout || c.SweepGrace != DefaultSweepGrace {
		t.Errorf("defaults: spool %q, shutdown %s, sweep grace %s", c.SpoolDir, c.ShutdownTimeout, c.SweepGrace)
	}
	env := goodEnv()
	env["SPOOL_DIR"] = "/var/lib/nuanjia/spool"
	env["SHUTDOWN_TIMEOUT"] = "20s"
	env["SWEEP_EVERY"] = "2s"
	if c, err = load(env, allNeeds...); err != nil {
		t.Fatal(err)
	}
	if c.SpoolDir != "/var/lib/nuanjia/spool" || c.ShutdownTimeout.String() != "20s" || c.SweepEvery.String() != "2s" {
		t.Errorf("read %q %s %s", c.SpoolDir, c.ShutdownTimeout, c.SweepEvery)
	}
	env["SHUTDOWN_TIMEOUT"] = "ten"
	env["SWEEP_GRACE"] = "1ms"
	lines := problemLines(t, func() error { _, err := load(env, allNeeds...); return err }())
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SHUTDOWN_TIMEOUT: ") || !strings.HasPrefix(lines[1], "SWEEP_GRACE: ") {
		t.Errorf("problems = %q, want one line each for SHUTDOWN_TIMEOUT and SWEEP_GRACE", lines)
	}
}

// Retention in days, visit reminders and quiet hours: defaults, good
// values, and a clear line for each bad one.
func TestLoadPrivacyAndVisitSettings(t *testing.T) {
	c, err := load(goodEnv(), allNeeds...)
	if err != nil {
		t.Fatal(err)
	}
	if c.MessageRetention != DefaultMessageRetention || c.MemberEraseAfter != DefaultMemberEraseAfter ||
		len(c.VisitReminders) != 2 || c.VisitReminders[0] != -24*time.Hour || c.VisitReminders[1] != -2*time.Hour {
		t.Errorf("defaults: retention %s, erase after %s, reminders %v", c.MessageRetention, c.MemberEraseAfter, c.VisitReminders)
	}
	if c.VisitQuietFrom != 21*time.Hour || c.VisitQuietTo != 8*time.Hour {
		t.Errorf("quiet hours default %s–%s, want 21:00–08:00", c.VisitQuietFrom, c.VisitQuietTo)
	}
	env := goodEnv()
	env["MESSAGE_RETENTION"] = "180d"
	env["VISIT_REMINDERS"] = "-48h, -1h"
	env["VISIT_QUIET_HOURS"] = "22:00-07:30"
	if c, err = load(env, allNeeds...); err != nil {
		t.Fatal(err)
	}
	if c.MessageRetention != 180*24*time.Hour || len(c.VisitReminders) != 2 || c.VisitReminders[0] != -48*time.Hour ||
		c.VisitQuietFrom != 22*time.Hour || c.VisitQuietTo != 7*time.Hour+30*time.Minute {
		t.Errorf("read %s %v %s–%s", c.MessageRetention, c.VisitReminders, c.VisitQuietFrom, c.VisitQuietTo)
	}
	env["MESSAGE_RETENTION"] = "a year"
	env["VISIT_REMINDERS"] = "tomorrow"
	env["VISIT_QUIET_HOURS"] = "25:00-08:00"
	lines := problemLines(t, func() error { _, err := load(env, allNeeds...); return err }())
	if len(lines) != 3 {
		t.Fatalf("problems = %q, want one line each", lines)
	}
	for i, name := range []string{"MESSAGE_RETENTION: ", "VISIT_REMINDERS: ", "VISIT_QUIET_HOURS: "} {
		if !strings.HasPrefix(lines[i], name) {
			t.Errorf("problem %d = %q, want it to name %s", i, lines[i], name)
		}
	}
}
