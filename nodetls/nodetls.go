// Package nodetls is the cluster's own public key infrastructure: a CA that
// tablecast makes, node certificates it signs, and the TLS settings every
// node-to-node connection uses (LiteFS replication, raft, the node API).
//
// Both ends of every connection present a node certificate and verify the
// other's against the cluster CA: mutual TLS 1.3, nothing older.
package nodetls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// NodeOU is the organizational unit of every node certificate: a peer
// must present a certificate that carries it, signed by the cluster CA.
const NodeOU = "tablecast node"

// File names written by NewCA and IssueNode.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// AnyNode is the name of a shared node certificate: one any node may
// hold, whatever its name (for platforms that name machines at boot, like
// Fly.io). Its files are any-node.crt and any-node.key.
const AnyNode = "*"

// Default lifetimes.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultNodeValidity = 2 * 365 * 24 * time.Hour
)

// Config holds a node's certificate and the cluster CA it trusts.
type Config struct {
	pool *x509.CertPool
	cert tls.Certificate
	leaf *x509.Certificate
}

// Load reads the CA certificate, the node certificate and its key (PEM).
func Load(caPath, certPath, keyPath string) (*Config, error) {
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", caPath)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse node certificate: %w", err)
	}
	cert.Leaf = leaf
	c := &Config{pool: pool, cert: cert, leaf: leaf}
	// A node whose own certificate its peers would refuse cannot work:
	// say so at start, not at the first connection.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("node certificate %s: %w", certPath, err)
	}
	if err := checkNode(leaf); err != nil {
		return nil, fmt.Errorf("node certificate %s: %w", certPath, err)
	}
	return c, nil
}

// Name is the node name in this node's certificate (its common name).
func (c *Config) Name() string { return c.leaf.Subject.CommonName }

// NotAfter is when this node's certificate expires.
func (c *Config) NotAfter() time.Time { return c.leaf.NotAfter }

// Server is the TLS configuration of a listener that only peers with a
// node certificate of the cluster CA get through. nextProtos are offered
// by ALPN (e.g. "h2").
func (c *Config) Server(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{c.cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        c.pool,
		NextProtos:       nextProtos,
		VerifyConnection: verifyPeer,
	}
}

// Client is the TLS configuration to dial a peer: it presents this node's
// certificate and accepts only a node certificate of the cluster CA.
//
// The peer's host name is not matched against its certificate: node
// addresses change (a Fly.io machine gets a new private IP when it moves),
// and any holder of a node certificate is a member of the cluster anyway.
// What is checked is what proves membership: the chain to the cluster CA,
// the validity period, the server key usage and the node OU.
func (c *Config) Client(nextProtos ...string) *tls.Config {
	pool := c.pool
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{c.cert},
		InsecureSkipVerify: true, // replaced by VerifyConnection, which verifies the chain
		NextProtos:         nextProtos,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(pool, cs)
		},
	}
}

// verifyServer verifies a server's chain against the cluster CA, then
// that it is a node certificate.
func verifyServer(pool *x509.CertPool, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("nodetls: peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("nodetls: peer certificate: %w", err)
	}
	return checkNode(leaf)
}

// verifyPeer runs after the chain was verified against the cluster CA:
// the peer must also hold a node certificate (not, say, the CA's own).
func verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("nodetls: peer sent no certificate")
	}
	return checkNode(cs.PeerCertificates[0])
}

func checkNode(cert *x509.Certificate) error {
	if !slices.Contains(cert.Subject.OrganizationalUnit, NodeOU) {
		return fmt.Errorf("nodetls: %q is not a tablecast node certificate (no OU %q)", cert.Subject.CommonName, NodeOU)
	}
	for _, want := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !slices.Contains(cert.ExtKeyUsage, want) {
			return fmt.Errorf("nodetls: %q lacks server and client key usages", cert.Subject.CommonName)
		}
	}
	return nil
}

// NewCA makes a cluster CA (ECDSA P-256) in dir: ca.crt and ca.key. It
// refuses to overwrite an existing CA.
func NewCA(dir string, validFor time.Duration) error {
	keyPath, certPath := filepath.Join(dir, CAKeyFile), filepath.Join(dir, CACertFile)
	for _, p := range []string{keyPath, certPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: a cluster has one CA (remove it to start over)", p)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tablecast cluster CA", Organization: []string{"tablecast"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create CA dir: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

// Node describes a node certificate to issue.
type Node struct {
	Name      string   // the node name (tablecast.name): common name and a DNS name
	Hosts     []string // IP addresses and DNS names peers dial it at
	NotBefore time.Time
	NotAfter  time.Time
}

// IssueNode signs a node certificate with the CA in caDir and writes
// NAME.crt, NAME.key and a copy of ca.crt into outDir. It returns the
// paths of the certificate and the key.
func IssueNode(caDir, outDir string, n Node) (certPath, keyPath string, err error) {
	if n.Name == "" || strings.ContainsAny(n.Name, `/\ `) || (strings.Contains(n.Name, "*") && n.Name != AnyNode) {
		return "", "", fmt.Errorf("node name %q: want a plain name like lhr-1", n.Name)
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate node key: %w", err)
	}
	if n.NotBefore.IsZero() {
		n.NotBefore = time.Now().Add(-time.Hour)
	}
	if n.NotAfter.IsZero() {
		n.NotAfter = time.Now().Add(DefaultNodeValidity)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: n.Name, Organization: []string{"tablecast"}, OrganizationalUnit: []string{NodeOU}},
		NotBefore:    n.NotBefore,
		NotAfter:     n.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if n.Name != AnyNode {
		tmpl.DNSNames = []string{n.Name}
	}
	for _, h := range n.Hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		case !slices.Contains(tmpl.DNSNames, h):
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("sign node certificate: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", fmt.Errorf("create output dir: %w", err)
	}
	base := n.Name
	if n.Name == AnyNode {
		base = "any-node"
	}
	certPath, keyPath = filepath.Join(outDir, base+".crt"), filepath.Join(outDir, base+".key")
	if err := writeKey(keyPath, key); err != nil {
		return "", "", err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return "", "", err
	}
	if filepath.Clean(outDir) != filepath.Clean(caDir) {
		caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
		if err := os.WriteFile(filepath.Join(outDir, CACertFile), caPEM, 0o644); err != nil {
			return "", "", fmt.Errorf("copy CA certificate: %w", err)
		}
	}
	return certPath, keyPath, nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read CA (tablecast cert ca -dir %s makes one): %w", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("CA in %s: not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse CA key: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("%s is not a CA certificate", filepath.Join(dir, CACertFile))
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("nodetls: read random: %v", err)) // crypto/rand does not fail on Linux
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
