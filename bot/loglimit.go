package bot

import (
	"sync"
	"time"
)

// LogLimiter lets a warning that repeats for every push during an outage
// (Redis down, PostgreSQL away) through once per interval, with a count of
// the ones held back, so the log a person reads at night stays readable.
type LogLimiter struct {
	Every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether to log now, and how many were held back since the
// last line.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Every {
		l.suppressed++
		return false, 0
	}
	suppressed, l.suppressed, l.last = l.suppressed, 0, now
	return true, suppressed
}
