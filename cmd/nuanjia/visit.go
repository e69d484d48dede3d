package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"nuanjia/bot"
	"nuanjia/config"
	"nuanjia/handlers"
	"nuanjia/store"
)

const visitUsage = `usage: nuanjia visit add --member-no N --at "2026-12-05 15:00" [--purpose P] [--actor NAME]
       nuanjia visit list [--branch B] [--day 2026-12-05]
       nuanjia visit show --number N
       nuanjia visit cancel --number N`

// visitAtLayout is how staff write a visit's time, in TZ (Asia/Shanghai).
const visitAtLayout = "2006-01-02 15:04"

// maxVisitRounds bounds the rounds one scheduler tick runs back to back
// when reminders fall due faster than a round takes them.
const maxVisitRounds = 200

// visit books, lists and cancels home visits from the command line.
func visit(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return errors.New(visitUsage)
	}
	sub := e.args[0]
	e.args = e.args[1:]
	switch sub {
	case "add":
		return visitAdd(ctx, e)
	case "list":
		return visitList(ctx, e)
	case "show":
		return visitShow(ctx, e)
	case "cancel":
		return visitCancel(ctx, e)
	}
	return fmt.Errorf("unknown visit command %q\n%s", sub, visitUsage)
}

func visitAdd(ctx context.Context, e env) error {
	fs := e.flags("visit add")
	memberNo := fs.Int64("member-no", 0, "the member's number (会员号)")
	atArg := fs.String("at", "", `when, in TZ (default Asia/Shanghai): "2026-12-05 15:00"`)
	purpose := fs.String("purpose", "", "what the visit is for (default 上门访视)")
	actorName := fs.String("actor", "", "who books it, recorded as staff:NAME (default $USER)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if *memberNo <= 0 || *atArg == "" || fs.NArg() != 0 {
		return errors.New(visitUsage)
	}
	cfg, err := config.Load(e.getenv, config.NeedDatabase)
	if err != nil {
		return err
	}
	at, err := time.ParseInLocation(visitAtLayout, strings.TrimSpace(*atArg), cfg.TimeZone)
	if err != nil {
		return fmt.Errorf("--at %q: want a time like \"2026-12-05 15:00\"", *atArg)
	}
	st, actor, err := staffStore(ctx, e, *actorName)
	if err != nil {
		return err
	}
	defer st.Close()
	desk, err := staffVisitDesk(ctx, cfg, st)
	if err != nil {
		return err
	}
	var v bot.Visit
	var notice string
	err = st.WithVisits(ctx, func(book bot.VisitClock) error {
		var err error
		v, notice, err = desk.StaffBook(ctx, book, *memberNo, at, strings.TrimSpace(*purpose),
			strings.TrimPrefix(actor, bot.AuditStaffPrefix))
		return err
	})
	if err != nil {
		return fmt.Errorf("visit add: %w", err)
	}
	fmt.Fprintf(e.stdout, "booked visit %d: member %d, %s, %s, %s; %s\n", v.Number, v.MemberNo,
		v.At.In(cfg.TimeZone).Format(visitAtLayout), v.BranchID, v.Purpose, notice)
	return printReminders(ctx, e, st, v.Number, cfg.TimeZone)
}

// printReminders prints a visit's reminders, with what became of each one
// sent: the outbox's status and WeChat's report on a template.
func printReminders(ctx context.Context, e env, st *store.Store, number int64, zone *time.Location) error {
	rs, err := st.VisitReminders(ctx, number)
	if err != nil {
		return err
	}
	for _, r := range rs {
		line := fmt.Sprintf("reminder %s at %s: %s", r.Offset, r.Due.In(zone).Format(visitAtLayout), r.Status)
		if r.Reason != "" {
			line += " (" + r.Reason + ")"
		}
		if r.Delivery != "" {
			line += ", delivery " + r.Delivery
		}
		if r.Report != "" {
			line += ", WeChat: " + r.Report
		}
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}

// visitShow prints one visit's reminders and their delivery.
func visitShow(ctx context.Context, e env) error {
	number, err := visitNumberArg(e, "show")
	if err != nil {
		return err
	}
	cfg, st, err := openVisitStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	return printReminders(ctx, e, st, number, cfg.TimeZone)
}

func visitList(ctx context.Context, e env) error {
	fs := e.flags("visit list")
	branch := fs.String("branch", "", "only this branch's visits")
	day := fs.String("day", "", "only this day's visits (2026-12-05); default: open visits from today on")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(visitUsage)
	}
	cfg, st, err := openVisitStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	var q bot.VisitQuery
	if *day != "" {
		d, err := time.ParseInLocation(time.DateOnly, *day, cfg.TimeZone)
		if err != nil {
			return fmt.Errorf("--day %q: want a date like 2026-12-05", *day)
		}
		q.From, q.To = d, d.AddDate(0, 0, 1)
	} else {
		now := time.Now().In(cfg.TimeZone)
		q.From = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cfg.TimeZone)
		q.Statuses = []string{bot.VisitRequested, bot.VisitConfirmed}
	}
	if *branch != "" {
		q.Branches = []string{*branch}
	}
	vs, err := st.ListVisits(ctx, q)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "number\tat\tstatus\tbranch\tmember\tpurpose\tbooked by")
	for _, v := range vs {
		booked := v.BookedBy
		if booked != bot.BookedByMember && !strings.HasPrefix(booked, bot.AuditStaffPrefix) {
			booked = "director " + booked
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Number, v.At.In(cfg.TimeZone).Format(visitAtLayout),
			v.Status, v.BranchID, memberNoCell(v.MemberNo), v.Purpose, booked)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d visits\n", len(vs))
	return nil
}

func visitCancel(ctx context.Context, e env) error {
	number, err := visitNumberArg(e, "cancel")
	if err != nil {
		return err
	}
	cfg, st, err := openVisitStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	desk, err := staffVisitDesk(ctx, cfg, st)
	if err != nil {
		return err
	}
	var notice string
	err = st.WithVisits(ctx, func(book bot.VisitClock) error {
		var err error
		_, notice, err = desk.StaffCancel(ctx, book, number)
		return err
	})
	if err != nil {
		return fmt.Errorf("visit cancel: %w", err)
	}
	fmt.Fprintf(e.stdout, "cancelled visit %d and its reminders; %s\n", number, notice)
	return nil
}

// visitNumberArg reads the --number of visit show and visit cancel.
func visitNumberArg(e env, sub string) (int64, error) {
	fs := e.flags("visit " + sub)
	number := fs.Int64("number", 0, "the visit's number (5001…)")
	if err := fs.Parse(e.args); err != nil {
		return 0, err
	}
	if *number <= 0 || fs.NArg() != 0 {
		return 0, errors.New(visitUsage)
	}
	return *number, nil
}

// openVisitStore reads the settings the visit commands need and opens the
// store.
func openVisitStore(ctx context.Context, e env) (config.Config, *store.Store, error) {
	cfg, err := config.Load(e.getenv, config.NeedDatabase)
	if err != nil {
		return cfg, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	return cfg, st, err
}

// staffVisitDesk is the visit desk over the stored knowledge base, for
// the command line.
func staffVisitDesk(ctx context.Context, cfg config.Config, st *store.Store) (handlers.VisitDesk, error) {
	kb, err := st.LoadKnowledge(ctx)
	if err != nil {
		return handlers.VisitDesk{}, err
	}
	desk := handlers.Desk{Knowledge: storedKnowledge{kb: kb}, Settings: caseSettings(cfg), Zone: cfg.TimeZone}
	return handlers.VisitDesk{Desk: desk, Settings: visitSettings(cfg)}, nil
}

// visitSettings are the visits' settings from the configuration.
func visitSettings(cfg config.Config) handlers.VisitSettings {
	return handlers.VisitSettings{
		Reminders: bot.ReminderPlan{Offsets: cfg.VisitReminders, QuietFrom: cfg.VisitQuietFrom,
			QuietTo: cfg.VisitQuietTo, Zone: cfg.TimeZone},
		Template: cfg.VisitReminderTemplate, Fields: cfg.VisitReminderFields,
	}
}

// visitRounds runs scheduler rounds at now until one is not full, each in
// its own transaction, and wakes the sender after each.
func visitRounds(ctx context.Context, st *store.Store, desk handlers.VisitDesk, wake func(), log *slog.Logger) error {
	for range maxVisitRounds {
		var res handlers.RoundResult
		err := st.WithVisits(ctx, func(book bot.VisitClock) error {
			var err error
			res, err = desk.Round(ctx, book, time.Now())
			return err
		})
		if err != nil {
			return err
		}
		if res.Reminders+res.Skipped+res.Digests+res.Missed > 0 {
			wake()
			log.Info("visit scheduler round", "reminders", res.Reminders, "skipped", res.Skipped, "digests", res.Digests, "missed", res.Missed)
		}
		if !res.Full {
			return nil
		}
	}
	return nil
}

// storedKnowledge is the stored knowledge base as the visit desk reads
// it: branches and their directors.
type storedKnowledge struct{ kb bot.Knowledge }

func (k storedKnowledge) Branch(id string) (bot.Branch, bool) {
	for _, b := range k.kb.Branches {
		if b.ID == id {
			return b, true
		}
	}
	return bot.Branch{}, false
}

func (k storedKnowledge) FAQ(id string) (bot.FAQ, bool) {
	for _, f := range k.kb.FAQs {
		if f.ID == id {
			return f, true
		}
	}
	return bot.FAQ{}, false
}

// Nearest is never needed by the command line: staff name the member.
func (k storedKnowledge) Nearest(float64, float64) (bot.Branch, float64, bool) {
	return bot.Branch{}, 0, false
}

func (k storedKnowledge) Knowledge() bot.Knowledge { return k.kb }
