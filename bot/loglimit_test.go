package bot

import (
	"testing"
	"time"
)

// During an outage the same warning comes once per interval, saying how
// many were held back.
func TestLogLimiter(t *testing.T) {
	l := &LogLimiter{Every: 10 * time.Second}
	t0 := time.Unix(1764400000, 0)
	var logged, held []int
	for i := range 25 { // a push every second for 25 s
		if ok, n := l.Allow(t0.Add(time.Duration(i) * time.Second)); ok {
			logged, held = append(logged, i), append(held, n)
		}
	}
	if len(logged) != 3 || logged[0] != 0 || logged[1] != 10 || logged[2] != 20 {
		t.Errorf("logged at seconds %v, want 0, 10, 20", logged)
	}
	if held[0] != 0 || held[1] != 9 || held[2] != 9 {
		t.Errorf("held back %v, want 0, 9, 9", held)
	}
}
