package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/bot/wxapi"
	"nuanjia/config"
	"nuanjia/handlers"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// redisPrefix namespaces every key the bot writes in Redis.
const redisPrefix = "nuanjia:"

// serve runs the webhook until SIGINT or SIGTERM.
func serve(ctx context.Context, e env) error {
	fs := e.flags("serve")
	doMigrate := fs.Bool("migrate", false, "apply database migrations before serving")
	fakeAddr := fs.String("fake-wechat", "", "start a fake WeChat API at this address and use it (local demo)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv, config.NeedDatabase, config.NeedRedis, config.NeedWebhook, config.NeedWeChatAPI)
	if err != nil {
		return err
	}
	app, err := start(ctx, cfg, options{migrate: *doMigrate, fakeAddr: *fakeAddr, redisPrefix: redisPrefix}, e.log)
	if err != nil {
		return err
	}
	defer app.close()
	e.log.Info("serving", "addr", app.addr, "wechat_api", app.apiBase, "aes", cfg.WeChatAESKey != "")
	<-ctx.Done()
	return app.shutdown()
}

// app is a running server with everything it holds, so tests and the
// benchmark can start one in-process on a free port.
type app struct {
	addr    string
	apiBase string
	fake    *wxtest.FakeAPI
	st      *store.Store
	rd      *store.Redis
	webhook *bot.Webhook
	replies *store.ReplyLog
	inbound *store.InboundBatcher
	srv     *http.Server
	servers []*http.Server
	cancel  context.CancelFunc
	log     *slog.Logger
}

// options are start's choices beyond the configuration.
type options struct {
	migrate     bool   // apply migrations first
	fakeAddr    string // serve a fake WeChat API here and use it
	redisPrefix string // namespace of every Redis key
}

// start connects to the stores, builds the bot and listens. With a fake
// address it also serves a fake WeChat API there and points the client at it.
func start(ctx context.Context, cfg config.Config, opt options, log *slog.Logger) (*app, error) {
	a := &app{log: log}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel

	if opt.fakeAddr != "" {
		a.fake = wxtest.NewFakeAPI()
		a.fake.SetCredentials(cfg.WeChatAppID, cfg.WeChatAppSecret)
		ln, err := net.Listen("tcp", opt.fakeAddr)
		if err != nil {
			return nil, fmt.Errorf("fake WeChat API: %w", err)
		}
		fakeSrv := &http.Server{Handler: a.fake, ReadHeaderTimeout: 5 * time.Second}
		a.servers = append(a.servers, fakeSrv)
		go fakeSrv.Serve(ln)
		cfg.WeChatAPIBase = "http://" + ln.Addr().String()
	}
	a.apiBase = cfg.WeChatAPIBase

	var err error
	if a.st, err = store.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if opt.migrate {
		if _, err := a.st.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	if a.rd, err = store.OpenRedis(ctx, cfg.RedisURL, opt.redisPrefix); err != nil {
		return nil, err
	}
	wx, err := wxapi.New(wxapi.Config{
		AppID: cfg.WeChatAppID, AppSecret: cfg.WeChatAppSecret, BaseURL: cfg.WeChatAPIBase,
		Tokens: store.NewRedisTokens(a.rd.Client(), opt.redisPrefix), Logger: log,
	})
	if err != nil {
		return nil, err
	}

	norm, err := nlu.NewNormalizer()
	if err != nil {
		return nil, err
	}
	kb, err := a.st.LoadKnowledge(ctx)
	if err != nil {
		return nil, err
	}
	if len(kb.Branches) == 0 {
		log.Warn("knowledge base is empty; run nuanjia import FILE.yaml")
	}
	knowledge, err := newLiveKnowledge(norm, kb)
	if err != nil {
		return nil, err
	}
	go knowledge.reloadEvery(bg, a.st, 15*time.Second, log)

	router := bot.NewRouter(knowledge, a.rd, log)
	handlers.Register(router, handlers.Deps{Knowledge: knowledge, Choices: a.rd, Prefs: a.st})
	a.replies = a.st.NewReplyLog(log)
	a.inbound = a.st.NewInboundBatcher(log)
	a.webhook = bot.NewWebhook(bot.WebhookConfig{
		Token: cfg.WeChatToken, AppID: cfg.WeChatAppID, AESKey: cfg.WeChatAESKey,
	}, a.rd, a.inbound, a.replies, router, wx, log)

	mux := http.NewServeMux()
	mux.Handle("/wechat", a.webhook)
	mux.Handle("GET /healthz", bot.Health(map[string]bot.Pinger{"postgres": a.st, "redis": a.rd}))
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	a.addr = ln.Addr().String()
	a.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	a.servers = append(a.servers, a.srv)
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	ok = true
	return a, nil
}

// shutdown stops taking requests, lets answered-late work finish, and
// gives up after a bound so a stuck dependency cannot hold the process. The
// fake WeChat API, when there is one, stops last: late replies go to it.
func (a *app) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{a.srv.Shutdown(ctx)}
	done := make(chan struct{})
	go func() { a.webhook.Wait(); close(done) }()
	select {
	case <-done:
		a.inbound.Close()
		a.replies.Close()
	case <-ctx.Done():
		errs = append(errs, errors.New("late replies still running at shutdown"))
	}
	for _, s := range a.servers {
		if s != a.srv {
			errs = append(errs, s.Shutdown(ctx))
		}
	}
	return errors.Join(errs...)
}

// close releases what start acquired.
func (a *app) close() {
	if a.cancel != nil {
		a.cancel()
	}
	for _, s := range a.servers {
		s.Close()
	}
	if a.webhook != nil {
		a.webhook.Wait()
		a.inbound.Close()
		a.replies.Close()
	}
	if a.rd != nil {
		a.rd.Close()
	}
	if a.st != nil {
		a.st.Close()
	}
}
