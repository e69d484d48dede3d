// Command nuanjia is the association's WeChat bot: one binary whose
// subcommands serve the webhook, migrate and fill the database, export a
// member's data, and talk to a running server for demos and benchmarks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: nuanjia <command> [flags]

commands:
  serve      run the webhook (--migrate, --fake-wechat ADDR)
  migrate    apply database migrations
  import     load a knowledge-base YAML file (branches and FAQs)
  export     print everything held about one member (--openid ID, --actor NAME)
  member     member erase --openid ID --reason TEXT: erase a member's personal data
  cases      list cases for the monthly report (--status, --branch, --since, --csv, --actor; --summary)
  audit      print who was shown members' data (--openid, --actor, --since, --limit)
  visit      book, list or cancel home visits (add --member-no N --at "2026-12-05 15:00" --purpose P; list [--branch] [--day]; cancel --number N)
  director   add, remove or list directors (add --openid ID --branch B [--county]; remove --openid ID [--branch B]; list)
  broadcast  schedule policy broadcasts (add --at TIME [--branch ID ...] [--every CRON] [--preview-to OPENID] --text T | --file F; list; show ID; cancel ID)
  classify   read messages from stdin, print what the bot understood
  train      build the intent and urgency models from the labelled sets and the knowledge base
  menu       print (show) or send (push) the account's menu (--kb FILE)
  say        post a signed message to a running server, print the reply
  bench      load-test the webhook against a floor handler

Settings come from the environment; see README.md.`

// env is what a subcommand gets from the process: no globals.
type env struct {
	args   []string
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := env{
		args: os.Args[1:], getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if err := run(ctx, e); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "nuanjia:", err)
		}
		os.Exit(1)
	}
}

// run dispatches to a subcommand.
func run(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, usage)
		return errors.New("no command")
	}
	cmd, rest := e.args[0], e.args[1:]
	e.args = rest
	switch cmd {
	case "serve":
		return serve(ctx, e)
	case "migrate":
		return migrate(ctx, e)
	case "import":
		return importKnowledge(ctx, e)
	case "export":
		return export(ctx, e)
	case "cases":
		return reportCases(ctx, e)
	case "member":
		return member(ctx, e)
	case "audit":
		return auditLog(ctx, e)
	case "director":
		return director(ctx, e)
	case "broadcast":
		return broadcastCommand(ctx, e)
	case "visit":
		return visit(ctx, e)
	case "classify":
		return classify(ctx, e)
	case "train":
		return train(ctx, e)
	case "menu":
		return menuCommand(ctx, e)
	case "say":
		return say(ctx, e)
	case "bench":
		return bench(ctx, e)
	case "help", "-h", "--help":
		fmt.Fprintln(e.stdout, usage)
		return nil
	}
	fmt.Fprintln(e.stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// flags returns a FlagSet that prints its errors and usage to stderr.
func (e env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}
