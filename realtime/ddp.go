package realtime

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"rocketlite/store"
)

// inMsg is any client message.
type inMsg struct {
	Msg     string            `json:"msg"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Name    string            `json:"name"`
	Params  []json.RawMessage `json:"params"`
	Version string            `json:"version"`
	Support []string          `json:"support"`
}

func errorMsg(reason string, offending []byte) any {
	m := map[string]any{"msg": "error", "reason": reason}
	if json.Valid(offending) {
		m["offendingMessage"] = json.RawMessage(offending)
	}
	return m
}

// handle answers one client message; the connection's messages are handled in order.
func (c *conn) handle(data []byte) {
	var m inMsg
	if err := json.Unmarshal(data, &m); err != nil {
		c.send(errorMsg("Bad request", data))
		return
	}
	if m.Msg == "" {
		// A reply to the server_id greeting or a client's own heartbeat: nothing to answer.
		if json.Valid(data) && strings.Contains(string(data), "server_id") {
			return
		}
		c.send(errorMsg("Bad request", data))
		return
	}
	if !c.connected && m.Msg != "connect" && m.Msg != "ping" && m.Msg != "pong" {
		c.send(errorMsg("Must connect first", data))
		return
	}
	switch m.Msg {
	case "connect":
		if c.connected {
			c.send(errorMsg("Already connected", data))
			return
		}
		if m.Version != "1" && m.Version != "pre2" && m.Version != "pre1" {
			c.send(map[string]string{"msg": "failed", "version": "1"})
			return
		}
		c.connected = true
		c.send(map[string]string{"msg": "connected", "session": store.NewID()})
	case "ping":
		if m.ID != nil {
			c.send(map[string]any{"msg": "pong", "id": m.ID})
		} else {
			c.send(map[string]string{"msg": "pong"})
		}
	case "pong":
	case "method":
		id, ok := stringID(m.ID)
		if !ok || m.Method == "" {
			c.send(errorMsg("Malformed method invocation", data))
			return
		}
		res, err := c.call(m.Method, m.Params)
		if err != nil {
			c.send(map[string]any{"msg": "result", "id": id, "error": c.ddpError(err)})
		} else {
			c.send(resultMsg{Msg: "result", ID: id, Result: res})
		}
		c.send(map[string]any{"msg": "updated", "methods": []string{id}})
		for _, f := range c.after {
			f()
		}
		c.after = c.after[:0]
	case "sub":
		id, ok := stringID(m.ID)
		if !ok || m.Name == "" {
			c.send(errorMsg("Malformed subscription", data))
			return
		}
		if err := c.subscribe(id, m.Name, m.Params); err != nil {
			c.send(map[string]any{"msg": "nosub", "id": id, "error": c.ddpError(err)})
			return
		}
		c.send(map[string]any{"msg": "ready", "subs": []string{id}})
	case "unsub":
		id, ok := stringID(m.ID)
		if !ok {
			c.send(errorMsg("Malformed unsubscription", data))
			return
		}
		c.srv.hub.mu.Lock()
		if s := c.subs[id]; s != nil {
			c.srv.hub.removeSub(s)
		}
		c.srv.hub.mu.Unlock()
		c.send(map[string]any{"msg": "nosub", "id": id})
	default:
		c.send(errorMsg("Bad request", data))
	}
}

// resultMsg keeps "result": null when a method returns nothing.
type resultMsg struct {
	Msg    string `json:"msg"`
	ID     string `json:"id"`
	Result any    `json:"result"`
}

func stringID(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" || len(s) > 128 {
		return "", false
	}
	return s, true
}

// ddpErr is a Meteor.Error.
type ddpErr struct {
	IsClientSafe bool   `json:"isClientSafe"`
	Error        any    `json:"error"`
	Reason       string `json:"reason"`
	Message      string `json:"message"`
	ErrorType    string `json:"errorType"`
}

// methodError is an error a method chose for the client.
type methodError struct {
	code   any
	reason string
}

func (e *methodError) Error() string { return e.reason }

var (
	errBadParams  = &methodError{"error-invalid-params", "Invalid parameters"}
	errNotLogged  = &methodError{"error-invalid-user", "Invalid user"}
	errNotAllowed = &methodError{"error-not-allowed", "Not allowed"}
	errLoginFail  = &methodError{403, "Incorrect password"}
	errResumeFail = &methodError{403, "You've been logged out by the server. Please log in again."}
)

// ddpError maps any error to the Meteor.Error the client gets; the store's errors keep their
// code and message as REST shows them.
func (c *conn) ddpError(err error) ddpErr {
	code, reason := any("error-internal"), "Internal server error"
	var me *methodError
	var se *store.Error
	switch {
	case errors.As(err, &me):
		code, reason = me.code, me.reason
	case errors.As(err, &se):
		reason = se.Message
		switch se.Kind {
		case store.TooMany:
			code = 429
		case store.Unauthorized:
			code, reason = errNotLogged.code, errNotLogged.reason
		case store.Denied, store.Forbidden:
			code, reason = errNotAllowed.code, errNotAllowed.reason
		default:
			code = se.Code
			if se.Code == "" {
				code = "error-invalid-request"
			} else if !strings.HasPrefix(se.Code, "error-") {
				code = "error-" + se.Code
			}
		}
	default:
		c.srv.log.Error().Err(err).Msg("realtime: method failed")
	}
	msg := reason
	switch v := code.(type) {
	case string:
		msg += " [" + v + "]"
	case int:
		msg += " [" + strconv.Itoa(v) + "]"
	}
	return ddpErr{IsClientSafe: true, Error: code, Reason: reason, Message: msg, ErrorType: "Meteor.Error"}
}
