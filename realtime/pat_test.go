package realtime_test

import "testing"

// TestPersonalAccessTokenResumes: a personal access token made over REST logs in over DDP
// with {resume}, and stops working there once removed.
func TestPersonalAccessTokenResumes(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	rc := e.restLogin("alice", "alicepass")
	pat := e.rest("POST", "/api/v1/users.generatePersonalAccessToken", &rc, map[string]any{"tokenName": "bot"})["token"].(string)
	c := e.dial(false)
	res := c.ok("login", map[string]any{"resume": pat}).(map[string]any)
	if res["type"] != "resume" || res["id"] != rc.uid {
		t.Fatalf("resume with a personal access token: %v", res)
	}
	e.rest("POST", "/api/v1/users.removePersonalAccessToken", &rc, map[string]any{"tokenName": "bot"})
	c2 := e.dial(false)
	if got := c2.fails("login", map[string]any{"resume": pat}); got != float64(403) {
		t.Fatalf("resume with a removed token: %v", got)
	}
}
