package main

import (
	"strings"
	"testing"
)

// Staff erase a member who asked by phone: the export afterwards holds no
// words of theirs, their case is kept without them, the audit log says who
// and why. A missing reason, or an unknown openid, changes nothing.
func TestMemberEraseThenExport(t *testing.T) {
	t.Parallel()
	vars := auditedDB(t)
	if _, errOut, err := nuanjia(t, vars, "", "member", "erase", "--openid", auditMember); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("erase without a reason: %v %s, want a usage error", err, errOut)
	}
	if !strings.Contains(mustRun(t, vars, "", "export", "--openid", auditMember, "--actor", "li"), "老板拖欠工资") {
		t.Fatal("the member's words are not in the export before erasure: the test proves nothing")
	}
	out := mustRun(t, vars, "", "member", "erase", "--openid", auditMember, "--reason", "电话里要求删除", "--actor", "li")
	if !strings.Contains(out, "1 cases kept") {
		t.Errorf("erase printed %q, want the counts", out)
	}
	if ex := mustRun(t, vars, "", "export", "--openid", auditMember, "--actor", "li"); strings.Contains(ex, "老板拖欠工资") {
		t.Errorf("the export still holds the member's words:\n%s", ex)
	}
	if other := mustRun(t, vars, "", "export", "--openid", "demo-openid-someone-else", "--actor", "li"); !strings.Contains(other, "老板拖欠工资") {
		t.Error("another member's data went too")
	}
	if lines := auditLines(t, vars, "--openid", auditMember); !strings.Contains(strings.Join(lines, "\n"), "erase") {
		t.Errorf("the erasure is not in the audit log:\n%s", strings.Join(lines, "\n"))
	}
	if _, _, err := nuanjia(t, vars, "", "member", "erase", "--openid", "nobody", "--reason", "typo"); err == nil {
		t.Error("erasing an unknown openid succeeded")
	}
}
