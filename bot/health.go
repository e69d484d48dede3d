package bot

import (
	"context"
	"net/http"
	"time"
)

// Pinger is a dependency that can say whether it answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health answers 200 only when every dependency answers within a second,
// else 503 naming the first that did not.
func Health(deps map[string]Pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for name, dep := range deps {
			if err := dep.Ping(ctx); err != nil {
				http.Error(w, name+" down", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
}
