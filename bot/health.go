package bot

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Pinger is a dependency that can say whether it answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Live answers /healthz: 200 whenever the process serves HTTP. It checks
// no dependency, so an orchestrator restarts the process only when the
// process itself is stuck, never because PostgreSQL is.
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Readiness is what /readyz checks, each dependency with its own deadline.
type Readiness struct {
	Postgres Pinger // where pushes are kept
	Spool    Pinger // where pushes wait while PostgreSQL is away
	Redis    Pinger // the replay guard and numbered questions: optional
	// Draining reports that shutdown has begun.
	Draining func() bool
	// Timeout bounds each check; a frozen database never hangs the probe.
	Timeout time.Duration
}

// Ready answers /readyz: 200 when the process can take pushes — PostgreSQL
// answers, or it does not but the spool can keep them — and 503 when
// neither can, or while shutting down. Redis down is reported but does not
// make the process unready: pushes are still kept and answered. The body
// names each dependency's state, one per line.
func Ready(rd Readiness) http.Handler {
	if rd.Timeout == 0 {
		rd.Timeout = 500 * time.Millisecond
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks := map[string]Pinger{"postgres": rd.Postgres, "spool": rd.Spool, "redis": rd.Redis}
		errs := make(map[string]error, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, dep := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), rd.Timeout)
				defer cancel()
				err := pingWithin(ctx, dep)
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			}()
		}
		wg.Wait()
		var b strings.Builder
		for _, name := range []string{"postgres", "spool", "redis"} {
			if errs[name] == nil {
				fmt.Fprintf(&b, "%s: ok\n", name)
			} else {
				fmt.Fprintf(&b, "%s: down (%v)\n", name, errs[name])
			}
		}
		status := http.StatusOK
		switch {
		case rd.Draining != nil && rd.Draining():
			status = http.StatusServiceUnavailable
			b.WriteString("not ready: shutting down\n")
		case errs["postgres"] != nil && errs["spool"] != nil:
			status = http.StatusServiceUnavailable
			b.WriteString("not ready: pushes can be neither kept in PostgreSQL nor spooled\n")
		case errs["postgres"] != nil:
			b.WriteString("ready: pushes go to the spool until PostgreSQL is back\n")
		default:
			b.WriteString("ready\n")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(b.String()))
	})
}

// pingWithin returns when the ping does or the deadline passes, whichever
// is first: a driver that ignores its context cannot hold the probe.
func pingWithin(ctx context.Context, dep Pinger) error {
	if dep == nil {
		return fmt.Errorf("not configured")
	}
	done := make(chan error, 1)
	go func() { done <- dep.Ping(ctx) }()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("no answer in time")
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer in time")
	}
}
