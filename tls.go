package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// aeadSuites are the TLS 1.2 cipher suites served: ECDHE key exchange with an AEAD cipher
// only. Go's defaults still include CBC suites (ECDHE with AES-CBC-SHA), whose MAC-then-encrypt
// construction has a long record of padding-oracle and timing attacks (Lucky13 and kin).
// Every TLS 1.3 suite is AEAD, and Go does not let TLS 1.3 suites be configured anyway.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// serverTLS returns the TLS configuration of the server, or nil to serve plain HTTP.
func serverTLS(cfg *serveConfig, log zerolog.Logger) (*tls.Config, error) {
	certFile, keyFile := cfg.tlsCert, cfg.tlsKey
	if cfg.tlsSelfSigned {
		var caFile string
		base := cfg.db
		if isPostgres(base) {
			base = "rocketlite" // the data is elsewhere: the files go to the working directory
		}
		certFile, keyFile, caFile = selfSignedPaths(base)
		why, err := ensureSelfSigned(certFile, keyFile, caFile, time.Now())
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		if why != "" {
			log.Warn().Str("ca", caFile).Str("cert", certFile).Str("why", why).
				Msg("created a local CA and a TLS certificate it signed: clients must trust the CA file (LAN and development use)")
		}
	}
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	if leaf := cert.Leaf; leaf != nil {
		sum := sha256.Sum256(leaf.Raw)
		log.Info().Str("cert", certFile).Time("notAfter", leaf.NotAfter).
			Str("sha256", hex.EncodeToString(sum[:])).Msg("serving HTTPS")
		if time.Now().After(leaf.NotAfter) {
			log.Warn().Msg("the TLS certificate has expired")
		}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: aeadSuites,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// selfSignedPaths are the files of --tls-self-signed: beside the database, named after it, so
// that two databases in one directory keep two sets. ca is the certificate clients trust.
func selfSignedPaths(db string) (cert, key, ca string) {
	return db + ".cert.pem", db + ".key.pem", db + ".ca.pem"
}

// selfSignedLife is how long the generated CA and leaf are valid: 825 days, the longest that
// Apple's TLS stack accepts for a server certificate.
const selfSignedLife = 825 * 24 * time.Hour

// ensureSelfSigned makes sure that certFile and keyFile hold a server certificate for this
// machine's names and addresses, signed by the local CA in caFile. It creates all three unless
// they exist, the certificate is no CA and is valid for at least another day, and it chains
// to caFile. It returns why it created them ("" when it did not).
//
// The CA is what clients trust, so it must not be able to vouch for anything else: it is
// name-constrained to the names and addresses of the leaf, may sign no further CA, and its
// private key is never written anywhere — it signs this one leaf and is forgotten. A new leaf
// therefore comes with a new CA (once in 825 days, or when the files are removed).
//
// Earlier versions made one self-signed certificate that was both CA and server certificate.
// NSS (libpurple, Firefox) refuses such a certificate for a server ("Certificate type not
// approved for application": a CA with the serverAuth usage is an SSL CA to NSS, not an SSL
// server), and trusting it trusted an unconstrained CA: that shape is replaced at start.
func ensureSelfSigned(certFile, keyFile, caFile string, now time.Time) (why string, err error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		why = "no certificate yet"
	case err != nil:
		return "", err // a damaged pair is the operator's to look at, not to overwrite
	case pair.Leaf.IsCA:
		why = "replaced the self-signed CA certificate of an earlier version: trust " + filepath.Base(caFile) + " instead, and remove the old certificate from trust stores"
	case !now.Add(24 * time.Hour).Before(pair.Leaf.NotAfter):
		why = "the certificate expires within a day"
	default:
		caPEM, err := os.ReadFile(caFile)
		if errors.Is(err, os.ErrNotExist) {
			why = "the CA file was missing"
			break
		}
		if err != nil {
			return "", err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(caPEM) {
			return "", fmt.Errorf("%s holds no PEM certificate (remove %s, %s and %s to make new ones)", caFile, caFile, certFile, keyFile)
		}
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return "", fmt.Errorf("%s is not signed by %s: %w (remove the three files to make new ones)", certFile, caFile, err)
		}
		return "", nil
	}
	return why, makeSelfSigned(certFile, keyFile, caFile, now)
}

// servedNames are the names and addresses a LAN client may use to reach this machine:
// localhost, the host name (if it is a valid DNS name), loopback and the interfaces' addresses.
func servedNames() (dns []string, ips []net.IP) {
	dns = []string{"localhost"}
	if host, _ := os.Hostname(); host != "" {
		host = strings.ToLower(host)
		if host != "localhost" && hostnameRE.MatchString(host) {
			dns = append(dns, host)
		}
	}
	ips = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				ip := ipn.IP
				if v4 := ip.To4(); v4 != nil {
					ip = v4
				}
				ips = append(ips, ip)
			}
		}
	}
	return dns, ips
}

// hostnameRE is a DNS name of letter-digit-hyphen labels: what a certificate's name may hold.
var hostnameRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

func makeSelfSigned(certFile, keyFile, caFile string, now time.Time) error {
	dns, ips := servedNames()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	host := dns[len(dns)-1] // the host name if there is one, else localhost
	ranges := make([]*net.IPNet, len(ips))
	for i, ip := range ips {
		ranges[i] = &net.IPNet{IP: ip, Mask: net.CIDRMask(8*len(ip), 8*len(ip))}
	}
	ca := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject: pkix.Name{CommonName: "rocketlite local CA " + host + " " + now.UTC().Format("2006-01-02"),
			Organization: []string{"rocketlite (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs server certificates, never another CA
		// Trusting this CA trusts these names and addresses and nothing else.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         dns,
		PermittedIPRanges:           ranges,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: host, Organization: []string{"rocketlite (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first, then the leaf, then the CA: a start interrupted half-way finds a pair that
	// does not load or a missing CA file, and makes all three again.
	if err := writeFileMode(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeFileMode(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	// The CA certificate is public: users copy it into their trust stores.
	return writeFileMode(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
}

func randSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+: it crashes the program itself)
	}
	return serial
}

// writeFileMode writes data to path through a synced temporary file and a rename.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// parseSize reads a byte count with an optional K, M or G suffix (powers of 1024; a trailing
// "B" or "iB" is allowed).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512K, 64M, 2G)", s)
	}
	return v * mult, nil
}
