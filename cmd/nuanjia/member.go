package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// member runs the staff's member commands: today, erase.
func member(ctx context.Context, e env) error {
	if len(e.args) == 0 || e.args[0] != "erase" {
		return errors.New("usage: nuanjia member erase --openid ID --reason TEXT [--actor NAME]")
	}
	fs := e.flags("member erase")
	openID := fs.String("openid", "", "the member's openid")
	reason := fs.String("reason", "", "why (recorded in the audit log), e.g. \"asked by phone 12-04\"")
	actorName := fs.String("actor", "", actorFlagUsage)
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	if *openID == "" || strings.TrimSpace(*reason) == "" {
		return errors.New("usage: nuanjia member erase --openid ID --reason TEXT [--actor NAME]")
	}
	st, actor, err := staffStore(ctx, e, *actorName)
	if err != nil {
		return err
	}
	defer st.Close()
	er, found, err := st.EraseMember(ctx, *openID, actor, strings.TrimSpace(*reason))
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no member with openid %q", *openID)
	}
	fmt.Fprintf(e.stdout, "erased %s: %d messages, %d sent to them, %d pending cancelled, %d evidence files; %d cases kept without the link\n",
		*openID, er.Messages, er.Sent, er.Cancelled, er.Evidence, er.Cases)
	return nil
}
