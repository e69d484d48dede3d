package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/broadcast"
	"nuanjia/bot/evidence"
	"nuanjia/bot/metrics"
	"nuanjia/bot/nlu"
	"nuanjia/bot/outbox"
	"nuanjia/bot/tagsync"
	"nuanjia/bot/wechat"
	"nuanjia/bot/wxapi"
	"nuanjia/config"
	"nuanjia/handlers"
	"nuanjia/store"
	"nuanjia/store/spool"
)

// redisPrefix namespaces every key the bot writes in Redis.
const redisPrefix = "nuanjia:"

// knowledgeReloadEvery is how soon an import reaches a serving process.
const knowledgeReloadEvery = 15 * time.Second

// serve runs the webhook until SIGINT or SIGTERM.
func serve(ctx context.Context, e env) error {
	fs := e.flags("serve")
	doMigrate := fs.Bool("migrate", false, "apply database migrations before serving")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	cfg, err := config.Load(e.getenv, config.NeedDatabase, config.NeedRedis, config.NeedWebhook, config.NeedWeChatAPI)
	if err != nil {
		return err
	}
	a, err := start(ctx, cfg, options{migrate: *doMigrate, redisPrefix: redisPrefix}, e.log)
	if err != nil {
		return err
	}
	e.log.Info("serving", "addr", a.addr, "wechat_api", cfg.WeChatAPIBase, "aes", cfg.WeChatAESKey != "",
		"spool", cfg.SpoolDir)
	<-ctx.Done()
	e.log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	return a.shutdown()
}

// app is a running server with everything it holds, so tests and the
// benchmark can start one in-process on a free port.
type app struct {
	addr     string
	st       *store.Store
	rd       *store.Redis
	spool    *spool.Spool
	inbound  *store.InboundBatcher
	pipeline *bot.Pipeline
	sender   *outbox.Sender
	metrics  *metrics.Metrics
	parts    lifecycle
	draining atomic.Bool
	timeout  time.Duration
	log      *slog.Logger
}

// options are start's choices beyond the configuration.
type options struct {
	migrate     bool   // apply migrations first
	redisPrefix string // namespace of every Redis key
}

// start connects to the stores and starts the server's parts in order:
// each part is stopped, in reverse, by shutdown.
func start(ctx context.Context, cfg config.Config, opt options, log *slog.Logger) (*app, error) {
	a := &app{log: log, timeout: cfg.ShutdownTimeout, parts: lifecycle{log: log}}
	if a.timeout == 0 {
		a.timeout = config.DefaultShutdownTimeout
	}
	ok := false
	defer func() {
		if !ok {
			if err := a.parts.stop(a.timeout); err != nil {
				log.Warn("stopping after a failed start", "error", err)
			}
		}
	}()

	var err error
	if a.st, err = store.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	a.parts.onStop("postgres", func(context.Context) error { return a.st.Close() })
	if opt.migrate {
		if _, err := a.st.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	if a.rd, err = store.OpenRedis(ctx, cfg.RedisURL, opt.redisPrefix); err != nil {
		return nil, err
	}
	a.parts.onStop("redis", func(context.Context) error { return a.rd.Close() })
	if a.spool, err = spool.Open(cfg.SpoolDir, log); err != nil {
		return nil, err
	}
	a.parts.onStop("spool", func(context.Context) error { return a.spool.Close() })
	wx, err := wxapi.New(wxapi.Config{
		AppID: cfg.WeChatAppID, AppSecret: cfg.WeChatAppSecret, BaseURL: cfg.WeChatAPIBase,
		Tokens: store.NewRedisTokens(a.rd.Client(), opt.redisPrefix), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	a.metrics = metrics.New(log)
	a.registerGauges()

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
	a.parts.run("knowledge reload", every(knowledgeReloadEvery, log, "knowledge reload", knowledge.reloader(a.st, log)))

	a.inbound = a.st.NewInboundBatcher(log)
	a.parts.onStop("push writer", func(context.Context) error { a.inbound.Close(); return nil })

	a.sender = outbox.New(outbox.Config{}, a.st, wx, a.metrics, log)
	a.parts.run("outbox sender", a.sender.Run)

	router := bot.NewRouter(knowledge, a.rd, log)
	deps := handlers.Deps{Knowledge: knowledge, Choices: a.rd, Prefs: a.st, Places: knowledge,
		Cases: caseSettings(cfg), Zone: reportZone(), Log: log}
	// Home visits: the visit desk's settings, and a scheduler writing the
	// reminders due and the directors' morning digest. A round claims its
	// reminders with SKIP LOCKED, so several serve processes write each
	// once; a full round is followed at once by another.
	deps.Visits = visitSettings(cfg)
	visitDesk := handlers.VisitDesk{Desk: deps.Desk(), Settings: deps.Visits}
	a.parts.run("visit scheduler", every(cfg.VisitSchedulerEvery, log, "visit scheduler", func(ctx context.Context) error {
		return visitRounds(ctx, a.st, visitDesk, a.sender.Wake, log)
	}))
	handlers.Register(router, deps)
	// The case clock: questions alerted in batches, escalations, reminders.
	// Its rounds lock the cases they touch, so several serve processes
	// share the work and write each message once.
	clock := handlers.Clock{Desk: deps.Desk()}
	a.parts.run("case clock", every(cfg.CaseClockEvery, log, "case clock", func(ctx context.Context) error {
		if err := a.st.WithCases(ctx, func(book bot.CaseClock) error { return clock.Tick(ctx, book) }); err != nil {
			return err
		}
		a.sender.Wake()
		return nil
	}))
	// Retention: texts past their time blanked, members who left erased.
	// One process does each round (an advisory lock); it logs counts only.
	retention := store.Retention{Messages: cfg.MessageRetention, Cases: cfg.CaseRetention, EraseAfter: cfg.MemberEraseAfter}
	a.parts.run("retention", every(cfg.RetentionEvery, log, "retention", func(ctx context.Context) error {
		p, err := a.st.Purge(ctx, retention, time.Now())
		if err == nil && p.Ran && (p.Messages+p.Replies+p.Cases+p.Members) > 0 {
			log.Info("retention purge", "messages", p.Messages, "replies", p.Replies, "cases", p.Cases, "members_erased", p.Members)
		}
		return err
	}))
	// Members' photos, voice and files on cases, copied before WeChat's
	// 3 days run out.
	fetcher := evidence.New(evidence.Config{}, a.st, wx, log)
	a.parts.run("evidence fetcher", every(evidenceFetchEvery, log, "evidence fetcher", func(ctx context.Context) error {
		_, err := fetcher.FetchDue(ctx)
		return err
	}))
	// Each member on their branch's WeChat tag, for broadcasts to a
	// branch. Its rounds lease the members they sync, so several serve
	// processes share the work and tag each member once.
	tags := tagsync.New(tagsync.Config{}, a.st, wx, log)
	a.parts.run("tag sync", every(cfg.TagSyncEvery, log, "tag sync", func(ctx context.Context) error {
		_, err := tags.Round(ctx)
		return err
	}))
	// Scheduled broadcasts, by branch tag within the monthly quota. A round
	// claims each due broadcast with SKIP LOCKED and a lease, and its sends
	// carry clientmsgids, so with several serve processes each goes once.
	broadcasts := broadcast.NewScheduler(broadcast.Config{
		Limit: cfg.BroadcastMonthlyLimit, Zone: cfg.TimeZone, TagSyncWait: cfg.TagSyncEvery,
	}, a.st, wx, log)
	a.parts.run("broadcast scheduler", every(cfg.BroadcastSchedulerEvery, log, "broadcast scheduler", func(ctx context.Context) error {
		_, err := broadcasts.Round(ctx)
		return err
	}))
	a.pipeline = bot.NewPipeline(bot.PipelineConfig{SweepGrace: cfg.SweepGrace},
		a.inbound, a.spool, router, a.metrics, a.sender.Wake, log)
	// Handling still running after its push was answered finishes before
	// the sender and the push writer it needs are stopped.
	a.parts.onStop("late handling", a.pipeline.Wait)
	a.parts.run("sweeper", every(cfg.SweepEvery, log, "sweeper", func(ctx context.Context) error {
		_, err := a.pipeline.Sweep(ctx)
		return err
	}))
	a.parts.run("spool replayer", every(cfg.SpoolReplayEvery, log, "spool replayer", func(ctx context.Context) error {
		if a.spool.Pending() == 0 {
			return nil
		}
		_, err := a.pipeline.ReplaySpool(ctx)
		return err
	}))

	webhook := wechat.NewWebhook(wechat.WebhookConfig{
		Token: cfg.WeChatToken, AppID: cfg.WeChatAppID, AESKey: cfg.WeChatAESKey,
	}, a.rd, a.pipeline, a.metrics, log)
	mux := http.NewServeMux()
	mux.Handle("/wechat", webhook)
	mux.Handle("GET /healthz", bot.Live())
	mux.Handle("GET /readyz", bot.Ready(bot.Readiness{
		Postgres: a.st, Spool: a.spool, Redis: a.rd, Draining: a.draining.Load,
	}))
	mux.Handle("GET /metrics", a.metrics.Handler())
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	a.parts.onStop("http server", func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-served
		return err
	})
	ok = true
	return a, nil
}

// registerGauges adds what operators watch at each scrape: how much the
// outbox has due and how old its oldest due row is, how many pushes wait
// in the spool, and how many kept pushes are not handled yet.
func (a *app) registerGauges() {
	a.metrics.Gauge("nuanjia_outbox_due", "Outbox rows due to be sent (pending or past their hold).",
		func(ctx context.Context) (float64, error) {
			st, err := a.st.OutboxStats(ctx)
			return float64(st.Due), err
		})
	a.metrics.Gauge("nuanjia_outbox_oldest_due_seconds", "Age of the oldest outbox row due to be sent.",
		func(ctx context.Context) (float64, error) {
			st, err := a.st.OutboxStats(ctx)
			return st.OldestDue.Seconds(), err
		})
	a.metrics.Gauge("nuanjia_outbox_failed", "Outbox rows given up on (see failed_reason).",
		func(ctx context.Context) (float64, error) {
			st, err := a.st.OutboxStats(ctx)
			return float64(st.Failed), err
		})
	a.metrics.Gauge("nuanjia_spool_pending", "Pushes waiting in the disk spool for PostgreSQL.",
		func(context.Context) (float64, error) { return float64(a.spool.Pending()), nil })
	a.metrics.Gauge("nuanjia_unhandled_pushes", "Kept pushes not handled yet.",
		func(ctx context.Context) (float64, error) {
			n, err := a.st.CountUnhandled(ctx)
			return float64(n), err
		})
}

// shutdown reports not-ready, then stops the parts in reverse order of
// starting under SHUTDOWN_TIMEOUT: the HTTP server first (no new pushes),
// then handling still under way, the background loops, the outbox sender,
// the push writer, and last the connections.
func (a *app) shutdown() error {
	a.draining.Store(true)
	if err := a.parts.stop(a.timeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// evidenceFetchEvery is how often the fetcher looks for media to copy: a
// director opening a case soon after wants the photo there.
const evidenceFetchEvery = 5 * time.Second

// caseSettings are the case desk's settings from the configuration.
func caseSettings(cfg config.Config) handlers.CaseSettings {
	return handlers.CaseSettings{
		AlertTemplate: cfg.CaseAlertTemplate, AlertFields: cfg.CaseAlertFields,
		UpdateTemplate: cfg.CaseUpdateTemplate, UpdateFields: cfg.CaseUpdateFields,
		AcceptSLA: cfg.CaseAcceptSLA, UrgentAcceptSLA: cfg.CaseUrgentAcceptSLA,
		ReplySLA: cfg.CaseReplySLA, QuestionBatch: cfg.CaseQuestionBatch,
	}
}
