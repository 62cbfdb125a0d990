// Package netlimit caps the connections a server holds: in all, and per client address.
package netlimit

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/netutil"
)

// Listener returns ln with at most total connections open at once (Accept waits while the
// server is full, so new clients queue in the kernel's backlog) and at most perAddr from one
// client IP address (more are closed at once, before a byte is read). exempt, if not nil,
// names addresses without a per-address cap: a reverse proxy carries many clients on one
// address. A cap of 0 or less is no cap.
func Listener(ln net.Listener, total, perAddr int, exempt func(netip.Addr) bool) net.Listener {
	if perAddr > 0 {
		ln = &perAddrListener{Listener: ln, max: perAddr, exempt: exempt, open: map[netip.Addr]int{}}
	}
	if total > 0 {
		ln = netutil.LimitListener(ln, total)
	}
	return ln
}

type perAddrListener struct {
	net.Listener
	max    int
	exempt func(netip.Addr) bool

	mu   sync.Mutex
	open map[netip.Addr]int // connections open per address; only addresses with some
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrOf(c.RemoteAddr())
		if !ip.IsValid() || (l.exempt != nil && l.exempt(ip)) {
			return c, nil
		}
		l.mu.Lock()
		full := l.open[ip] >= l.max
		if !full {
			l.open[ip]++
		}
		l.mu.Unlock()
		if full {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *perAddrListener) release(ip netip.Addr) {
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	l.mu.Unlock()
}

type countedConn struct {
	net.Conn
	l    *perAddrListener
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
