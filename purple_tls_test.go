package main

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
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

	ircPort := freePort(t)
	conf := filepath.Join(dir, "bitlbee.conf")
	os.MkdirAll(filepath.Join(dir, "bitlbee"), 0o700)
	os.WriteFile(conf, []byte(fmt.Sprintf("[settings]\nRunMode = ForkDaemon\nDaemonInterface = 127.0.0.1\nDaemonPort = %d\nAuthMode = Open\nConfigDir = %s\n",
		ircPort, filepath.Join(dir, "bitlbee"))), 0o600)
	cmd := exec.Command(bitlbee, "-F", "-n", "-c", conf)
	blog := &lockedBuffer{}
	cmd.Env = append(os.Environ(), "BITLBEE_DEBUG=1")
	cmd.Stdout, cmd.Stderr = blog, blog
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bitlbee log:\n%s", blog)
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	irc := dialIRC(t, fmt.Sprintf("127.0.0.1:%d", ircPort))
	irc.send("NICK t")
	irc.send("USER t 0 * :t")
	irc.await("welcome", " 001 ")
	irc.send("PRIVMSG &bitlbee :account add eionrobb-rocketchat ircuser|localhost:" + port + " ircpass")
	irc.await("account added", "&bitlbee", "Account successfully added")
	irc.send("PRIVMSG &bitlbee :account 0 on")
	// "Logged in" needs the TLS handshake, the certificate check and the DDP login.
	irc.await("login over TLS with the local CA", "&bitlbee", "Logged in")
}
