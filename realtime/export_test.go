package realtime

// SetMaxBacklog lowers the hub's backlog limit for a test and returns the undo.
func SetMaxBacklog(n int) func() {
	old := maxBacklog
	maxBacklog = n
	return func() { maxBacklog = old }
}

// Hold stops the hub's dispatching (as a slow fan-out would) until the returned release.
func (h *Hub) Hold() (release func()) {
	h.mu.Lock()
	return h.mu.Unlock
}
