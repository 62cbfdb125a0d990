package main

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPurpleAcceptsSelfSignedCA: the purple-rocketchat bridge (libpurple, whose TLS stack on
// Debian is NSS) logs in to a server started with --tls-self-signed once the system trusts
// <db>.ca.pem. It refused the self-signed CA certificate of earlier versions ("The certificate
// chain presented is invalid", REALTIME.md); TestSelfSignedOtherVerifiers shows why (NSS).
func TestPurpleAcceptsSelfSignedCA(t *testing.T) {
	bitlbee := needPurple(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "rl.db")
	p := startProc(t, nil, bin, "--db", db, "--tls-self-signed")
	_, _, caFile := selfSignedPaths(db)
	caPEM := must(os.ReadFile(caFile))
	trustSystemWide(t, caPEM)

	base := strings.Replace(strings.Replace(p.base, "http://", "https://", 1), "127.0.0.1", "localhost", 1)
	port := base[strings.LastIndex(base, ":")+1:]
	client := newClient()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots
	admin := loginAdmin(t, client, base)
	if st, obj, err := call(client, "POST", base+"/api/v1/users.create", admin, url.Values{
		"username": {"ircuser"}, "email": {"irc@example.org"}, "name": {"IRC User"}, "password": {"ircpass"}}); err != nil || st != 200 {
		t.Fatalf("users.create: %d %v %v", st, obj, err)
	}

	// "Logged in" needs the TLS handshake, the certificate check and the DDP login.
	bitlbeeLogin(t, bitlbee, dir, port, "login over TLS with the local CA")
}
