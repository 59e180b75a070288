package jstest

// Security of the test cluster beyond compose's token: NATS decentralized authentication
// (an operator, a system account and one JetStream account, with users in .creds files) and
// mutual TLS (a CA, a server certificate for 127.0.0.1, client certificates, and the wrong
// ones: another CA, an expired client certificate). Everything is made in the test, in a
// directory of its own; nothing is read from the machine.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Security says how the cluster's clients authenticate. The zero value is compose's token.
type Security struct {
	Operator *Operator // decentralized auth: clients need a .creds file of this operator's account
	PKI      *PKI      // mutual TLS: clients need the CA and a client certificate
}

// Operator is a trust chain of decentralized authentication: operator → account (with
// JetStream) → users. The servers resolve the accounts from memory (preloaded).
type Operator struct {
	dir         string
	account     nkeys.KeyPair
	OperatorJWT string
	SystemPub   string
	SystemJWT   string
	AccountPub  string // the JetStream account every user belongs to
	AccountJWT  string
}

// NewOperator makes an operator, its system account and one account with JetStream.
func NewOperator(t testing.TB) *Operator {
	t.Helper()
	okp := mustKey(t, nkeys.CreateOperator)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "mcpctl-test"
	o := &Operator{dir: t.TempDir()}
	o.OperatorJWT = mustEncode(t, oc, okp)

	skp := mustKey(t, nkeys.CreateAccount)
	o.SystemPub, _ = skp.PublicKey()
	sc := jwt.NewAccountClaims(o.SystemPub)
	sc.Name = "SYS"
	o.SystemJWT = mustEncode(t, sc, okp)

	o.account = mustKey(t, nkeys.CreateAccount)
	o.AccountPub, _ = o.account.PublicKey()
	ac := jwt.NewAccountClaims(o.AccountPub)
	ac.Name = "MCPCTL"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	o.AccountJWT = mustEncode(t, ac, okp)
	return o
}

// Conf is the part of nats.conf that trusts the operator and preloads its accounts.
func (o *Operator) Conf() string {
	return fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n  %s: %s\n}\n",
		o.OperatorJWT, o.SystemPub, o.SystemPub, o.SystemJWT, o.AccountPub, o.AccountJWT)
}

// Creds writes a .creds file (user JWT and seed, 0600) for a user of the account named name,
// with perms (nil: everything) and returns its path.
func (o *Operator) Creds(t testing.TB, name string, perms *jwt.Permissions) string {
	t.Helper()
	ukp := mustKey(t, nkeys.CreateUser)
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	if perms != nil {
		uc.Permissions = *perms
	}
	ujwt := mustEncode(t, uc, o.account)
	seed, err := ukp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(o.dir, name+".creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKey(t testing.TB, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mustEncode(t testing.TB, c interface {
	Encode(nkeys.KeyPair) (string, error)
}, kp nkeys.KeyPair) string {
	t.Helper()
	s, err := c.Encode(kp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// PKI is the files of a test CA and the certificates around it (PEM, 0600).
type PKI struct {
	CA         string // the CA that signs the servers' and the clients' certificates
	ServerCert string // for 127.0.0.1 and localhost
	ServerKey  string
	ClientCert string // a valid client certificate
	ClientKey  string
	// The wrong ones.
	OtherCA           string // a CA that signed nothing of the cluster's
	OtherClientCert   string // a client certificate signed by OtherCA
	OtherClientKey    string
	ExpiredClientCert string // signed by CA, expired a day ago
	ExpiredClientKey  string
}

// NewPKI makes the CAs and certificates in a directory of the test.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{}
	now := time.Now()
	ca, caKey := newCA(t, "mcpctl test CA", now)
	p.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	other, otherKey := newCA(t, "another CA", now)
	p.OtherCA = writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw)

	leaf := func(name string, server bool, signer *x509.Certificate, signerKey *ecdsa.PrivateKey, from, to time.Time) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(t),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    from,
			NotAfter:     to,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	valid := func() (time.Time, time.Time) { return now.Add(-time.Hour), now.Add(24 * time.Hour) }
	from, to := valid()
	p.ServerCert, p.ServerKey = leaf("server", true, ca, caKey, from, to)
	p.ClientCert, p.ClientKey = leaf("client", false, ca, caKey, from, to)
	p.OtherClientCert, p.OtherClientKey = leaf("other-client", false, other, otherKey, from, to)
	p.ExpiredClientCert, p.ExpiredClientKey = leaf("expired-client", false, ca, caKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	return p
}

// Conf is the part of nats.conf that requires TLS from clients and verifies their
// certificates against the CA.
func (p *PKI) Conf() string {
	return fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n  timeout: 2\n}\n", p.ServerCert, p.ServerKey, p.CA)
}

func newCA(t testing.TB, name string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// reAuthorization is compose's token block, which decentralized authentication replaces.
var reAuthorization = regexp.MustCompile(`(?ms)^authorization \{\n.*?^\}\n`)

var reTokenVar = regexp.MustCompile(`(?m)^NATS_TOKEN: .*\n`)

// secure adds the security to a loopback configuration.
func (s Security) secure(conf string) (string, error) {
	if s.Operator != nil {
		if n := len(reAuthorization.FindAllStringIndex(conf, -1)); n != 1 {
			return "", fmt.Errorf("jstest: %d authorization blocks in the compose nats.conf, want 1", n)
		}
		conf = reAuthorization.ReplaceAllString(conf, "") + s.Operator.Conf()
		// The token's variable is referenced no more, and an unused variable is an unknown field.
		conf = reTokenVar.ReplaceAllString(conf, "")
	}
	if s.PKI != nil {
		conf += s.PKI.Conf()
	}
	return conf, nil
}
