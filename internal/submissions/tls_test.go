package submissions

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// writePEM writes one PEM block to dir/name and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue makes a key and a certificate signed by ca (self-signed when ca
// is nil) and writes both.
func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, isCA bool, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return cert, key, writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// A fleet node reaches a NATS server over TLS with a private CA and a
// client certificate; without the CA it cannot connect.
func TestTLSWithAPrivateCAAndAClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := issue(t, dir, "ca", nil, nil, true, x509.ExtKeyUsageAny)
	_, _, srvCert, srvKey := issue(t, dir, "server", ca, caKey, false, x509.ExtKeyUsageServerAuth)
	_, _, cliCert, cliKey := issue(t, dir, "client", ca, caKey, false, x509.ExtKeyUsageClientAuth)
	tlsConfig, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: srvCert, KeyFile: srvKey, CaFile: caFile, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, TLS: true, TLSConfig: tlsConfig, TLSVerify: true, TLSTimeout: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	url := "tls://" + srv.Addr().String()

	q := open(t, Config{URLs: []string{url}, TLSCA: caFile, TLSCert: cliCert, TLSKey: cliKey})
	work(t, q, 1, echo)
	if got := wait(t, q, submit(t, q, `{"tls":true}`).ID); got.Status != Done {
		t.Fatalf("record %+v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Open(ctx, Config{URLs: []string{url}, TLSCert: cliCert, TLSKey: cliKey, Node: "x"}, nil); err == nil {
		t.Error("connected without the CA that signs the server")
	}
	if _, err := Open(ctx, Config{URLs: []string{url}, TLSCA: caFile, Node: "x"}, nil); err == nil {
		t.Error("connected without a client certificate to a server that verifies clients")
	}
	if err := (Config{URLs: []string{url}, TLSCert: cliCert}).withDefaults().Validate(); err == nil {
		t.Error("a certificate without its key passed")
	}
	if err := (Config{Dir: "d", TLSCA: caFile}).withDefaults().Validate(); err == nil {
		t.Error("TLS settings for the embedded server passed")
	}
}
