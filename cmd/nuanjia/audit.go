package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"nuanjia/bot"
	"nuanjia/store"
)

const auditUsage = "usage: nuanjia audit [--openid ID] [--actor ID] [--since DATE] [--limit N]"

// actorFlagUsage is the --actor flag of the commands that show a member's data.
const actorFlagUsage = "who is looking, for the audit log (default $USER)"

// maxActorName keeps an audit line on one screen line.
const maxActorName = 64

// auditLog prints the audit log, one look per line, oldest first: when
// (Beijing time), who, what, whose ("-" for a listing of many) and which part.
func auditLog(ctx context.Context, e env) error {
	fs := e.flags("audit")
	openID := fs.String("openid", "", "only looks at this member's data")
	actor := fs.String("actor", "", "only looks by this actor: a director's openid, or staff:NAME")
	sinceArg := fs.String("since", "", "only looks since a date (2026-12-01, Beijing time) or within a duration (720h)")
	limit := fs.Int("limit", 0, "only the latest N looks (0: all)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(auditUsage)
	}
	if *limit < 0 {
		return fmt.Errorf("--limit %d: want 0 or more", *limit)
	}
	zone := reportZone()
	since, err := parseSince(*sinceArg, time.Now(), zone)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.AuditLog(ctx, store.AuditQuery{Subject: *openID, Actor: *actor, Since: since, Limit: *limit})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range rows {
		subject := r.Subject
		if subject == "" {
			subject = "-"
		}
		fmt.Fprintf(&b, "%s %s %s %s", r.At.In(zone).Format(tableTimeLayout), r.Actor, r.What, subject)
		if r.Detail != "" {
			b.WriteString(" " + r.Detail)
		}
		b.WriteString("\n")
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// staffActor is who the command line records as looking: "staff:" and the
// --actor flag if given, else the login name in $USER, else
// "staff:unknown". A name that would break the audit's one line per look
// is refused.
func staffActor(e env, flagValue string) (string, error) {
	name, from := flagValue, "--actor"
	if name == "" {
		name, from = e.getenv("USER"), "$USER"
	}
	name = strings.TrimPrefix(strings.TrimSpace(name), bot.AuditStaffPrefix)
	switch {
	case name == "" && from == "--actor":
		return "", fmt.Errorf("--actor %q names nobody", flagValue)
	case name == "":
		return bot.AuditStaffPrefix + "unknown", nil
	}
	if len(name) > maxActorName || strings.ContainsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return "", fmt.Errorf("%s %q: want a name without spaces, at most %d bytes", from, name, maxActorName)
	}
	return bot.AuditStaffPrefix + name, nil
}

// staffStore opens the store for a staff command that is recorded: who
// runs it (staffActor) is settled first, so a bad --actor fails before
// the database is touched.
func staffStore(ctx context.Context, e env, actorFlag string) (*store.Store, string, error) {
	actor, err := staffActor(e, actorFlag)
	if err != nil {
		return nil, "", err
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return nil, "", err
	}
	return st, actor, nil
}
