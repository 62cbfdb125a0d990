package handlers

// API v1 users: avatars, access tokens minted by an admin, preferences (issue 10 family 6).
// Presence (users.presence, setStatus, getStatus) is realtime's.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/store"
)

// avatarTypes are the picture types served back; anything else (SVG above all: it can
// carry script) is refused at upload.
var avatarTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// targetUser is the user a call acts on: the caller, or the one named by userId or username,
// which needs otherPerm unless it is the caller.
func (a *API) targetUser(c *call, otherPerm string) (*store.User, error) {
	// Empty values are absent: the Go SDK sends "userId": "" beside the username.
	id, _ := c.in.str("userId")
	name, _ := c.in.str("username")
	if id == "" && name == "" {
		return c.user, nil
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	if u.ID != c.user.ID {
		if err := a.need1(c, otherPerm, ""); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// usersSetAvatar1 takes a picture uploaded as the multipart field "image" (PNG, JPEG, GIF or
// WebP, by its bytes rather than its name or declared type, at most Limits.MaxAvatar bytes).
// A picture by URL is refused: the server fetches nothing on a user's behalf.
func (a *API) usersSetAvatar1(c *call) (any, error) {
	img, ok := c.in.files["image"]
	if !ok {
		if url, err := c.in.str("avatarUrl"); err != nil || url != "" {
			if err != nil {
				return nil, err
			}
			return nil, badRequest("error-avatar-url-not-supported",
				`Setting an avatar from a URL is not supported: upload the picture as the multipart field "image"`)
		}
		return nil, badRequest("error-invalid-params", `Upload the picture as the multipart field "image" (PNG, JPEG, GIF or WebP)`)
	}
	u, err := a.targetUser(c, rbac.EditOtherUserAvatar)
	if err != nil {
		return nil, err
	}
	if int64(len(img.data)) > a.limits.MaxAvatar {
		return nil, &store.Error{Kind: store.TooLarge, Code: "error-file-too-large",
			Message: fmt.Sprintf("The picture is larger than %d bytes", a.limits.MaxAvatar)}
	}
	ct := http.DetectContentType(img.data)
	if !avatarTypes[ct] {
		return nil, badRequest("error-invalid-image-type", "The picture must be PNG, JPEG, GIF or WebP")
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	if err := a.st.SetAvatar(u.ID, &store.Avatar{ContentType: ct, Data: img.data}); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

func (a *API) usersResetAvatar1(c *call) (any, error) {
	u, err := a.targetUser(c, rbac.EditOtherUserAvatar)
	if err != nil {
		return nil, err
	}
	if err := a.st.ResetAvatar(u.ID); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// avatar serves GET /avatar/:username: the uploaded picture, or else an SVG of the name's
// initials on a colour drawn from the name (for any name, as Rocket.Chat does, so the answer
// tells nothing of who exists). Browsers may cache either for an hour and revalidate.
func (a *API) avatar(c *call) (any, error) {
	name := c.ps.ByName("username")
	size := 200
	if s := c.r.URL.Query().Get("size"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			size = min(max(n, 16), 1024)
		}
	}
	var body []byte
	var ctype, etag string
	av, err := a.st.AvatarOf(name)
	switch {
	case err != nil && store.KindOf(err) != store.NotFound:
		return nil, err
	case av != nil:
		body, ctype, etag = av.Data, av.ContentType, `"`+av.ETag+`"`
	default:
		body, ctype = initialsSVG(name, size), "image/svg+xml"
		sum := sha256.Sum256(body)
		etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
	return rawReply(func(w http.ResponseWriter) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=3600, must-revalidate")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// An SVG opened on its own is a document: it may draw, never run or load anything.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
		if inm := c.r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if c.r.Method != http.MethodHead {
			w.Write(body)
		}
	}), nil
}

// avatarColors are Rocket.Chat's avatar colours.
var avatarColors = []string{"#F44336", "#E91E63", "#9C27B0", "#673AB7", "#3F51B5", "#2196F3",
	"#03A9F4", "#00BCD4", "#009688", "#4CAF50", "#8BC34A", "#CDDC39", "#FFC107", "#FF9800",
	"#FF5722", "#795548", "#9E9E9E", "#607D8B"}

// initials are Rocket.Chat's: the first letters of the first and last dot-separated parts of
// the name, or else its first two letters or digits; upper case.
func initials(name string) string {
	if parts := strings.Split(name, "."); len(parts) > 1 && parts[0] != "" && parts[len(parts)-1] != "" {
		first, _ := firstRune(parts[0])
		last, _ := firstRune(parts[len(parts)-1])
		return strings.ToUpper(string([]rune{first, last}))
	}
	var out []rune
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, r)
			if len(out) == 2 {
				break
			}
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return strings.ToUpper(string(out))
}

func firstRune(s string) (rune, bool) {
	for _, r := range s {
		return r, true
	}
	return '?', false
}

// initialsSVG draws the initials of name. Everything taken from the name is escaped.
func initialsSVG(name string, size int) []byte {
	h := fnv.New32a()
	h.Write([]byte(name))
	color := avatarColors[h.Sum32()%uint32(len(avatarColors))]
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" pointer-events="none" width="%d" height="%d" style="width: %dpx; height: %dpx; background-color: %s;">
<rect width="100%%" height="100%%" fill="%s"/>
<text text-anchor="middle" y="50%%" x="50%%" dy="0.36em" pointer-events="auto" fill="#ffffff" font-family="Helvetica, Arial, Lucida Grande, sans-serif" style="font-weight: 400; font-size: %dpx;">%s</text>
</svg>
`, size, size, size, size, color, color, size*5/8, html.EscapeString(initials(name)))
	return b.Bytes()
}

// usersCreateToken1 mints a login token for a user (user-generate-access-token, admins by
// default), as Rocket.Chat's users.createToken: {data: {userId, authToken}}.
func (a *API) usersCreateToken1(c *call) (any, error) {
	if err := a.need1(c, rbac.UserGenerateAccessToken, ""); err != nil {
		return nil, err
	}
	if !c.in.has("userId") && !c.in.has("username") {
		return nil, badRequest("error-invalid-params", `The parameter "userId" or "username" is required`)
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	tok := auth.NewToken()
	if err := a.st.AddToken(u, auth.HashToken(tok), a.st.Now().Add(a.cfg.TokenTTL)); err != nil {
		if err == store.ErrLoginRefused {
			return nil, badRequest("error-invalid-user", "The user is deactivated")
		}
		return nil, err
	}
	return J("data", J("userId", u.ID, "authToken", tok), "success", true), nil
}

// prefKind is the JSON type of one preference.
type prefKind int

const (
	prefBool prefKind = iota
	prefNumber
	prefString
	prefStrings
)

// preferences are the user preferences Rocket.Chat's clients read and write (users.
// setPreferences' schema); any other key is refused.
var preferences = map[string]prefKind{
	"newRoomNotification": prefString, "newMessageNotification": prefString,
	"clockMode": prefNumber, "useEmojis": prefBool, "convertAsciiEmoji": prefBool,
	"saveMobileBandwidth": prefBool, "collapseMediaByDefault": prefBool, "autoImageLoad": prefBool,
	"emailNotificationMode": prefString, "unreadAlert": prefBool, "notificationsSoundVolume": prefNumber,
	"desktopNotifications": prefString, "pushNotifications": prefString, "mobileNotifications": prefString,
	"enableAutoAway": prefBool, "highlights": prefStrings, "desktopNotificationDuration": prefNumber,
	"desktopNotificationRequireInteraction": prefBool, "messageViewMode": prefNumber,
	"hideUsernames": prefBool, "hideRoles": prefBool, "hideAvatars": prefBool, "hideFlexTab": prefBool,
	"sendOnEnter": prefString, "roomCounterSidebar": prefBool, "idleTimeLimit": prefNumber,
	"sidebarShowFavorites": prefBool, "sidebarShowUnread": prefBool, "sidebarSortby": prefString,
	"sidebarViewMode": prefString, "sidebarHideAvatar": prefBool, "sidebarGroupByType": prefBool,
	"sidebarShowDiscussion": prefBool, "muteFocusedConversations": prefBool, "language": prefString,
	"dontAskAgainList": prefStrings, "themeAppearence": prefString, "displayAvatars": prefBool,
	"showThreadsInMainChannel": prefBool, "alsoSendThreadToChannel": prefString,
}

// checkPreference checks one value against its kind: a string or list at most 1,000
// characters (100 entries), without control characters.
func checkPreference(key string, raw json.RawMessage) error {
	kind, ok := preferences[key]
	if !ok {
		return badRequest("error-invalid-params", "%q is not a known preference", key)
	}
	bad := badRequest("error-invalid-params", "preference %q has the wrong type", key)
	okText := func(s string) bool { return len([]rune(s)) <= 1000 && !hasControl(s, false) }
	switch kind {
	case prefBool:
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			return bad
		}
	case prefNumber:
		var v float64
		if json.Unmarshal(raw, &v) != nil {
			return bad
		}
	case prefString:
		var v string
		if json.Unmarshal(raw, &v) != nil || !okText(v) {
			return bad
		}
	case prefStrings:
		var v []string
		if json.Unmarshal(raw, &v) != nil || len(v) > 100 {
			return bad
		}
		for _, s := range v {
			if !okText(s) {
				return bad
			}
		}
	}
	return nil
}

// usersSetPreferences1 merges {data: {…}} into the user's preferences (the caller's own, or
// userId's with edit-other-user-info) and answers {user: {_id, settings: {preferences}}}.
func (a *API) usersSetPreferences1(c *call) (any, error) {
	var data map[string]json.RawMessage
	ok, err := c.in.decode("data", &data)
	if err != nil {
		return nil, err
	}
	if !ok || len(data) == 0 {
		return nil, badRequest("error-invalid-params", `The parameter "data" is required and must be a non-empty object of preferences`)
	}
	for k, v := range data {
		if err := checkPreference(k, v); err != nil {
			return nil, err
		}
	}
	u, err := a.targetUser(c, rbac.EditOtherUserInfo)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	prefs, err := a.st.SetPreferences(u.ID, data)
	if err != nil {
		return nil, err
	}
	return J("user", J("_id", u.ID, "settings", J("preferences", prefs)), "success", true), nil
}

func (a *API) usersGetPreferences1(c *call) (any, error) {
	prefs, err := a.st.Preferences(c.user.ID)
	if err != nil {
		return nil, err
	}
	return J("preferences", prefs, "success", true), nil
}
