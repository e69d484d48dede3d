package bot

import "testing"

func TestPhoneMasker(t *testing.T) {
	p := NewPhoneMasker()
	for _, c := range []struct{ in, want string }{
		{"我电话13912345678快来", "我电话139******78快来"},
		{"打 139 1234 5678 或 0859-3212345", "打 139 **** **78 或 085*-*****45"},
		{"+8613912345678", "+861********78"},
		{"欠了我3000块 三个月", "欠了我3000块 三个月"},
		{"身份证 52232819900101", "身份证 52232819900101"},
		{"两个号13912345678和13812345678", "两个号139******78和138******78"},
		{"", ""},
	} {
		if got := p.Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"13912345678", "13912345678", true},
		{" 139-1234-5678 ", "13912345678", true},
		{"0859-3212345", "08593212345", true},
		{"12345678901", "12345678901", false},
		{"1391234567", "1391234567", false},
		{"电话13912345678", "", false},
	} {
		got, ok := p.Valid(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("Valid(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
