package handlers

import (
	"net/http"
	"rocketlite/rbac"
	"rocketlite/store"
	"strconv"
	"time"
)

// backup streams a consistent copy of the live database: one read transaction, so writers go
// on while it runs. The copy is a complete bbolt file; restore it by stopping the server and
// putting it in place of the database.
func (a *API) backup(c *call) (any, error) {
	if err := rbac.Require(a.st, c.user, rbac.Backup); err != nil {
		return nil, err
	}
	fb, ok := a.st.(store.FileBackend)
	if !ok {
		return nil, errNoFileBackup
	}
	return rawReply(func(w http.ResponseWriter) {
		// The read transaction lasts as long as the client reads, and a long one keeps bbolt
		// from remapping a growing file: give the client time for about 1 MiB/s, not forever.
		start := time.Now()
		n, err := fb.Backup(func(size int64) {
			h := w.Header()
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Disposition", `attachment; filename="rocketlite-`+start.UTC().Format("20060102T150405Z")+`.db"`)
			h.Set("Content-Length", strconv.FormatInt(size, 10))
			h.Set("X-Content-Type-Options", "nosniff")
			deadline := start.Add(time.Minute + time.Duration(size>>20)*time.Second)
			_ = http.NewResponseController(w).SetWriteDeadline(deadline)
			w.WriteHeader(http.StatusOK)
		}, w)
		ev := a.log.Info()
		if err != nil {
			// The status is gone already; the short body (under Content-Length) tells the client.
			ev = a.log.Error().Err(err)
		}
		ev.Str("id", requestID(c.r)).Str("user", c.user.Username).Int64("bytes", n).Dur("duration", time.Since(start)).Msg("backup")
	}), nil
}

// errNoFileBackup answers a backup request to a server on PostgreSQL: its database is not
// one file to stream; pg_dump (or the provider's snapshots) copies it consistently.
var errNoFileBackup = &store.Error{Kind: store.Invalid, Code: "error-backup-not-supported",
	Message: "This server keeps its data in PostgreSQL: back it up with pg_dump"}
