package main

// rocketlite hook add|list|rm|enable|disable: webhooks on the file of a stopped server, for the
// operator who wires an alert before the first admin ever logs in. A running server manages
// them through /api/v1/integrations.*.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"rocketlite/hooks"
	"rocketlite/store"

	"github.com/rs/zerolog"
)

const hookUsage = `Usage:
  rocketlite hook add --user USER --channel "#room[,@user,…]" [--name N] [--alias A] [--emoji E]
                      [--base-url URL] [--outgoing URL --trigger WORD,…] [--allow-private]
  rocketlite hook list
  rocketlite hook rm ID
  rocketlite hook enable ID
  rocketlite hook disable ID

An incoming hook (the default) prints its URL once: only a hash of its token is kept. With
--outgoing URL, the hook POSTs new messages of the channels to URL instead. Every command
takes --db FILE (env ROCKETLITE_DB) and works while no server holds the file; with a server
running, use POST /api/v1/integrations.create and the other integrations.* routes.
`

func hookCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := runHookCmd(args, getenv, stdout, stderr)
	var u usageError
	if err == nil || errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	fmt.Fprintln(stderr, "rocketlite:", err)
	return errReported
}

func runHookCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, hookUsage)
			return nil
		}
		fmt.Fprint(stderr, hookUsage)
		return usageError{"rocketlite hook needs a subcommand: add, list, rm, enable or disable"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("rocketlite hook "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Flags of rocketlite hook %s (each also read from its environment variable; a flag wins):\n", sub)
		printFlags(stderr, fs)
		fmt.Fprint(stderr, "\n", hookUsage)
	}
	db := fs.String("db", "rocketlite.db", "database file")
	var user, channel, name, alias, emoji, baseURL, outgoing, trigger string
	var allowPrivate bool
	if sub == "add" {
		fs.StringVar(&user, "user", "", "the user the hook posts as (username)")
		fs.StringVar(&channel, "channel", "", "rooms, comma-separated: #name, @username or a room id")
		fs.StringVar(&name, "name", "", "a name to recognise the hook by")
		fs.StringVar(&alias, "alias", "", "name shown on the hook's messages instead of the user's")
		fs.StringVar(&emoji, "emoji", "", "emoji shown as the avatar of the hook's messages, e.g. :bell:")
		fs.StringVar(&baseURL, "base-url", "http://localhost:3000", "the server's address as callers reach it, for the printed URL")
		fs.StringVar(&outgoing, "outgoing", "", "make an outgoing hook that POSTs new messages to this URL")
		fs.StringVar(&trigger, "trigger", "", "outgoing: only messages starting with one of these words, comma-separated")
		fs.BoolVar(&allowPrivate, "allow-private", false, "outgoing: allow a loopback or private address")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if _, err := envFallback(fs, getenv); err != nil {
		return err
	}
	wantArgs := map[string]int{"add": 0, "list": 0, "rm": 1, "enable": 1, "disable": 1}
	n, ok := wantArgs[sub]
	if !ok {
		fmt.Fprint(stderr, hookUsage)
		return usageError{fmt.Sprintf("unknown command %q", "rocketlite hook "+sub)}
	}
	if len(pos) != n {
		return usageError{fmt.Sprintf("rocketlite hook %s takes %d argument(s), got %d (the database is --db FILE)", sub, n, len(pos))}
	}
	if sub == "list" && !isPostgres(*db) {
		if _, err := os.Stat(*db); err != nil {
			return fmt.Errorf("no database at %s (--db or ROCKETLITE_DB names it)", *db)
		}
	}
	var st store.Store
	if isPostgres(*db) {
		st, err = openPostgres(context.Background(), *db, store.Options{}, zerolog.Nop())
	} else {
		st, err = store.Open(*db, store.Options{LockTimeout: cliLockTimeout, ReadOnly: sub == "list"})
	}
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%s is in use by another process (a running rocketlite server?): stop it, or use the server's /api/v1/integrations.* routes", *db)
	}
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
	case "list":
		list, err := st.Integrations(nil)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tNAME\tUSER\tCHANNELS\tENABLED")
		for _, in := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, strings.TrimPrefix(in.Type, "webhook-"),
				orDash(in.Name), in.Username, strings.Join(in.Channels, ","), yesNo(in.Enabled))
		}
		return tw.Flush()
	case "rm":
		if _, err := st.RemoveIntegration(pos[0], nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed hook %s\n", pos[0])
		return nil
	case "enable", "disable":
		if _, err := st.UpdateIntegration(pos[0], func(in *store.Integration) error {
			in.Enabled = sub == "enable"
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "hook %s %sd\n", pos[0], sub)
		return nil
	}

	// add
	if user == "" || channel == "" {
		return usageError{"rocketlite hook add needs --user and --channel"}
	}
	u, err := st.UserByUsername(user)
	if err != nil {
		return fmt.Errorf("no user named %q", user)
	}
	in := &store.Integration{Type: store.IncomingWebhook, Name: name, Enabled: true, UserID: u.ID,
		Alias: alias, Emoji: emoji, CreatedBy: u.Ref()}
	for _, ch := range strings.Split(channel, ",") {
		ch = strings.TrimSpace(ch)
		if ch == "" {
			continue
		}
		if strings.HasPrefix(ch, "#") {
			if _, err := st.RoomByName(ch[1:]); err != nil {
				return fmt.Errorf("channel %s: no such room", ch)
			}
		}
		in.Channels = append(in.Channels, ch)
	}
	if len(in.Channels) == 0 {
		return usageError{"--channel names no room"}
	}
	var token string
	if outgoing != "" {
		if err := hooks.CheckURL(outgoing, allowPrivate); err != nil {
			return err
		}
		in.Type, in.Event, in.URLs, in.Token = store.OutgoingWebhook, "sendMessage", []string{outgoing}, store.NewSecret()
		for _, w := range strings.Split(trigger, ",") {
			if w = strings.TrimSpace(w); w != "" {
				in.TriggerWords = append(in.TriggerWords, w)
			}
		}
	} else {
		token = store.NewSecret()
		in.TokenHash = store.HookTokenHash(token)
	}
	if err := st.CreateIntegration(in); err != nil {
		return err
	}
	if token == "" {
		fmt.Fprintf(stdout, "outgoing hook %s: new messages of %s go to %s with token %s\n", in.ID, channel, outgoing, in.Token)
		return nil
	}
	fmt.Fprintf(stdout, "incoming hook %s posts as %s to %s. Its URL (shown only now):\n%s/hooks/%s/%s\n",
		in.ID, u.Username, channel, strings.TrimRight(baseURL, "/"), in.ID, token)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
