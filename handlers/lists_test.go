package handlers

import (
	"net/url"
	"strings"
	"testing"

	"rocketlite/store"
)

// listURL is path with the query parameters pairs (name, value, …) escaped.
func listURL(path string, pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return path + "?" + v.Encode()
}

func names(t *testing.T, res response, list, field string) []string {
	t.Helper()
	items, ok := res.Obj[list].([]any)
	if !ok {
		t.Fatalf("no %s list: %s", list, res.Raw)
	}
	var out []string
	for _, it := range items {
		s, _ := it.(map[string]any)[field].(string)
		out = append(out, s)
	}
	return out
}

func TestListConventions(t *testing.T) {
	ts := newTestServer(t)
	for _, n := range []string{"bravo", "alpha", "charlie"} {
		r := &store.Room{Name: n, Type: store.Public}
		if err := ts.st.CreateRoom(r, nil, ts.admin.UserID); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("SortAscending", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/channels.list", "sort", `{"name":1}`), &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true, "total": 4})
		if got := strings.Join(names(t, res, "channels", "name"), ","); got != "alpha,bravo,charlie,general" {
			t.Fatalf("order %s", got)
		}
	})
	t.Run("SortDescendingPaged", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/channels.list", "sort", `{"name":-1}`, "count", "2", "offset", "1"), &ts.admin, "")
		res.want(t, 200, map[string]any{"count": 2, "offset": 1, "total": 4})
		if got := strings.Join(names(t, res, "channels", "name"), ","); got != "charlie,bravo" {
			t.Fatalf("order %s", got)
		}
	})
	t.Run("SortJoined", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/channels.list.joined", "sort", `{"name":-1}`), &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true})
		got := names(t, res, "channels", "name")
		if len(got) < 2 || got[0] < got[len(got)-1] {
			t.Fatalf("not descending: %v", got)
		}
	})
	t.Run("FieldsInclude", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/channels.list", "fields", `{"name":1}`), &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true})
		for _, it := range res.Obj["channels"].([]any) {
			m := it.(map[string]any)
			if len(m) != 2 || m["_id"] == nil || m["name"] == nil {
				t.Fatalf("projected item %v, want only _id and name", m)
			}
		}
	})
	t.Run("FieldsExcludeAndDropID", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/users.list", "fields", `{"_id":0,"roles":0}`, "sort", `{"username":1}`), &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true})
		items := res.Obj["users"].([]any)
		m := items[0].(map[string]any)
		if _, ok := m["_id"]; ok {
			t.Fatalf("_id kept: %v", m)
		}
		if _, ok := m["roles"]; ok {
			t.Fatalf("roles kept: %v", m)
		}
		if m["username"] != "admin" {
			t.Fatalf("first user %v, want admin (sorted)", m["username"])
		}
	})
	t.Run("FieldsCannotRevealEmails", func(t *testing.T) {
		_, bob := ts.user1(t, "bob")
		res := ts.do("GET", listURL("/api/v1/users.list", "fields", `{"emails":1,"username":1}`), &bob, "")
		res.want(t, 200, map[string]any{"success": true})
		for _, it := range res.Obj["users"].([]any) {
			m := it.(map[string]any)
			if m["username"] != "bob" && m["emails"] != nil {
				t.Fatalf("another user's e-mail shown: %v", m)
			}
		}
	})
	t.Run("HistoryFieldsAndFixedSort", func(t *testing.T) {
		res := ts.do("GET", listURL("/api/v1/channels.history", "roomName", "general", "sort", `{"ts":-1}`, "fields", `{"msg":1}`), &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true})
		for _, it := range res.Obj["messages"].([]any) {
			if m := it.(map[string]any); len(m) != 2 {
				t.Fatalf("projected message %v", m)
			}
		}
		ts.do("GET", listURL("/api/v1/channels.history", "roomName", "general", "sort", `{"ts":1}`), &ts.admin, "").
			wantErr1(t, 400, "error-invalid-params")
	})
	for _, tc := range []struct{ name, path, param, value string }{
		{"ErrQuery", "/api/v1/channels.list", "query", `{"name":"general"}`},
		{"ErrQueryUsers", "/api/v1/users.list", "query", `{}`},
		{"ErrQueryHistory", "/api/v1/channels.history?roomName=general", "query", `{"t":"uj"}`},
		{"ErrQuerySearch", "/api/v1/chat.search?roomName=general&searchText=x", "query", `{}`},
		{"ErrSortUnknownField", "/api/v1/channels.list", "sort", `{"usernames":1}`},
		{"ErrSortDirection", "/api/v1/channels.list", "sort", `{"name":2}`},
		{"ErrSortNotJSON", "/api/v1/channels.list", "sort", `name`},
		{"ErrSortOperator", "/api/v1/users.list", "sort", `{"name":{"$gt":1}}`},
		{"ErrSortTooMany", "/api/v1/channels.list", "sort", `{"name":1,"t":1,"ts":1,"msgs":1,"lm":1}`},
		{"ErrFieldsMixed", "/api/v1/channels.list", "fields", `{"name":1,"t":0}`},
		{"ErrFieldsDotted", "/api/v1/users.list", "fields", `{"services.password":1}`},
		{"ErrFieldsOperator", "/api/v1/users.list", "fields", `{"$where":1}`},
		{"ErrFieldsValue", "/api/v1/users.list", "fields", `{"name":5}`},
		{"ErrFieldsTrailing", "/api/v1/users.list", "fields", `{"name":1} {}`},
		{"ErrFieldsTwice", "/api/v1/users.list", "fields", `{"name":1,"name":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			res := ts.do("GET", tc.path+sep+url.Values{tc.param: {tc.value}}.Encode(), &ts.admin, "")
			res.wantErr1(t, 400, "error-invalid-params")
			if tc.param == "query" && !strings.Contains(res.Obj["error"].(string), `"query"`) {
				t.Fatalf("error does not name the parameter: %s", res.Raw)
			}
		})
	}
}
