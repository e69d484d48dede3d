// Command fakewechat serves the test kit's fake WeChat API (wxtest.FakeAPI)
// on its own, for the local demo (make run): the production nuanjia binary
// does not link the test kit. It accepts the credentials in WECHAT_APP_ID
// and WECHAT_APP_SECRET, records every call (GET /_fake/calls lists them)
// and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"nuanjia/internal/wxtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Getenv, log); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fakewechat:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	fs := flag.NewFlagSet("fakewechat", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8091", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fake := wxtest.NewFakeAPI()
	id, secret := getenv("WECHAT_APP_ID"), getenv("WECHAT_APP_SECRET")
	var missing []error
	if id == "" {
		missing = append(missing, errors.New("WECHAT_APP_ID is not set"))
	}
	if secret == "" {
		missing = append(missing, errors.New("WECHAT_APP_SECRET is not set"))
	}
	if err := errors.Join(missing...); err != nil {
		return err
	}
	fake.SetCredentials(id, secret)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("fake WeChat API listening", "addr", ln.Addr().String(), "app_id", id)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
