package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/config"
	"nuanjia/store"
)

// migrate applies the embedded migrations.
func migrate(ctx context.Context, e env) error {
	if err := e.flags("migrate").Parse(e.args); err != nil {
		return err
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(e.stdout, "database is up to date")
	}
	for _, name := range applied {
		fmt.Fprintln(e.stdout, "applied", name)
	}
	return nil
}

// importKnowledge loads a knowledge-base YAML file: validated whole first,
// then upserted in one transaction, so a bad file changes nothing.
func importKnowledge(ctx context.Context, e env) error {
	fs := e.flags("import")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: nuanjia import FILE.yaml")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	kb, err := nlu.ParseKnowledge(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if err := nlu.Validate(kb); err != nil {
		return fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.ImportKnowledge(ctx, kb); err != nil {
		return fmt.Errorf("%s: nothing imported: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(e.stdout, "imported %d branches and %d FAQs from %s\n", len(kb.Branches), len(kb.FAQs), fs.Arg(0))
	return nil
}

// export prints a member's data-portability copy as one JSON object.
func export(ctx context.Context, e env) error {
	fs := e.flags("export")
	openID := fs.String("openid", "", "the member's openid")
	actorName := fs.String("actor", "", actorFlagUsage)
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if *openID == "" {
		return errors.New("usage: nuanjia export --openid ID [--actor NAME]")
	}
	st, actor, err := staffStore(ctx, e, *actorName)
	if err != nil {
		return err
	}
	defer st.Close()
	ex, found, err := st.ExportMember(ctx, *openID)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no member with openid %q", *openID)
	}
	// Recorded before anything is printed: a copy nobody audited is never shown.
	if err := st.Audit(ctx, bot.AuditEntry{Actor: actor, Subject: *openID, What: bot.AuditExport}); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(ex)
}

// openStore connects to the database DATABASE_URL names.
func openStore(ctx context.Context, e env) (*store.Store, error) {
	cfg, err := config.Load(e.getenv, config.NeedDatabase)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL)
}
