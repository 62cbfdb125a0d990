package handlers

import (
	"net/http"
	"rocketlite/store"
)

// healthz answers while the process runs: it does no I/O, so a stuck disk does not make a
// supervisor restart a process that would recover.
func (a *API) healthz(c *call) (any, error) {
	return J("status", "ok"), nil
}

// readyz answers 200 when the database answers a read and the last commit did not fail.
func (a *API) readyz(c *call) (any, error) {
	if _, err := a.st.Meta("schema"); err != nil {
		a.log.Error().Err(err).Msg("readiness: the database does not answer")
		return notReady("the database does not answer"), nil
	}
	if err := a.st.Healthy(); err != nil {
		return notReady("the last commit failed; see the log"), nil
	}
	out := J("status", "ok")
	if d, ok := a.st.(store.Describer); ok {
		out = out.With("database", d.Describe())
	}
	if a.cfg.RealtimeStats != nil {
		sockets, subs := a.cfg.RealtimeStats()
		rt := J("sockets", sockets, "subscriptions", subs)
		if a.cfg.OtherNodes != nil {
			if n, ok := a.cfg.OtherNodes(); ok {
				rt = rt.With("otherNodes", n)
			}
		}
		out = out.With("realtime", rt)
	}
	return out, nil
}

func notReady(why string) rawReply {
	return func(w http.ResponseWriter) {
		writeJSON(w, http.StatusServiceUnavailable, J("status", "error", "message", why))
	}
}
