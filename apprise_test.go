package main

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestApprise drives Debian's apprise against the server, in both of its Rocket.Chat modes:
// rocket://user:password@host:port/#room (REST login and chat.postMessage) and
// rocket://id/token@host:port/#room and …/@user (an incoming webhook, to a room and as a
// direct message); REST then reads what it posted.
func TestApprise(t *testing.T) {
	apprise := needTool(t, "apprise", "apprise")
	s := start(t, "--db", t.TempDir()+"/a.db", "--admin-password", "adminpass")
	host := strings.TrimPrefix(s.base, "http://")
	login := s.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"adminpass"}`, "application/json")
	login.want(t, 200, "")
	data := login.obj["data"].(map[string]any)
	uid, tok := data["userId"].(string), data["authToken"].(string)
	s.curl("POST", "/api/v1/users.create", uid, tok, `{"username":"alerts","name":"Alerts","email":"alerts@example.org","password":"alerts-pass","roles":["bot"]}`, "application/json").want(t, 200, "")
	hook := s.curl("POST", "/api/v1/integrations.create", uid, tok, `{"type":"webhook-incoming","name":"apprise","enabled":true,"username":"alerts","channel":"#general","scriptEnabled":false}`, "application/json")
	hook.want(t, 200, "")
	in := hook.obj["integration"].(map[string]any)
	id, token := in["_id"].(string), in["token"].(string)

	run := func(body, target string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a hang guard
		defer cancel()
		out, err := exec.CommandContext(ctx, apprise, "-vv", "-b", body, target).CombinedOutput()
		if err != nil {
			t.Fatalf("apprise %s: %v\n%s", strings.Replace(target, token, "TOKEN", 1), err, out)
		}
	}
	lastText := func() string {
		t.Helper()
		h := s.curl("GET", "/api/v1/channels.history?roomName=general&count=1", uid, tok, "", "")
		h.want(t, 200, "")
		msgs := h.obj["messages"].([]any)
		m := msgs[0].(map[string]any)
		return m["msg"].(string) + " by " + m["u"].(map[string]any)["username"].(string)
	}

	run("disk full on pi-1", "rocket://alerts:"+url.QueryEscape("alerts-pass")+"@"+host+"/#general")
	if got := lastText(); got != "disk full on pi-1 by alerts" {
		t.Fatalf("basic mode: %q", got)
	}
	run("temperature high", "rocket://"+id+"/"+token+"@"+host+"/#general")
	if got := lastText(); got != "temperature high by alerts" {
		t.Fatalf("webhook mode: %q", got)
	}
	// @user: a direct message from the hook's user to admin.
	run("you have mail", "rocket://"+id+"/"+token+"@"+host+"/@admin")
	dm := s.curl("GET", "/api/v1/im.messages?username=alerts&count=1", uid, tok, "", "")
	dm.want(t, 200, "")
	if msgs := dm.obj["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["msg"] != "you have mail" {
		t.Fatalf("webhook mode, @user: %s", dm.raw)
	}
	// The hook's own channel when apprise names none.
	run("no target given", "rocket://"+id+"/"+token+"@"+host)
	if got := lastText(); got != "no target given by alerts" {
		t.Fatalf("webhook mode, default channel: %q", got)
	}
}
