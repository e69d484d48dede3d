package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// lifecycle starts the server's parts in order and stops them in reverse,
// all under one deadline, so a stuck part cannot hold the process and
// nothing is stopped before what depends on it.
type lifecycle struct {
	log   *slog.Logger
	parts []part
}

type part struct {
	name string
	stop func(ctx context.Context) error
}

// onStop registers how to stop a part that has just started.
func (l *lifecycle) onStop(name string, stop func(ctx context.Context) error) {
	l.parts = append(l.parts, part{name: name, stop: stop})
}

// run starts a background loop that runs until it is stopped. Stopping
// cancels its context and waits for it to return, within the deadline.
func (l *lifecycle) run(name string, loop func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				l.log.Error("background part panicked", "part", name, "panic", fmt.Sprint(p))
				done <- fmt.Errorf("%s panicked", name)
			}
		}()
		err := loop(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			l.log.Error("background part stopped", "part", name, "error", err)
		}
		done <- err
	}()
	l.log.Debug("started", "part", name)
	l.onStop(name, func(stopCtx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-stopCtx.Done():
			return fmt.Errorf("%s did not stop in time", name)
		}
	})
}

// every runs fn now and then every interval until stopped; an error is
// logged and the next round comes as usual.
func every(interval time.Duration, log *slog.Logger, name string, fn func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				log.Warn("round failed", "part", name, "error", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

// stop stops every part in reverse order of starting. Each gets what is
// left of the one deadline; one that misses it is reported and the rest
// still stop.
func (l *lifecycle) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for i := len(l.parts) - 1; i >= 0; i-- {
		p := l.parts[i]
		done := make(chan error, 1)
		go func() { done <- p.stop(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", p.name, err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop %s: shutdown deadline passed", p.name))
		}
	}
	l.parts = nil
	return errors.Join(errs...)
}
