package main

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
)

// menuFake is a fake WeChat API and the environment that points at it.
func menuFake(t *testing.T, vars map[string]string) *wxtest.FakeAPI {
	t.Helper()
	vars["REDIS_URL"] = redisURL()
	vars["WECHAT_APP_ID"] = "wxtest0000000001"
	vars["WECHAT_APP_SECRET"] = "test-app-secret"
	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(vars["WECHAT_APP_ID"], vars["WECHAT_APP_SECRET"])
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	vars["WECHAT_API_BASE"] = srv.URL
	return fake
}

// The menu goes to WeChat in one menu/create call: 求助 · 联系卡 · 更多,
// with the keys the router serves. The knowledge base is the database's.
func TestMenuPushSendsTheMenu(t *testing.T) {
	t.Parallel()
	_, prefix := wxtest.Redis(t)
	vars := importedDB(t)
	fake := menuFake(t, vars)

	e, out, errOut := newEnv(vars, "", "push")
	if err := runMenu(t.Context(), e, prefix); err != nil {
		t.Fatalf("menu push: %v\nstderr:\n%s", err, errOut)
	}
	calls := fake.Calls("menu/create")
	if len(calls) != 1 {
		t.Fatalf("%d menu/create calls, want 1", len(calls))
	}
	var sent bot.Menu
	if err := json.Unmarshal(calls[0].Body, &sent); err != nil {
		t.Fatalf("menu/create body %s: %v", calls[0].Body, err)
	}
	var tops, keys []string
	for _, b := range sent.Buttons {
		tops = append(tops, b.Name)
		if b.Key != "" {
			keys = append(keys, b.Type+" "+b.Key)
		}
		for _, s := range b.SubButtons {
			keys = append(keys, s.Type+" "+s.Key)
		}
	}
	if want := []string{"求助", "联系卡", "更多"}; !reflect.DeepEqual(tops, want) {
		t.Errorf("top buttons sent %v, want %v", tops, want)
	}
	wantKeys := []string{"click help", "click contact", "click faq:childcare-subsidy", "click faq:birth-registration",
		"click visit", "click status", "click profile"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("buttons sent %v, want %v", keys, wantKeys)
	}
	if !strings.Contains(out.String(), "menu pushed: 求助 · 联系卡 · 更多 (育儿补贴 · 生育登记 · 预约访视 · 我的求助 · 我的信息)") {
		t.Errorf("stdout does not list what was pushed:\n%s", out)
	}
}

// show prints the body push would send, and each name's bytes, from a
// YAML file: no database, and no call to WeChat even when it is configured.
func TestMenuShowPrintsWithoutCallingWeChat(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	fake := menuFake(t, vars)

	out, errOut, err := nuanjia(t, vars, "", "menu", "show", "--kb", demoKB)
	if err != nil {
		t.Fatalf("menu show: %v\nstderr:\n%s", err, errOut)
	}
	var shown bot.Menu
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("stdout is not menu/create's JSON: %v\n%s", err, out)
	}
	if want := bot.NewMenu(testkit.DemoKnowledge(t)); !reflect.DeepEqual(shown, want) {
		t.Errorf("shown %+v, want %+v", shown, want)
	}
	// Each name's line: the name, its bytes, its limit, its key.
	counts := map[string]string{}
	for _, line := range strings.Split(errOut, "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			counts[f[0]] = f[1] + "/" + f[2]
		}
	}
	for name, want := range map[string]string{"求助": "6/16", "联系卡": "9/16", "更多": "6/16", "育儿补贴": "12/60", "我的信息": "12/60"} {
		if counts[name] != want {
			t.Errorf("stderr gives %s %q bytes/limit, want %s:\n%s", name, counts[name], want, errOut)
		}
	}
	if calls := fake.Calls(""); len(calls) != 0 {
		t.Errorf("show called WeChat %d times, want none: first %s", len(calls), calls[0].Path)
	}
}

// push without WeChat's settings names each missing one and sends nothing.
func TestMenuPushWithoutSettingsNamesThem(t *testing.T) {
	t.Parallel()
	_, _, err := nuanjia(t, map[string]string{}, "", "menu", "push", "--kb", demoKB)
	if err == nil {
		t.Fatal("menu push with an empty environment succeeded")
	}
	for _, name := range []string{"REDIS_URL", "WECHAT_APP_ID", "WECHAT_APP_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("with --kb the database is not needed, but the error asks for it:\n%v", err)
	}
}
