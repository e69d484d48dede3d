package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"nuanjia/bot"
	"nuanjia/store"
)

const directorUsage = `usage: nuanjia director add --openid ID --branch B [--county] [--name N] [--phone P] [--actor NAME]
       nuanjia director remove --openid ID [--branch B]
       nuanjia director list`

// director manages directors from the command line. Those it adds stay
// across imports of the knowledge base; a running serve picks every
// change up within its reload interval.
func director(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return errors.New(directorUsage)
	}
	sub := e.args[0]
	e.args = e.args[1:]
	switch sub {
	case "add":
		return directorAdd(ctx, e)
	case "remove":
		return directorRemove(ctx, e)
	case "list":
		return directorList(ctx, e)
	}
	return fmt.Errorf("unknown director command %q\n%s", sub, directorUsage)
}

func directorAdd(ctx context.Context, e env) error {
	fs := e.flags("director add")
	var d store.DirectorRow
	fs.StringVar(&d.OpenID, "openid", "", "the director's openid")
	fs.StringVar(&d.BranchID, "branch", "", "the branch id (as in the knowledge base)")
	fs.BoolVar(&d.County, "county", false, "county director: acts on every branch's cases")
	fs.StringVar(&d.Name, "name", "", "the name members and directors read (kept when not given again)")
	fs.StringVar(&d.Phone, "phone", "", "the director's phone (kept when not given again)")
	actorName := fs.String("actor", "", "who is adding the director, as staff:NAME in the list (default $USER)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if strings.TrimSpace(d.OpenID) == "" || strings.TrimSpace(d.BranchID) == "" || fs.NArg() != 0 {
		return errors.New(directorUsage)
	}
	st, actor, err := staffStore(ctx, e, *actorName)
	if err != nil {
		return err
	}
	defer st.Close()
	d.AddedBy = actor
	created, err := st.AddDirector(ctx, d)
	if err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "added"
	}
	fmt.Fprintf(e.stdout, "%s %s as %s director of %s\n", verb, strings.TrimSpace(d.OpenID), roleWord(d.County || strings.TrimSpace(d.BranchID) == bot.CountyBranchID), strings.TrimSpace(d.BranchID))
	return nil
}

func directorRemove(ctx context.Context, e env) error {
	fs := e.flags("director remove")
	openID := fs.String("openid", "", "the director's openid")
	branch := fs.String("branch", "", "only this branch (default: every branch)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if strings.TrimSpace(*openID) == "" || fs.NArg() != 0 {
		return errors.New(directorUsage)
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RemoveDirector(ctx, *openID, *branch)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s is no director%s", strings.TrimSpace(*openID), onBranch(*branch))
	}
	fmt.Fprintf(e.stdout, "removed %s from %d branch(es)%s\n", strings.TrimSpace(*openID), n, onBranch(*branch))
	fmt.Fprintln(e.stdout, "a director the knowledge-base file lists comes back with its next import: remove them from the file too")
	return nil
}

func directorList(ctx context.Context, e env) error {
	fs := e.flags("director list")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(directorUsage)
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.ListDirectors(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BRANCH\tNAME\tOPENID\tROLE\tSOURCE")
	for _, r := range rows {
		name := r.Name
		if name == "" {
			name = "-"
		}
		source := r.Source
		if r.AddedBy != "" {
			source += " (" + r.AddedBy + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.BranchID, name, r.OpenID, roleWord(r.County || r.BranchID == bot.CountyBranchID), source)
	}
	return w.Flush()
}

// roleWord is a director's reach as the CLI prints it: the county
// association's directors act on every branch whatever their flag says.
func roleWord(county bool) string {
	if county {
		return "county"
	}
	return "branch"
}

func onBranch(branch string) string {
	if strings.TrimSpace(branch) == "" {
		return ""
	}
	return " on " + strings.TrimSpace(branch)
}
