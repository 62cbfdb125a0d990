package handlers

import (
	"net/http"
	"sync"
	"time"
)

// refusalLog logs a limit's refusals (429) once per limit, key and window: an attacker who
// hammers a locked account or a client past its rate would otherwise write one warning per
// request, and the log would grow as fast as the attack.
type refusalLog struct {
	mu    sync.Mutex
	until map[string]time.Time // limit ∥ key → end of the window already logged
}

// maxRefusalKeys bounds the table: past it, expired entries are dropped, and if it is still
// full a new key is not logged (the access log still has every request).
const maxRefusalKeys = 4096

func (l *refusalLog) log(a *API, r *http.Request, re *retryError) {
	e, _ := asPublic(re)
	limit := ""
	if e != nil {
		limit = e.Message
	}
	client := a.clientAddr(r)
	uid := ""
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		uid = info.uid
	}
	key := re.key
	if key == "" {
		key = client + "|" + uid
	}
	now := time.Now()
	l.mu.Lock()
	if l.until == nil {
		l.until = map[string]time.Time{}
	}
	k := limit + "|" + key
	if now.Before(l.until[k]) {
		l.mu.Unlock()
		return
	}
	if _, known := l.until[k]; !known && len(l.until) >= maxRefusalKeys {
		for kk, t := range l.until {
			if !now.Before(t) {
				delete(l.until, kk)
			}
		}
		if len(l.until) >= maxRefusalKeys {
			l.mu.Unlock()
			return
		}
	}
	l.until[k] = now.Add(re.after)
	l.mu.Unlock()

	ev := a.log.Warn().Str("id", requestID(r)).Str("limit", limit).Str("client", client).
		Dur("retryAfter", re.after)
	if uid != "" {
		ev = ev.Str("uid", uid)
	}
	if re.account != "" {
		ev = ev.Str("account", re.account)
	}
	ev.Msg("refusing with 429 until the window passes (logged once per limit, key and window)")
}
