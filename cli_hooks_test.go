package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestHookCommands adds an incoming hook with the CLI, posts through its URL on the served
// file, and disables and removes it with the server stopped.
func TestHookCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("botpass\n", "user", "add", "alertbot", "--role", "bot", "--password-stdin")
	c.fails(2, "needs --user and --channel", "", "hook", "add", "--user", "alertbot")
	c.fails(1, "no user named", "", "hook", "add", "--user", "nobody", "--channel", "#general")
	c.fails(1, "no such room", "", "hook", "add", "--user", "alertbot", "--channel", "#nosuch")
	c.fails(1, "loopback", "", "hook", "add", "--user", "alertbot", "--channel", "#general", "--outgoing", "http://127.0.0.1:9/x")
	c.fails(2, "takes 1 argument", "", "hook", "rm")
	c.fails(2, "unknown command", "", "hook", "frob")

	out := c.ok("", "hook", "add", "--user", "alertbot", "--channel", "#general", "--name", "alerts", "--base-url", "http://chat.lan:3000/")
	m := regexp.MustCompile(`http://chat\.lan:3000/hooks/([0-9A-Za-z]{17})/([0-9A-Za-z]{48})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("hook add printed %q", out)
	}
	id, token := m[1], m[2]
	list := c.ok("", "hook", "list")
	if !strings.Contains(list, id) || !strings.Contains(list, "incoming") || strings.Contains(list, token) {
		t.Fatalf("hook list: %q", list)
	}

	s := start(t, "--db", c.db)
	s.curl("POST", "/hooks/"+id+"/"+token, "", "", `{"text":"from the CLI's hook"}`, "application/json").want(t, 200, "")
	s.curl("POST", "/hooks/"+id+"/wrong", "", "", `{"text":"x"}`, "application/json").want(t, 404, "")
	s.stop()

	c.ok("", "hook", "disable", id)
	if list := c.ok("", "hook", "list"); !strings.Contains(list, "no") {
		t.Fatalf("after disable: %q", list)
	}
	s = start(t, "--db", c.db)
	s.curl("POST", "/hooks/"+id+"/"+token, "", "", `{"text":"x"}`, "application/json").want(t, 503, "")
	s.stop()
	c.ok("", "hook", "rm", id)
	if list := c.ok("", "hook", "list"); strings.Contains(list, id) {
		t.Fatalf("after rm: %q", list)
	}
	c.fails(1, "Integration not found", "", "hook", "enable", id)
}
