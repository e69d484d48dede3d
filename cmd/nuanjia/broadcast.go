package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"nuanjia/bot/broadcast"
	"nuanjia/config"
	"nuanjia/store"
)

const broadcastUsage = `usage: nuanjia broadcast add --at TIME [--branch ID ...] [--every CRON] [--preview-to OPENID] (--text TEXT | --file FILE) [--actor NAME]
       nuanjia broadcast list [--limit N]
       nuanjia broadcast show ID
       nuanjia broadcast cancel ID

TIME is "2026-12-05 09:00" in the bot's time zone (TZ, default Asia/Shanghai).
No --branch: every branch's members. CRON is minute hour day month weekday, such as "0 9 1 * *".`

// broadcast schedules policy broadcasts and shows how they went; a running
// serve sends them when due.
func broadcastCommand(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return errors.New(broadcastUsage)
	}
	sub := e.args[0]
	e.args = e.args[1:]
	switch sub {
	case "add":
		return broadcastAdd(ctx, e)
	case "list":
		return broadcastList(ctx, e)
	case "show":
		return broadcastShow(ctx, e)
	case "cancel":
		return broadcastCancel(ctx, e)
	}
	return fmt.Errorf("unknown broadcast command %q\n%s", sub, broadcastUsage)
}

// parseAt reads --at: a local time in zone, or RFC 3339 with its offset.
func parseAt(raw string, zone *time.Location) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(l, raw, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want a time such as 2026-12-05 09:00", raw)
}

// openIDForm is the form of a WeChat openid (28 characters in practice;
// test ids are shorter).
const openIDForm = `^[0-9A-Za-z_-]{3,64}$`

// pastGrace lets --at be a moment ago ("now", typed slowly); anything
// older is a mistake, since nothing is ever sent late on purpose.
const pastGrace = 5 * time.Minute

func broadcastAdd(ctx context.Context, e env) error {
	fs := e.flags("broadcast add")
	at := fs.String("at", "", "when it goes out, such as 2026-12-05 09:00 (bot's time zone)")
	var branches []string
	fs.Func("branch", "a branch id whose members it is for (repeat for several; none: every branch)", func(v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			return errors.New("empty branch id")
		}
		branches = append(branches, v)
		return nil
	})
	every := fs.String("every", "", "repeat on this cron expression (minute hour day month weekday)")
	previewTo := fs.String("preview-to", "", "an openid that gets WeChat's preview first")
	text := fs.String("text", "", "the message")
	file := fs.String("file", "", "a file holding the message")
	actorName := fs.String("actor", "", "who schedules it (default $USER)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *at == "" {
		return errors.New(broadcastUsage)
	}
	cfg, err := config.Load(e.getenv, config.NeedDatabase)
	if err != nil {
		return err
	}
	zone := cfg.TimeZone
	b := broadcast.Broadcast{Every: strings.TrimSpace(*every), PreviewTo: strings.TrimSpace(*previewTo)}
	if b.At, err = parseAt(*at, zone); err != nil {
		return err
	}
	if time.Since(b.At) > pastGrace {
		return fmt.Errorf("--at %s is in the past", b.At.In(zone).Format("2006-01-02 15:04"))
	}
	if b.Every != "" {
		if _, err := broadcast.ParseEvery(b.Every); err != nil {
			return fmt.Errorf("--every %q: want a cron expression such as \"0 9 1 * *\" (minute hour day month weekday)", b.Every)
		}
	}
	if b.PreviewTo != "" && !regexp.MustCompile(openIDForm).MatchString(b.PreviewTo) {
		return fmt.Errorf("--preview-to %q: want an openid", b.PreviewTo)
	}
	switch {
	case *text != "" && *file != "":
		return errors.New("give --text or --file, not both")
	case *file != "":
		data, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		b.Text = string(data)
	default:
		b.Text = *text
	}
	if b.Text, err = broadcast.CheckText(b.Text); err != nil {
		return err
	}
	b.Branches = dedupe(branches)

	st, actor, err := staffStore(ctx, e, *actorName)
	if err != nil {
		return err
	}
	defer st.Close()
	b.CreatedBy = actor
	months := broadcast.Months(b, zone)
	id, err := st.AddBroadcast(ctx, b, months, func(q broadcast.QuotaState) error {
		return broadcast.CheckQuota(b, cfg.BroadcastMonthlyLimit, months, q, zone)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "broadcast %d scheduled for %s to %s\n", id, b.At.In(zone).Format("2006-01-02 15:04"), audienceWords(b.Branches))
	if b.Every != "" {
		next, _ := broadcast.Next(b.Every, b.At, b.At, zone)
		fmt.Fprintf(e.stdout, "then every %q; next after it %s\n", b.Every, next.In(zone).Format("2006-01-02 15:04"))
	}
	return nil
}

func dedupe(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func audienceWords(branches []string) string {
	if len(branches) == 0 {
		return "every branch"
	}
	return strings.Join(branches, ",")
}

// broadcastStore opens the store with the zone times are shown in.
func broadcastStore(ctx context.Context, e env) (*store.Store, *time.Location, error) {
	cfg, err := config.Load(e.getenv, config.NeedDatabase)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	return st, cfg.TimeZone, err
}

func broadcastList(ctx context.Context, e env) error {
	fs := e.flags("broadcast list")
	limit := fs.Int("limit", 50, "the most broadcasts shown, latest first")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *limit <= 0 {
		return errors.New(broadcastUsage)
	}
	st, zone, err := broadcastStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListBroadcasts(ctx, *limit)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tAT\tSTATUS\tTO\tEVERY\tTOTAL\tFILTERED\tSENT\tERRORS\tTEXT")
	for _, b := range list {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.At.In(zone).Format("2006-01-02 15:04"), b.Status,
			audienceWords(b.Branches), dash(b.Every), figure(b, b.Totals.Total), figure(b, b.Totals.Filtered),
			figure(b, b.Totals.Sent), figure(b, b.Totals.Errors), snippet(b.Text, 16))
	}
	return w.Flush()
}

// figure is one of WeChat's figures, "-" until a report has come.
func figure(b broadcast.Broadcast, n int) string {
	if b.Totals.Reports == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// snippet is the text's first n characters on one line.
func snippet(text string, n int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	return string([]rune(text)[:n]) + "…"
}

// broadcastID reads the one ID argument.
func broadcastID(fs *flag.FlagSet) (int64, error) {
	if fs.NArg() != 1 {
		return 0, errors.New(broadcastUsage)
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a broadcast id (see broadcast list)", fs.Arg(0))
	}
	return id, nil
}

func broadcastShow(ctx context.Context, e env) error {
	fs := e.flags("broadcast show")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	id, err := broadcastID(fs)
	if err != nil {
		return err
	}
	st, zone, err := broadcastStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	b, err := st.Broadcast(ctx, id)
	if errors.Is(err, store.ErrNoBroadcast) {
		return fmt.Errorf("no broadcast %d", id)
	}
	if err != nil {
		return err
	}
	out := e.stdout
	fmt.Fprintf(out, "broadcast %d: %s\n", b.ID, b.Status)
	fmt.Fprintf(out, "at:         %s\n", b.At.In(zone).Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "to:         %s\n", audienceWords(b.Branches))
	if b.Every != "" {
		fmt.Fprintf(out, "every:      %s (series of broadcast %d)\n", b.Every, b.SeriesID)
	}
	if b.PreviewTo != "" {
		fmt.Fprintf(out, "preview to: %s%s\n", b.PreviewTo, suffix(" — not sent: ", b.PreviewError))
	}
	if b.SkipReason != "" {
		fmt.Fprintf(out, "skipped:    %s\n", b.SkipReason)
	}
	fmt.Fprintf(out, "by:         %s, %s\n", b.CreatedBy, b.CreatedAt.In(zone).Format("2006-01-02 15:04"))
	if len(b.Sends) > 0 {
		fmt.Fprintln(out, "sends:")
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  BRANCH\tTAG\tCLIENTMSGID\tMSG_ID\tTOTAL\tFILTERED\tSENT\tERRORS\tPROBLEM")
		for _, sd := range b.Sends {
			msgID := "-"
			if sd.MsgID != 0 {
				msgID = strconv.FormatInt(sd.MsgID, 10)
			}
			one := broadcast.Broadcast{Totals: sd.Totals}
			fmt.Fprintf(w, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sd.BranchID, sd.TagID, sd.ClientMsgID, msgID,
				figure(one, sd.Totals.Total), figure(one, sd.Totals.Filtered), figure(one, sd.Totals.Sent), figure(one, sd.Totals.Errors), dash(sd.Error))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "text:\n%s\n", b.Text)
	return nil
}

func suffix(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func broadcastCancel(ctx context.Context, e env) error {
	fs := e.flags("broadcast cancel")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	id, err := broadcastID(fs)
	if err != nil {
		return err
	}
	st, _, err := broadcastStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.CancelBroadcast(ctx, id)
	if errors.Is(err, store.ErrNoBroadcast) {
		return fmt.Errorf("no broadcast %d", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "broadcast %d cancelled\n", id)
	return nil
}
