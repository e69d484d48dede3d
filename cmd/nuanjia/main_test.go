package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"nuanjia/internal/testkit"
)

// newEnv builds what the process would hand a subcommand: args, a
// map-backed environment, stdin, and buffers for stdout and stderr.
func newEnv(vars map[string]string, stdin string, args ...string) (env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return env{
		args:   args,
		getenv: func(k string) string { return vars[k] },
		stdin:  strings.NewReader(stdin),
		stdout: &stdout,
		stderr: &stderr,
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, &stdout, &stderr
}

// nuanjia runs one command line as main would and returns what it printed.
func nuanjia(t *testing.T, vars map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	e, out, errOut := newEnv(vars, stdin, args...)
	err = run(t.Context(), e)
	return out.String(), errOut.String(), err
}

// mustRun is nuanjia for command lines that must succeed.
func mustRun(t *testing.T, vars map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := nuanjia(t, vars, stdin, args...)
	if err != nil {
		t.Fatalf("nuanjia %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// testLogger keeps the server's log lines and shows them if the test fails.
func testLogger(t *testing.T) *slog.Logger {
	buf := &testkit.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// An operator starting the server with nothing configured gets every
// missing setting at once, one per line, and no panic.
func TestServeWithEmptyEnvironmentListsEveryMissingSetting(t *testing.T) {
	t.Parallel()
	out, _, err := nuanjia(t, map[string]string{}, "", "serve")
	if err == nil {
		t.Fatal("serve with an empty environment succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, name := range []string{"DATABASE_URL", "REDIS_URL", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET"} {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, name+":") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s is on %d lines of the error, want exactly 1:\n%s", name, n, err)
		}
	}
	if len(lines) != 5 {
		t.Errorf("error has %d lines, want 5 (one per missing setting):\n%s", len(lines), err)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

func TestServeWithMalformedAESKeyNamesIt(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"DATABASE_URL":      "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"REDIS_URL":         "redis://127.0.0.1:6379/0",
		"WECHAT_APP_ID":     "wxtest0000000001",
		"WECHAT_APP_SECRET": "test-app-secret",
		"WECHAT_TOKEN":      "nuanjia-test-token",
		"WECHAT_AES_KEY":    strings.Repeat("a", 42), // one short of 43
	}
	_, _, err := nuanjia(t, vars, "", "serve")
	if err == nil {
		t.Fatal("serve with a 42-character WECHAT_AES_KEY succeeded")
	}
	if !strings.HasPrefix(err.Error(), "WECHAT_AES_KEY:") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error = %q, want one line about WECHAT_AES_KEY", err)
	}
	if !strings.Contains(err.Error(), "43") {
		t.Errorf("error = %q, want it to say the key has 43 characters", err)
	}
}

func TestUnknownCommandPrintsUsage(t *testing.T) {
	t.Parallel()
	out, errOut, err := nuanjia(t, nil, "", "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("error = %v, want unknown command \"frobnicate\"", err)
	}
	if !strings.Contains(errOut, "usage: nuanjia <command>") || !strings.Contains(errOut, "migrate") {
		t.Errorf("stderr = %q, want the usage with the command list", errOut)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

func TestNoCommandPrintsUsage(t *testing.T) {
	t.Parallel()
	_, errOut, err := nuanjia(t, nil, "")
	if err == nil {
		t.Error("nuanjia with no command succeeded")
	}
	if !strings.Contains(errOut, "usage: nuanjia <command>") {
		t.Errorf("stderr = %q, want the usage", errOut)
	}
}

func TestHelpPrintsUsageToStdout(t *testing.T) {
	t.Parallel()
	out := mustRun(t, nil, "", "help")
	if !strings.Contains(out, "usage: nuanjia <command>") {
		t.Errorf("stdout = %q, want the usage", out)
	}
}

// A mistyped flag is reported on stderr by the flag package; main then
// prints nothing more (flag.ErrHelp only for -h).
func TestBadFlagIsAnError(t *testing.T) {
	t.Parallel()
	_, errOut, err := nuanjia(t, nil, "", "export", "--openidd", "x")
	if err == nil || errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v, want a flag error", err)
	}
	if !strings.Contains(errOut, "openidd") {
		t.Errorf("stderr = %q, want it to name the unknown flag", errOut)
	}
}

// The production binary carries no test code: the fake WeChat API and the
// push builders of internal/ are linked only into tests and cmd/fakewechat.
func TestBinaryCarriesNoTestKit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "nuanjia/cmd/nuanjia").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "nuanjia/internal/") {
			t.Errorf("bin/nuanjia links the test kit %s", pkg)
		}
	}
}
