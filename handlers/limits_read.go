package handlers

// Read limits: a byte budget per page of messages, and a token bucket per user for the reads
// whose cost grows with a parameter (chat.search, pages far down a room by offset).

import (
	"net/http"

	"rocketlite/store"
)

// ReadLimits bound what reads may cost. The zero value means the defaults.
type ReadLimits struct {
	// PageBytes is the byte budget of one page of messages (history, search), counted in
	// stored records: a page ends early, with the header X-Page-Truncated, before the message
	// that would take it past the budget. Default 1 MiB; negative: no budget.
	PageBytes int
	// SearchScan is how many of a room's newest messages one chat.search reads at most
	// (default store.SearchScanLimit).
	SearchScan int
	// ScanRate is how many searches and deep pages (offset of at least DeepOffset) one user
	// may request per second, sustained (default 2; negative: no limit). ScanBurst is the
	// bucket size (default 20).
	ScanRate  float64
	ScanBurst int
}

// DeepOffset is the offset from which a page counts against ScanRate: skipping messages
// costs a cursor step each, so a page 100,000 messages down costs what 100,000 cost.
const DeepOffset = 1000

const (
	defaultPageBytes = 1 << 20
	defaultScanRate  = 2
	defaultScanBurst = 20
)

func (l *ReadLimits) setDefaults() {
	if l.PageBytes == 0 {
		l.PageBytes = defaultPageBytes
	}
	if l.PageBytes < 0 {
		l.PageBytes = 0 // store: no budget
	}
	if l.SearchScan <= 0 {
		l.SearchScan = store.SearchScanLimit
	}
	if l.ScanRate == 0 {
		l.ScanRate = defaultScanRate
	}
	if l.ScanBurst <= 0 {
		l.ScanBurst = defaultScanBurst
	}
}

// allowScan takes one token from the user's bucket for a search or a deep page, or returns a
// 429 saying when the next one comes.
func (a *API) allowScan(u *store.User) error {
	return a.scans.take(u.ID, a.st.Now())
}

// history reads a page of messages under the page budget; a deep offset costs a scan token.
func (a *API) history(c *call, rid string, q store.HistoryQuery) ([]*store.Message, error) {
	if q.Offset >= DeepOffset {
		if err := a.allowScan(c.user); err != nil {
			return nil, err
		}
	}
	q.MaxBytes = a.reads.PageBytes
	p, err := a.st.HistoryPage(rid, c.user, q)
	if err != nil {
		return nil, err
	}
	markTruncated(c.w, p)
	return p.Messages, nil
}

// search runs a chat.search under the scan budget, the page budget and the scan rate.
func (a *API) search(c *call, rid, text string, count int) ([]*store.Message, error) {
	if err := a.allowScan(c.user); err != nil {
		return nil, err
	}
	p, err := a.st.SearchPage(rid, c.user, store.SearchQuery{Text: text, Count: count,
		MaxBytes: a.reads.PageBytes, MaxScan: a.reads.SearchScan})
	if err != nil {
		return nil, err
	}
	markTruncated(c.w, p)
	return p.Messages, nil
}

// markTruncated tells the client that a page ended on its byte budget, not at the end of
// the room: it asks again from the page's last message.
func markTruncated(w http.ResponseWriter, p store.Page) {
	if p.Truncated {
		w.Header().Set("X-Page-Truncated", "true")
	}
}
