package handlers

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"rocketlite/store"
)

// newIncomingHook creates an incoming hook through integrations.create and returns its id and
// token (from the one answer that shows the token).
func (ts *testServer) newIncomingHook(t *testing.T, c *creds, body string) (id, token string) {
	t.Helper()
	res := ts.do("POST", "/api/v1/integrations.create", c, body)
	res.want(t, 200, map[string]any{"success": true})
	in := res.Obj["integration"].(map[string]any)
	id, token = in["_id"].(string), in["token"].(string)
	if u, _ := res.Obj["url"].(string); !strings.HasSuffix(u, "/hooks/"+id+"/"+token) {
		t.Fatalf("url %q", u)
	}
	for _, s := range []string{id, token} {
		for _, r := range s {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				t.Fatalf("id and token must be letters and digits only: %q", s)
			}
		}
	}
	return id, token
}

func (ts *testServer) hookLastMessage(t *testing.T, rid string) *store.Message {
	t.Helper()
	admin, err := ts.st.UserByUsername("admin")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ts.st.History(rid, admin, store.HistoryQuery{Count: 1})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("history of %s: %v %v", rid, msgs, err)
	}
	return msgs[0]
}

func TestIncomingHookPosts(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("alertbot", "botpass", "bot")
	id, token := ts.newIncomingHook(t, &ts.admin, `{"type":"webhook-incoming","name":"alerts","enabled":true,"username":"alertbot","channel":"#general","scriptEnabled":false,"alias":"Monitor"}`)
	path := "/hooks/" + id + "/" + token

	cases := []struct{ name, ct, body, want string }{
		{"JSON", "application/json", `{"text":"disk full on pi-1"}`, "disk full on pi-1"},
		{"MsgField", "application/json", `{"msg":"from msg"}`, "from msg"},
		{"FormPayload", "application/x-www-form-urlencoded", "payload=" + url.QueryEscape(`{"text":"a & b + c"}`), "a & b + c"},
		// Ansible sends the payload field unencoded.
		{"FormPayloadRaw", "application/x-www-form-urlencoded", `payload={"text":"100% & more"}`, "100% & more"},
		{"SlackNames", "application/json", `{"text":"slack","username":"Nagios","icon_emoji":":ghost:"}`, "slack"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts.doCT("POST", path, nil, c.body, c.ct).want(t, 200, map[string]any{"success": true})
			m := ts.hookLastMessage(t, "GENERAL")
			if m.Text != c.want || m.Bot == nil || m.Bot.I != id || m.User.Username != "alertbot" {
				t.Fatalf("stored %+v", m)
			}
		})
	}
	m := ts.hookLastMessage(t, "GENERAL")
	if m.Alias != "Nagios" || m.Emoji != ":ghost:" {
		t.Fatalf("slack fields: alias %q emoji %q", m.Alias, m.Emoji)
	}
	// GET with a query, and the legacy /hooks/:id/:userId/:token path.
	ts.do("GET", path+"?text=via+get", nil, "").want(t, 200, map[string]any{"success": true})
	if m := ts.hookLastMessage(t, "GENERAL"); m.Text != "via get" || m.Alias != "Monitor" {
		t.Fatalf("GET: %+v", m)
	}
	bot, _ := ts.st.UserByUsername("alertbot")
	ts.do("POST", "/hooks/"+id+"/"+bot.ID+"/"+token, nil, `{"text":"legacy"}`).want(t, 200, map[string]any{"success": true})
	if m := ts.hookLastMessage(t, "GENERAL"); m.Text != "legacy" {
		t.Fatalf("legacy: %+v", m)
	}
	// The message reads back with bot: {i: id} on v1.
	res := ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=1", &ts.admin, "")
	msgs := res.Obj["messages"].([]any)
	if b, _ := msgs[0].(map[string]any)["bot"].(map[string]any); b["i"] != id {
		t.Fatalf("bot field: %s", res.Raw)
	}
	// "@username" posts a direct message, which only its two members read.
	ts.createUser("bob", "bobpass")
	ts.createUser("eve", "evepass")
	ts.do("POST", path, nil, `{"text":"for bob only","channel":"@bob"}`).want(t, 200, map[string]any{"success": true})
	bob, eve := ts.login("bob", "bobpass"), ts.login("eve", "evepass")
	dm := ts.do("GET", "/api/v1/im.messages?username=alertbot", &bob, "")
	if dm.Status != 200 || !strings.Contains(dm.Raw, "for bob only") {
		t.Fatalf("bob's DM: %d %s", dm.Status, dm.Raw)
	}
	if res := ts.do("GET", "/api/v1/im.list", &eve, ""); strings.Contains(res.Raw, "for bob only") || strings.Contains(res.Raw, "alertbot") {
		t.Fatalf("eve sees the DM: %s", res.Raw)
	}
}

func TestIncomingHookRefusals(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("alertbot", "botpass", "bot")
	ts.createUser("other", "otherpass")
	id, token := ts.newIncomingHook(t, &ts.admin, `{"type":"webhook-incoming","name":"alerts","enabled":true,"username":"alertbot","channel":"#general","scriptEnabled":false}`)
	other, otherToken := ts.newIncomingHook(t, &ts.admin, `{"type":"webhook-incoming","name":"other","enabled":true,"username":"other","channel":"#general"}`)
	_ = otherToken
	notFound := `{
  "success": false,
  "error": "Invalid integration id or token provided."
}
`
	before := ts.counts()
	for name, path := range map[string]string{
		"UnknownID":         "/hooks/NoSuchHook1234567/" + token,
		"WrongToken":        "/hooks/" + id + "/" + strings.Repeat("x", 48),
		"OtherHooksToken":   "/hooks/" + other + "/" + token,
		"LegacyWrongUserID": "/hooks/" + id + "/someoneElse123456/" + token,
	} {
		t.Run(name, func(t *testing.T) {
			res := ts.do("POST", path, nil, `{"text":"x"}`)
			if res.Status != 404 || res.Raw != notFound {
				t.Fatalf("%d %s", res.Status, res.Raw)
			}
		})
	}
	path := "/hooks/" + id + "/" + token
	for name, body := range map[string]string{
		"NoText":              `{}`,
		"BadJSON":             `{"text":`,
		"BadPayload":          `payload=%7Bnot-json`,
		"UnknownRoom":         `{"text":"x","channel":"#nosuchroom"}`,
		"UnknownUser":         `{"text":"x","channel":"@nosuchuser"}`,
		"ChannelNumber":       `{"text":"x","channel":5}`,
		"TooLongText":         `{"text":"` + strings.Repeat("x", 6000) + `"}`,
		"AttachmentsNotAList": `{"text":"x","attachments":{"a":1}}`,
		"SecondTargetBad":     `{"text":"x","channel":["#general","#nosuchroom"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			res := ts.do("POST", path, nil, body)
			if res.Status != 400 || res.Obj["success"] != false || res.Obj["error"] == "" {
				t.Fatalf("%d %s", res.Status, res.Raw)
			}
		})
	}
	ts.unchanged1(t, before)

	// A private room the hook's user is not in.
	if err := ts.st.CreateRoom(&store.Room{Name: "secret", Type: store.Private}, nil, ts.admin.UserID); err != nil {
		t.Fatal(err)
	}
	before = ts.counts()
	res := ts.do("POST", path, nil, `{"text":"x","channel":"#secret"}`)
	if res.Status != 400 {
		t.Fatalf("private room of others: %d %s", res.Status, res.Raw)
	}
	// Disabled: 503, nothing posted.
	ts.do("POST", "/api/v1/integrations.update", &ts.admin, `{"type":"webhook-incoming","integrationId":"`+id+`","enabled":false}`).want(t, 200, map[string]any{"success": true})
	res = ts.do("POST", path, nil, `{"text":"x"}`)
	if res.Status != 503 || res.Obj["success"] != false {
		t.Fatalf("disabled: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
	// A deactivated poster.
	ts.do("POST", "/api/v1/integrations.update", &ts.admin, `{"type":"webhook-incoming","integrationId":"`+id+`","enabled":true}`).want(t, 200, nil)
	bot, _ := ts.st.UserByUsername("alertbot")
	ts.st.UpdateUser(bot.ID, func(u *store.User) error { u.Active = false; return nil })
	before = ts.counts()
	if res := ts.do("POST", path, nil, `{"text":"x"}`); res.Status != 400 {
		t.Fatalf("deactivated poster: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
}

func TestIncomingHookBodyCapAndRateLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.MaxBody = 4096
		c.Limits.SendRate, c.Limits.SendBurst = 1, 2
	})
	ts.createUser("alertbot", "botpass", "bot")
	id, token := ts.newIncomingHook(t, &ts.admin, `{"type":"webhook-incoming","name":"a","username":"alertbot","channel":"#general"}`)
	path := "/hooks/" + id + "/" + token
	before := ts.counts()
	res := ts.do("POST", path, nil, `{"text":"`+strings.Repeat("x", 5000)+`"}`)
	if res.Status != 413 {
		t.Fatalf("oversized: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
	for i := 0; i < 2; i++ {
		ts.do("POST", path, nil, `{"text":"burst"}`).want(t, 200, nil)
	}
	res = ts.do("POST", path, nil, `{"text":"one too many"}`)
	if res.Status != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d %s", res.Status, res.Raw)
	}
}

func TestIntegrationsManagement(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("alertbot", "botpass", "bot")
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	create := `{"type":"webhook-incoming","name":"alerts","enabled":true,"username":"alertbot","channel":"#general","scriptEnabled":false}`

	// Without the permission: 403, nothing written.
	before := ts.counts()
	ts.do("POST", "/api/v1/integrations.create", &bob, create).wantErr1(t, 403, "")
	ts.do("GET", "/api/v1/integrations.list", &bob, "").wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/integrations.create", nil, create).want(t, 401, nil)
	ts.unchanged1(t, before)

	// Refusals of the admin's bad requests.
	for name, body := range map[string]string{
		"BadType":       `{"type":"webhook-other","username":"alertbot","channel":"#general"}`,
		"Script":        `{"type":"webhook-incoming","username":"alertbot","channel":"#general","scriptEnabled":true}`,
		"NoUser":        `{"type":"webhook-incoming","username":"nobody","channel":"#general"}`,
		"NoChannel":     `{"type":"webhook-incoming","username":"alertbot"}`,
		"UnknownRoom":   `{"type":"webhook-incoming","username":"alertbot","channel":"#nosuch"}`,
		"OutgoingNoURL": `{"type":"webhook-outgoing","username":"alertbot","channel":"#general","event":"sendMessage"}`,
		"OutgoingLoop":  `{"type":"webhook-outgoing","username":"alertbot","channel":"#general","event":"sendMessage","urls":["http://127.0.0.1:9/x"]}`,
		"OutgoingLocal": `{"type":"webhook-outgoing","username":"alertbot","channel":"#general","event":"sendMessage","urls":["http://localhost/x"]}`,
		"OutgoingFTP":   `{"type":"webhook-outgoing","username":"alertbot","channel":"#general","event":"sendMessage","urls":["ftp://example.org/"]}`,
		"OutgoingEvent": `{"type":"webhook-outgoing","username":"alertbot","channel":"#general","event":"roomCreated","urls":["https://example.org/"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			res := ts.do("POST", "/api/v1/integrations.create", &ts.admin, body)
			if res.Status != 400 || res.Obj["success"] != false {
				t.Fatalf("%d %s", res.Status, res.Raw)
			}
		})
	}
	ts.unchanged1(t, before)

	// Each list and text field is bounded; one over is refused with its own error type.
	capList := func(n int, item string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = `"` + item + `"`
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	outBody := `{"type":"webhook-outgoing","username":"alertbot","event":"sendMessage",`
	for name, tc := range map[string]struct{ body, errorType string }{
		"TooManyChannels": {`{"type":"webhook-incoming","username":"alertbot","channel":` + capList(21, "#general") + `}`, "error-invalid-channel"},
		"TooManyURLs":     {outBody + `"channel":"#general","urls":` + capList(21, "https://example.org/") + `}`, "error-invalid-urls"},
		"TooManyWords":    {outBody + `"channel":"#general","urls":["https://example.org/"],"triggerWords":` + capList(21, "!w") + `}`, "error-invalid-params"},
		"LongToken":       {outBody + `"channel":"#general","urls":["https://example.org/"],"token":"` + strings.Repeat("t", 201) + `"}`, "error-invalid-params"},
		"LongName":        {`{"type":"webhook-incoming","username":"alertbot","channel":"#general","name":"` + strings.Repeat("n", 501) + `"}`, "error-invalid-params"},
	} {
		t.Run(name, func(t *testing.T) {
			ts.do("POST", "/api/v1/integrations.create", &ts.admin, tc.body).wantErr1(t, 400, tc.errorType)
		})
	}
	ts.unchanged1(t, before)

	id, _ := ts.newIncomingHook(t, &ts.admin, create)
	out := ts.do("POST", "/api/v1/integrations.create", &ts.admin, `{"type":"webhook-outgoing","name":"bot","enabled":true,"username":"alertbot","channel":"#general","event":"sendMessage","urls":["https://example.org/hook"],"triggerWords":["!bot"]}`)
	out.want(t, 200, map[string]any{"success": true})
	outID := out.Obj["integration"].(map[string]any)["_id"].(string)
	if tok, _ := out.Obj["integration"].(map[string]any)["token"].(string); tok == "" {
		t.Fatalf("outgoing hook without a token: %s", out.Raw)
	}

	// get and list never show an incoming hook's token (only its hash is kept).
	get := ts.do("GET", "/api/v1/integrations.get?integrationId="+id, &ts.admin, "")
	get.want(t, 200, map[string]any{"success": true})
	if strings.Contains(get.Raw, `"token"`) || strings.Contains(get.Raw, "tokenHash") {
		t.Fatalf("get shows a token: %s", get.Raw)
	}
	list := ts.do("GET", "/api/v1/integrations.list", &ts.admin, "")
	list.want(t, 200, map[string]any{"success": true, "total": 2})
	// The list conventions (lists.go): sort, fields, and no query.
	for _, dir := range []string{"1", "-1"} {
		sorted := ts.do("GET", listURL("/api/v1/integrations.list", "sort", `{"type":`+dir+`}`, "fields", `{"type":1}`), &ts.admin, "")
		sorted.want(t, 200, map[string]any{"total": 2})
		types := names(t, sorted, "integrations", "type")
		if want := map[string]string{"1": "webhook-incoming,webhook-outgoing", "-1": "webhook-outgoing,webhook-incoming"}[dir]; strings.Join(types, ",") != want {
			t.Fatalf("sort %s: %v", dir, types)
		}
		if strings.Contains(sorted.Raw, `"name"`) {
			t.Fatalf("fields kept name: %s", sorted.Raw)
		}
	}
	ts.do("GET", listURL("/api/v1/integrations.list", "query", `{"type":"webhook-incoming"}`), &ts.admin, "").wantErr1(t, 400, "error-invalid-params")
	ts.do("GET", "/api/v1/channels.getIntegrations?roomName=general", &ts.admin, "").want(t, 200, map[string]any{"total": 2})

	// bob gets the permission to manage his own incoming hooks only: he may post only as himself,
	// sees only his own, and cannot reach the admin's.
	ts.do("POST", "/api/v1/permissions.update", &ts.admin, `{"permissions":[{"_id":"manage-own-incoming-integrations","roles":["admin","user"]}]}`).want(t, 200, nil)
	res := ts.do("POST", "/api/v1/integrations.create", &bob, create)
	if res.Status != 403 {
		t.Fatalf("own-only as another user: %d %s", res.Status, res.Raw)
	}
	ts.newIncomingHook(t, &bob, `{"type":"webhook-incoming","name":"mine","username":"bob","channel":"#general"}`)
	ts.do("GET", "/api/v1/integrations.list", &bob, "").want(t, 200, map[string]any{"total": 1})
	if res := ts.do("GET", "/api/v1/integrations.get?integrationId="+id, &bob, ""); res.Status != 400 && res.Status != 404 {
		t.Fatalf("bob reads the admin's hook: %d %s", res.Status, res.Raw)
	}
	if res := ts.do("POST", "/api/v1/integrations.remove", &bob, `{"type":"webhook-incoming","integrationId":"`+id+`"}`); res.Obj["success"] != false {
		t.Fatalf("bob removes the admin's hook: %d %s", res.Status, res.Raw)
	}

	// update and remove.
	up := ts.do("PUT", "/api/v1/integrations.update", &ts.admin, `{"type":"webhook-outgoing","integrationId":"`+outID+`","name":"renamed","triggerWords":["!x"]}`)
	up.want(t, 200, map[string]any{"success": true})
	if in := up.Obj["integration"].(map[string]any); in["name"] != "renamed" {
		t.Fatalf("update: %s", up.Raw)
	}
	ts.do("POST", "/api/v1/integrations.remove", &ts.admin, `{"type":"webhook-outgoing","integrationId":"`+outID+`"}`).want(t, 200, map[string]any{"success": true})
	if _, err := ts.st.Integration(outID); err != store.ErrIntegrationNotFound {
		t.Fatalf("removed hook still there: %v", err)
	}
	var stored store.Integration
	in, _ := ts.st.Integration(id)
	raw, _ := json.Marshal(in)
	json.Unmarshal(raw, &stored)
	if len(stored.TokenHash) != 64 {
		t.Fatalf("stored token hash %q", stored.TokenHash)
	}
}
