package handlers

// Fuzz targets for request decoding and the routes' bodies. `go test` replays the checked-in
// corpus in testdata/fuzz/ (type-confused JSON, huge and malformed bodies, invalid UTF-8);
// `go test -fuzz FuzzRoute ./handlers/` searches for more.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/store"
	"rocketlite/store/testopen"
)

func FuzzDecodeBody(f *testing.F) {
	f.Add("application/json", []byte(`{"user":{"$ne":null},"password":"x"}`))
	f.Add("", []byte("user=a&password=b"))
	f.Add("text/plain", []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, contentType string, data []byte) {
		b, err := decodeBody(contentType, data)
		if err != nil {
			if k := store.KindOf(err); k != store.Invalid {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		if b.obj == nil && b.form == nil {
			t.Fatal("neither an object nor a form")
		}
		// No accessor may panic, whatever the types; errors are 400s.
		for _, name := range []string{"user", "password", "msg", "count", "users", ""} {
			for _, e := range []error{
				func() error { _, err := b.str(name); return err }(),
				func() error { _, err := b.boolean(name, false); return err }(),
				func() error { _, err := b.integer(name, 0, 0, 1000); return err }(),
				func() error { _, err := b.strings(name); return err }(),
				func() error { var v []map[string]any; _, err := b.decode(name, &v); return err }(),
			} {
				if e != nil && store.KindOf(e) != store.Invalid {
					t.Fatalf("accessor error of kind %v: %v", store.KindOf(e), e)
				}
			}
			b.has(name)
		}
	})
}

// fuzzRoutes are the routes whose bodies (or query strings) FuzzRoute feeds.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/login"},
	{"POST", "/api/rooms/GENERAL/send"},
	{"POST", "/api/rooms/GENERAL/join"},
	{"POST", "/api/rooms/GENERAL/leave"},
	{"POST", "/api/rooms/GENERAL/read"},
	{"GET", "/api/rooms/GENERAL/messages"},
	{"GET", "/api/publicRooms"},
	{"POST", "/api/rooms/nosuchroom/send"},
	{"GET", "/api/backup"},
	// API v1 (appended: the corpus names routes by index).
	{"POST", "/api/v1/login"},
	{"POST", "/api/v1/channels.create"},
	{"POST", "/api/v1/channels.join"},
	{"POST", "/api/v1/channels.leave"},
	{"GET", "/api/v1/channels.history"},
	{"POST", "/api/v1/channels.setTopic"},
	{"POST", "/api/v1/channels.rename"},
	{"POST", "/api/v1/channels.invite"},
	{"POST", "/api/v1/channels.kick"},
	{"POST", "/api/v1/chat.postMessage"},
	{"POST", "/api/v1/chat.sendMessage"},
	{"POST", "/api/v1/chat.update"},
	{"POST", "/api/v1/chat.delete"},
	{"GET", "/api/v1/chat.search"},
	{"POST", "/api/v1/users.create"},
	{"POST", "/api/v1/users.update"},
	{"GET", "/api/v1/users.list"},
	{"POST", "/api/v1/permissions.update"},
	{"POST", "/api/bulk/register"},
	{"POST", "/api/bulk/createRoom"},
}

type fuzzAPI struct {
	api   *API
	st    *store.Bolt
	admin creds
}

// newFuzzAPI is the harness without *testing.T: one server for every input of a run.
func newFuzzAPI(f *testing.F) *fuzzAPI {
	testopen.BoltOnly(f, "the fuzzer counts bbolt commits")
	dir, err := os.MkdirTemp("", "rocketlite-fuzz-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	st, h := seededStore(f, filepath.Join(dir, "fuzz.db"), bcrypt.MinCost, nil)
	fz := &fuzzAPI{st: st.(*store.Bolt), api: New(Config{Store: st, Hasher: h, Log: zerolog.Nop(), MaxBody: 16 << 10,
		Limits: Limits{SendRate: -1, LoginPerAccount: 1 << 30, LoginPerAddress: 1 << 30}})}
	res := fz.serve("POST", "/api/login", "application/x-www-form-urlencoded", []byte("user=admin&password=adminpass"), nil)
	var out struct {
		Data struct{ UserID, AuthToken string }
	}
	if err := json.Unmarshal(res.Body.Bytes(), &out); err != nil || res.Code != 200 {
		f.Fatalf("login: %d %s", res.Code, res.Body)
	}
	fz.admin = creds{UserID: out.Data.UserID, Token: out.Data.AuthToken}
	return fz
}

func (fz *fuzzAPI) serve(method, path, contentType string, data []byte, c *creds) *httptest.ResponseRecorder {
	req := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}, RemoteAddr: "192.0.2.1:4000", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	if method == "GET" {
		req.URL.RawQuery = string(data)
	} else {
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.ContentLength = int64(len(data))
	}
	req = req.WithContext(req.Context())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c != nil {
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
	}
	rec := httptest.NewRecorder()
	fz.api.ServeHTTP(rec, req)
	return rec
}

func (fz *fuzzAPI) txid(t *testing.T) int {
	var id int
	err := fz.st.DB().View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func FuzzRoute(f *testing.F) {
	fz := newFuzzAPI(f)
	f.Add(uint8(0), "application/json", []byte(`{"user":{"$ne":null},"password":{"$ne":null}}`))
	f.Add(uint8(1), "application/json", []byte(`{"msg":{"$ne":null}}`))
	f.Add(uint8(1), "application/x-www-form-urlencoded", []byte(strings.Repeat("msg=a&", 4000)))
	f.Add(uint8(5), "", []byte("count=1001&before=%ff"))
	f.Add(uint8(18), "application/json", []byte(`{"roomId":"GENERAL","text":"hi","attachments":[{"x":1}]}`))
	f.Add(uint8(24), "application/json", []byte(`{"userId":"x","data":{"roles":["user"],"active":false}}`))
	f.Add(uint8(26), "application/json", []byte(`{"permissions":[{"_id":"create-c","roles":["user"]}]}`))
	f.Add(uint8(10), "application/json", []byte(`{"name":"r","members":["admin"],"readOnly":true}`))
	f.Fuzz(func(t *testing.T, route uint8, contentType string, data []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		before := fz.txid(t)
		rec := fz.serve(r.method, r.path, contentType, data, &fz.admin)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		if r.path != "/api/backup" {
			var obj map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil || (obj["status"] == nil && obj["success"] == nil) {
				t.Fatalf("%s %s: not a JSON answer: %d %q", r.method, r.path, rec.Code, rec.Body)
			}
		}
		after := fz.txid(t)
		if rec.Code != 200 && after != before {
			t.Fatalf("%s %s answered %d but wrote", r.method, r.path, rec.Code)
		}
		if after != before {
			if errs := fz.st.Check(); errs != nil {
				t.Fatalf("after %s %s: %v", r.method, r.path, errs)
			}
		}
	})
}
