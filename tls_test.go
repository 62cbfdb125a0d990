package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of an outside program a test drives. Without it the test skips
// under plain `go test`, but fails in CI (CI=true), where .ci/run installs it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian package %s; .ci/run installs it)", name, pkg)
		}
		t.Skipf("%s is missing: apt-get install %s", name, pkg)
	}
	return p
}

// selfSigned makes the --tls-self-signed files of a database in a temporary directory.
func selfSigned(t *testing.T) (cert, key, ca string) {
	t.Helper()
	cert, key, ca = selfSignedPaths(filepath.Join(t.TempDir(), "s.db"))
	if why, err := ensureSelfSigned(cert, key, ca, time.Now()); err != nil || why == "" {
		t.Fatalf("ensureSelfSigned: %q %v", why, err)
	}
	return cert, key, ca
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(must(os.ReadFile(path)))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	return must(x509.ParseCertificate(b.Bytes))
}

// TestSelfSignedShape: the served certificate is a leaf (no CA) for the served names, signed
// by a CA that may vouch for those names only, and whose private key is nowhere on disk.
func TestSelfSignedShape(t *testing.T) {
	cert, _, caFile := selfSigned(t)
	leaf, ca := readCert(t, cert), readCert(t, caFile)

	if !leaf.BasicConstraintsValid || leaf.IsCA {
		t.Fatalf("leaf: basic constraints %v, CA %v; want a leaf", leaf.BasicConstraintsValid, leaf.IsCA)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("leaf EKU %v, want serverAuth only", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatalf("leaf key usage %b, want digitalSignature only", leaf.KeyUsage)
	}
	if !slices.Contains(leaf.DNSNames, "localhost") {
		t.Fatalf("leaf DNS names %v lack localhost", leaf.DNSNames)
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Fatalf("leaf addresses %v lack %s", leaf.IPAddresses, ip)
		}
	}
	if leaf.CheckSignatureFrom(ca) != nil {
		t.Fatal("the leaf is not signed by the CA file")
	}

	if !ca.IsCA || !ca.MaxPathLenZero || ca.MaxPathLen != 0 {
		t.Fatalf("CA: IsCA %v, MaxPathLen %d (zero %v); want a CA that signs no other CA", ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign {
		t.Fatalf("CA key usage %b, want certSign only", ca.KeyUsage)
	}
	if !ca.PermittedDNSDomainsCritical || !slices.Equal(ca.PermittedDNSDomains, leaf.DNSNames) {
		t.Fatalf("CA name constraints: critical %v, DNS %v; want exactly the leaf's %v",
			ca.PermittedDNSDomainsCritical, ca.PermittedDNSDomains, leaf.DNSNames)
	}
	if len(ca.PermittedIPRanges) != len(leaf.IPAddresses) {
		t.Fatalf("CA permits %v, leaf has %v", ca.PermittedIPRanges, leaf.IPAddresses)
	}
	for i, r := range ca.PermittedIPRanges {
		if ones, bits := r.Mask.Size(); !r.IP.Equal(leaf.IPAddresses[i]) || ones != bits {
			t.Fatalf("CA permits the range %v, want the single address %v", r, leaf.IPAddresses[i])
		}
	}
	// Only three files: the CA's key was never written.
	entries := must(os.ReadDir(filepath.Dir(cert)))
	if len(entries) != 3 {
		t.Fatalf("files beside the database: %v, want the certificate, its key and the CA", entries)
	}

	// Go's verifier: valid for the names served, for serverAuth, and for nothing else.
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("Go refuses %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("the leaf is valid for example.com")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the leaf is valid for client authentication")
	}
}

// TestSelfSignedNameConstraints: a certificate for another name, issued by a CA of the same
// shape, is refused because of the constraints (the generated CA's key is gone, so the test
// builds a twin with the same template).
func TestSelfSignedNameConstraints(t *testing.T) {
	_, _, caFile := selfSigned(t)
	real := readCert(t, caFile)
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := *real
	tmpl.SubjectKeyId, tmpl.PublicKey = nil, nil
	twinDER := must(x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key))
	twin := must(x509.ParseCertificate(twinDER))
	roots := x509.NewCertPool()
	roots.AddCert(twin)
	issue := func(dns string) *x509.Certificate {
		leaf := &x509.Certificate{SerialNumber: randSerial(), Subject: pkix.Name{CommonName: dns},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true, DNSNames: []string{dns}}
		return must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, leaf, twin, &key.PublicKey, key))))
	}
	if _, err := issue("localhost").Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Fatalf("a permitted name is refused: %v", err)
	}
	_, err := issue("bank.example").Verify(x509.VerifyOptions{DNSName: "bank.example", Roots: roots})
	if _, ok := err.(x509.CertificateInvalidError); !ok || !strings.Contains(err.Error(), "constraint") {
		t.Fatalf("a certificate for another name verified under the CA: %v", err)
	}
}

// TestSelfSignedOtherVerifiers: OpenSSL, GnuTLS and NSS (libpurple's TLS stack on Debian, also
// Firefox's) accept the leaf for localhost when the CA is trusted. NSS refused the
// certificate of earlier versions, a CA with the serverAuth usage, as "Certificate type not
// approved for application": the last subtest shows that shape failing.
func TestSelfSignedOtherVerifiers(t *testing.T) {
	cert, _, ca := selfSigned(t)
	run := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Run("openssl", func(t *testing.T) {
		openssl := needTool(t, "openssl", "openssl")
		out := run(t, openssl, "verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "localhost",
			"-verify_ip", "127.0.0.1", "-CAfile", ca, cert)
		if !strings.Contains(out, ": OK") {
			t.Fatalf("openssl verify: %s", out)
		}
	})
	t.Run("gnutls", func(t *testing.T) {
		certtool := needTool(t, "certtool", "gnutls-bin")
		run(t, certtool, "--verify", "--load-ca-certificate", ca, "--infile", cert,
			"--verify-hostname", "localhost", "--verify-purpose", "1.3.6.1.5.5.7.3.1")
	})
	nssValid := func(t *testing.T, leaf, root string) (bool, string) {
		certutil := needTool(t, "certutil", "libnss3-tools")
		db := "sql:" + t.TempDir()
		run(t, certutil, "-N", "-d", db, "--empty-password")
		run(t, certutil, "-A", "-d", db, "-n", "root", "-t", "C,,", "-i", root)
		if leaf != root {
			run(t, certutil, "-A", "-d", db, "-n", "leaf", "-t", ",,", "-i", leaf)
		}
		nick := "leaf"
		if leaf == root {
			nick = "root"
		}
		out, err := exec.Command(certutil, "-V", "-d", db, "-n", nick, "-u", "V").CombinedOutput()
		return err == nil && strings.Contains(string(out), "certificate is valid"), string(out)
	}
	t.Run("nss", func(t *testing.T) {
		if ok, out := nssValid(t, cert, ca); !ok {
			t.Fatalf("NSS refuses the certificate as an SSL server: %s", out)
		}
	})
	t.Run("nss refuses the old shape", func(t *testing.T) {
		old, _ := oldShapeCert(t)
		if ok, out := nssValid(t, old, old); ok {
			t.Fatalf("NSS accepted a CA with serverAuth as an SSL server: %s", out)
		}
	})
}

// TestTLSGnuTLSClient: gnutls-cli (the GnuTLS that libpurple can be built with) completes a
// handshake with the server when it trusts the CA file, and fails when it offers TLS 1.2
// with CBC suites only.
func TestTLSGnuTLSClient(t *testing.T) {
	cli := needTool(t, "gnutls-cli", "gnutls-bin")
	db := filepath.Join(t.TempDir(), "g.db")
	srv := startInProc(t, "--db", db, "--tls-self-signed")
	_, _, ca := selfSignedPaths(db)
	port := srv.base[strings.LastIndexByte(srv.base, ':')+1:]
	hello := func(extra ...string) (string, error) {
		args := append([]string{"--x509cafile", ca, "--port", port}, extra...)
		cmd := exec.Command(cli, append(args, "localhost")...)
		cmd.Stdin = strings.NewReader("") // end of input: close after the handshake
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := hello(); err != nil || !strings.Contains(out, "Handshake was completed") {
		t.Fatalf("gnutls-cli: %v\n%s", err, out)
	}
	if out, err := hello("--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC"); err == nil || strings.Contains(out, "Handshake was completed") {
		t.Fatalf("gnutls-cli with CBC suites only got through:\n%s", out)
	}
	if out, err := hello("--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM"); err != nil || !strings.Contains(out, "Handshake was completed") {
		t.Fatalf("gnutls-cli with TLS 1.2 and AES-GCM: %v\n%s", err, out)
	}
}

// oldShapeCert writes the certificate that --tls-self-signed made before: one self-signed
// certificate that is both a CA (without name constraints) and the server's certificate.
func oldShapeCert(t *testing.T) (cert, key string) {
	t.Helper()
	k := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "rocketlite old"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(825 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	return writeCertPair(t, tmpl, k, "old.cert.pem", "old.key.pem")
}

// TestSelfSignedReplacesOldShape: a database that an earlier version served with
// --tls-self-signed has the old CA-as-server certificate beside it; the next start replaces it
// with a CA and a leaf, and says so in the log.
func TestSelfSignedReplacesOldShape(t *testing.T) {
	db := filepath.Join(t.TempDir(), "o.db")
	cert, key, ca := selfSignedPaths(db)
	oc, ok := oldShapeCert(t)
	for src, dst := range map[string]string{oc: cert, ok: key} {
		if err := os.WriteFile(dst, must(os.ReadFile(src)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := startInProc(t, "--db", db, "--tls-self-signed")
	if log := srv.log.String(); !strings.Contains(log, "earlier version") {
		t.Fatalf("no word of the replacement in the log:\n%s", log)
	}
	if readCert(t, cert).IsCA {
		t.Fatal("the old CA certificate is still served")
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, ca))
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.base, "http://"), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// TestTLSOnlyAEAD: TLS 1.2 clients that offer only CBC suites are refused, with the generated
// ECDSA certificate and with an RSA certificate of the operator's (--tls-cert); AEAD suites
// and TLS 1.3 work.
func TestTLSOnlyAEAD(t *testing.T) {
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	}
	rsaCert, rsaKey := rsaPair(t)
	for name, args := range map[string][]string{
		"self-signed ECDSA": {"--tls-self-signed"},
		"operator's RSA":    {"--tls-cert", rsaCert, "--tls-key", rsaKey},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startInProc(t, append([]string{"--db", filepath.Join(t.TempDir(), "a.db")}, args...)...)
			addr := strings.TrimPrefix(srv.base, "http://")
			dial := func(c *tls.Config) (*tls.ConnectionState, error) {
				c.InsecureSkipVerify = true // the suites are under test here, not the chain
				conn, err := tls.Dial("tcp", addr, c)
				if err != nil {
					return nil, err
				}
				defer conn.Close()
				st := conn.ConnectionState()
				return &st, nil
			}
			if st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
				t.Fatalf("a TLS 1.2 client offering only CBC suites got %s", tls.CipherSuiteName(st.CipherSuite))
			}
			for _, s := range aeadSuites {
				st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s}})
				wantOK := strings.Contains(tls.CipherSuiteName(s), "ECDSA") == (name == "self-signed ECDSA")
				switch {
				case wantOK && err != nil:
					t.Errorf("%s refused: %v", tls.CipherSuiteName(s), err)
				case wantOK && st.CipherSuite != s:
					t.Errorf("offered %s, got %s", tls.CipherSuiteName(s), tls.CipherSuiteName(st.CipherSuite))
				}
			}
			if st, err := dial(&tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
				t.Fatalf("default client: %v %+v", err, st)
			}
		})
	}
}

// writeCertPair self-signs tmpl with k and writes the certificate and the PKCS #8 key as PEM
// files named cert and key in a temp dir, returning their paths.
func writeCertPair(t *testing.T, tmpl *x509.Certificate, k crypto.Signer, cert, key string) (string, string) {
	t.Helper()
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k))
	dir := t.TempDir()
	cert, key = filepath.Join(dir, cert), filepath.Join(dir, key)
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(k))}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// rsaPair writes a self-signed RSA certificate for localhost, such as an operator brings.
func rsaPair(t *testing.T) (cert, key string) {
	t.Helper()
	k := must(rsa.GenerateKey(rand.Reader, 2048))
	tmpl := &x509.Certificate{SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	return writeCertPair(t, tmpl, k, "rsa.pem", "rsa.key")
}
