package realtime

import (
	"encoding/json"
	"strings"
)

// Streams (REALTIME.md "Streams"). A subscription names a stream and, as its first param,
// an event name; every event goes out as changed {collection: stream, id: "id", fields:
// {eventName, args}}.
const (
	streamRoomMessages = "stream-room-messages"
	streamNotifyRoom   = "stream-notify-room"
	streamNotifyUser   = "stream-notify-user"
	streamNotifyLogged = "stream-notify-logged"
	streamNotifyAll    = "stream-notify-all"
	myMessages         = "__my_messages__"
)

// quietStreams are accepted (ready) and never emit: clients subscribe to them on start.
var quietStreams = map[string]bool{
	"activeUsers":                       true,
	"meteor.loginServiceConfiguration":  true,
	"meteor_autoupdate_clientVersions":  true,
	"userData":                          true,
	"roles":                             true,
	"stream-roles":                      true,
	"stream-importers":                  true,
	"stream-apps":                       true,
	"stream-user-presence":              true,
	"stream-notify-all-public-settings": true,
}

// subscribe checks a subscription and registers it with the hub. Room streams apply the
// store's room-access rule now, and the hub applies it again whenever it may change.
func (c *conn) subscribe(id, name string, params []json.RawMessage) error {
	u := c.user.Load()
	if quietStreams[name] {
		return nil
	}
	switch name {
	case streamRoomMessages, streamNotifyRoom, streamNotifyUser, streamNotifyLogged, streamNotifyAll:
	default:
		return &methodError{404, "Subscription '" + name + "' not found"}
	}
	eventName, err := stringParam(params, 0)
	if err != nil {
		return err
	}
	if u == nil {
		return errNotLogged
	}
	s := &sub{c: c, id: id, key: subKey(name, eventName), allowed: true}
	switch name {
	case streamRoomMessages:
		if eventName == myMessages {
			s.my = true
		} else {
			s.rid = eventName
		}
	case streamNotifyRoom:
		rid, _, ok := strings.Cut(eventName, "/")
		if !ok || rid == "" {
			return errBadParams
		}
		s.rid = rid
	case streamNotifyUser:
		uid, _, ok := strings.Cut(eventName, "/")
		if !ok || uid != u.ID {
			return errNotAllowed
		}
	}
	h := c.srv.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := c.subs[id]; old != nil {
		h.removeSub(old)
	}
	if s.rid != "" {
		// Under the hub's lock: no event can slip between this check and the registration.
		if err := h.st.MayRead(s.rid, u); err != nil {
			return err
		}
	}
	if c.uid() != u.ID {
		return errNotLogged // logged out meanwhile
	}
	h.addSub(s)
	return nil
}
