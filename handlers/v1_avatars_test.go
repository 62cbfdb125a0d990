package handlers

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"rocketlite/store"
)

// pngBytes is the start of a PNG file (what content sniffing reads), padded to n bytes.
func pngBytes(n int) []byte {
	b := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 8)...)
	return append(b, bytes.Repeat([]byte{0}, max(n-len(b), 0))...)
}

// upload posts a multipart users.setAvatar with the image and text fields.
func (ts *testServer) upload(c *creds, image []byte, fields ...string) response {
	ts.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	if image != nil {
		fw, _ := w.CreateFormFile("image", "me.png")
		fw.Write(image)
	}
	w.Close()
	return ts.doCT("POST", "/api/v1/users.setAvatar", c, buf.String(), w.FormDataContentType())
}

func (ts *testServer) getAvatar(name string, header ...string) (*http.Response, []byte) {
	ts.t.Helper()
	req, _ := http.NewRequest("GET", ts.srv.URL+"/avatar/"+name, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res, b.Bytes()
}

func TestAvatars(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.MaxAvatar = 4096 })
	_, bob := ts.user1(t, "bob")
	eveU, eve := ts.user1(t, "eve")

	t.Run("GeneratedSVG", func(t *testing.T) {
		res, body := ts.getAvatar("bob.marley")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Contains(body, []byte(">BM</text>")) {
			t.Fatalf("%d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if res.Header.Get("Cache-Control") == "" || res.Header.Get("ETag") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers %v", res.Header)
		}
		res2, _ := ts.getAvatar("bob.marley", "If-None-Match", res.Header.Get("ETag"))
		if res2.StatusCode != 304 {
			t.Fatalf("revalidation: %d", res2.StatusCode)
		}
	})
	t.Run("SVGEscaped", func(t *testing.T) {
		for path, want := range map[string]string{
			"%3Cx.%26y":           "&lt;&amp;",
			"%22%3E.%3Cscript%3E": "&#34;&lt;",
			"%27a.b":              "&#39;B",
			"%3Cb%3E.x":           "&lt;X",
		} {
			_, body := ts.getAvatar(path)
			if got := bytes.Count(body, []byte("<")); got != 6 {
				t.Fatalf("%s: %d tags, want 6 (markup from the name got in): %s", path, got, body)
			}
			if !bytes.Contains(body, []byte(">"+want+"</text>")) {
				t.Fatalf("%s: want text %s in %s", path, want, body)
			}
		}
	})
	t.Run("UploadServeReset", func(t *testing.T) {
		img := pngBytes(1000)
		ts.upload(&bob, img).want(t, 200, map[string]any{"success": true})
		res, body := ts.getAvatar("bob")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, img) {
			t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		res2, _ := ts.getAvatar("BOB", "If-None-Match", res.Header.Get("ETag"))
		if res2.StatusCode != 304 {
			t.Fatalf("revalidation: %d", res2.StatusCode)
		}
		ts.do("POST", "/api/v1/users.resetAvatar", &bob, "").want(t, 200, map[string]any{"success": true})
		if res, _ := ts.getAvatar("bob"); res.Header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("after reset: %s", res.Header.Get("Content-Type"))
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		before := ts.counts()
		ts.upload(&bob, pngBytes(4097)).wantErr1(t, 413, "error-file-too-large")
		ts.upload(&bob, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)).wantErr1(t, 400, "error-invalid-image-type")
		ts.upload(&bob, []byte("GIF8 not quite")).wantErr1(t, 400, "error-invalid-image-type")
		ts.do("POST", "/api/v1/users.setAvatar", &bob, `{"avatarUrl":"http://169.254.169.254/"}`).wantErr1(t, 400, "error-avatar-url-not-supported")
		ts.do("POST", "/api/v1/users.setAvatar", &bob, `{}`).wantErr1(t, 400, "error-invalid-params")
		ts.doCT("POST", "/api/v1/users.setAvatar", &bob, "--x\r\nbroken", "multipart/form-data; boundary=x").wantErr1(t, 400, "error-invalid-multipart")
		// another user's avatar needs edit-other-user-avatar
		ts.upload(&bob, pngBytes(100), "username", "eve").wantErr1(t, 403, "")
		ts.do("POST", "/api/v1/users.resetAvatar", &bob, `{"userId":"`+eveU.ID+`"}`).wantErr1(t, 403, "")
		ts.unchanged1(t, before)
		ts.upload(nil, pngBytes(100)).want(t, 401, nil)
		ts.upload(&ts.admin, pngBytes(100), "username", "eve").want(t, 200, nil)
		if res, _ := ts.getAvatar("eve"); res.Header.Get("Content-Type") != "image/png" {
			t.Fatal("admin's upload for eve not served")
		}
		_ = eve
	})
	t.Run("DeletedUserLosesAvatar", func(t *testing.T) {
		ts.do("POST", "/api/v1/users.delete", &ts.admin, `{"userId":"`+eveU.ID+`"}`).want(t, 200, nil)
		if n := ts.counts()["avatars"]; n != 0 {
			t.Fatalf("%d avatars left", n)
		}
	})
}

func TestUsersCreateToken(t *testing.T) {
	ts := newTestServer(t)
	bobU, bob := ts.user1(t, "bob")
	gone := ts.createUser("gone", "gone-pass")
	if _, err := ts.st.UpdateUser(gone.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	res := ts.do("POST", "/api/v1/users.createToken", &ts.admin, `{"username":"bob"}`)
	res.want(t, 200, map[string]any{"success": true})
	data := res.Obj["data"].(map[string]any)
	minted := creds{UserID: data["userId"].(string), Token: data["authToken"].(string)}
	if minted.UserID != bobU.ID {
		t.Fatalf("token for %s", minted.UserID)
	}
	ts.do("GET", "/api/v1/me", &minted, "").want(t, 200, map[string]any{"username": "bob"})

	before := ts.counts()
	ts.do("POST", "/api/v1/users.createToken", &bob, `{"username":"admin"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/users.createToken", &bob, `{"username":"bob"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/users.createToken", nil, `{"username":"bob"}`).want(t, 401, nil)
	ts.do("POST", "/api/v1/users.createToken", &ts.admin, `{"username":"gone"}`).wantErr1(t, 400, "error-invalid-user")
	ts.do("POST", "/api/v1/users.createToken", &ts.admin, `{}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/users.createToken", &ts.admin, `{"username":"nobody"}`).wantErr1(t, 400, "error-invalid-user")
	ts.unchanged1(t, before)
}

func TestUsersPreferences(t *testing.T) {
	ts := newTestServer(t)
	bobU, bob := ts.user1(t, "bob")
	gus := ts.createUser("gus", "gus-pass", "guest")
	gusC := ts.login("gus", "gus-pass")
	_ = gus

	res := ts.do("POST", "/api/v1/users.setPreferences", &bob, `{"data":{"sendOnEnter":"normal","highlights":["deploy"],"hideAvatars":true}}`)
	res.want(t, 200, map[string]any{"success": true})
	if got := jsonOf(res.Obj["user"]); got != `{"_id":"`+bobU.ID+`","settings":{"preferences":{"hideAvatars":true,"highlights":["deploy"],"sendOnEnter":"normal"}}}` {
		t.Fatalf("answer %s", got)
	}
	ts.do("POST", "/api/v1/users.setPreferences", &bob, `{"data":{"hideAvatars":false}}`).want(t, 200, nil)
	res = ts.do("GET", "/api/v1/users.getPreferences", &bob, "")
	if got := jsonOf(res.Obj["preferences"]); got != `{"hideAvatars":false,"highlights":["deploy"],"sendOnEnter":"normal"}` {
		t.Fatalf("preferences %s", got)
	}
	res = ts.do("GET", "/api/v1/me", &bob, "")
	if got := jsonOf(res.Obj["settings"]); !strings.Contains(got, `"sendOnEnter":"normal"`) {
		t.Fatalf("me settings %s", got)
	}
	// a guest keeps preferences too
	ts.do("POST", "/api/v1/users.setPreferences", &gusC, `{"data":{"language":"de"}}`).want(t, 200, nil)

	before := ts.counts()
	for _, bad := range []string{
		`{"data":{"isAdmin":true}}`,
		`{"data":{"hideAvatars":"yes"}}`,
		`{"data":{"language":"` + strings.Repeat("x", 1001) + `"}}`,
		`{"data":{"highlights":[1]}}`,
		`{"data":{}}`,
		`{}`,
	} {
		ts.do("POST", "/api/v1/users.setPreferences", &bob, bad).wantErr1(t, 400, "error-invalid-params")
	}
	ts.do("POST", "/api/v1/users.setPreferences", &bob, `{"userId":"`+gus.ID+`","data":{"language":"fr"}}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/users.setPreferences", nil, `{"data":{"language":"fr"}}`).want(t, 401, nil)
	ts.unchanged1(t, before)
	ts.do("POST", "/api/v1/users.setPreferences", &ts.admin, `{"userId":"`+gus.ID+`","data":{"language":"fr"}}`).want(t, 200, nil)
}

// TestUsersRoutesAccess: each new users route for an anonymous caller, a deactivated user, a
// guest, a user without the permission (acting on another user) and the admin.
func TestUsersRoutesAccess(t *testing.T) {
	ts := newTestServer(t)
	_, bob := ts.user1(t, "bob")
	danU, dan := ts.user1(t, "dan")
	ts.createUser("gus", "gus-pass", "guest")
	gus := ts.login("gus", "gus-pass")
	if _, err := ts.st.UpdateUser(danU.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	type call struct {
		name, method, path, body string
		avatar                   []byte // a multipart upload instead of body
	}
	self := []call{
		{"setAvatar", "POST", "", "", pngBytes(200)},
		{"resetAvatar", "POST", "/api/v1/users.resetAvatar", "", nil},
		{"setPreferences", "POST", "/api/v1/users.setPreferences", `{"data":{"language":"en"}}`, nil},
		{"getPreferences", "GET", "/api/v1/users.getPreferences", "", nil},
	}
	other := []call{
		{"setAvatar other", "POST", "", "", pngBytes(200)},
		{"resetAvatar other", "POST", "/api/v1/users.resetAvatar", `{"username":"bob"}`, nil},
		{"setPreferences other", "POST", "/api/v1/users.setPreferences", `{"username":"bob","data":{"language":"en"}}`, nil},
		{"createToken", "POST", "/api/v1/users.createToken", `{"username":"bob"}`, nil},
	}
	do := func(c call, who *creds) response {
		if c.avatar != nil {
			if strings.HasSuffix(c.name, "other") {
				return ts.upload(who, c.avatar, "username", "bob")
			}
			return ts.upload(who, c.avatar)
		}
		return ts.do(c.method, c.path, who, c.body)
	}
	for i, c := range append(self, other...) {
		isOther := i >= len(self)
		t.Run(c.name, func(t *testing.T) {
			for _, who := range []*creds{nil, &dan} {
				if res := do(c, who); res.Status != 401 {
					t.Fatalf("anonymous or deactivated: %d %s", res.Status, res.Raw)
				}
			}
			for _, who := range []*creds{&gus, &bob} {
				if who == &bob && isOther && c.name != "createToken" {
					continue // bob acting on bob is "self"
				}
				res := do(c, who)
				if isOther {
					res.wantErr1(t, 403, "")
				} else {
					res.want(t, 200, map[string]any{"success": true})
				}
			}
			do(c, &ts.admin).want(t, 200, map[string]any{"success": true})
		})
	}
}
