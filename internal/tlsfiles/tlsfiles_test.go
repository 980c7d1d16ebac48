package tlsfiles

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gamehall/gamehall/internal/tlsfiles/tlstest"
)

// The pair serves; a renewed pair in the same files is served without a
// restart; a broken one leaves the last good pair in place.
func TestConfigReloads(t *testing.T) {
	RecheckEvery = 50 * time.Millisecond
	dir := t.TempDir()
	first := tlstest.Write(t, dir)
	cfg, err := Config(first.CertFile, first.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	serial := func(p tlstest.Pair) (string, error) {
		c, err := tls.Dial("tcp", ln.Addr().String(), p.ClientConfig())
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	if s, err := serial(first); err != nil || s != first.Serial.String() {
		t.Fatalf("first pair: %s %v", s, err)
	}
	second := tlstest.Write(t, dir)
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := serial(second)
		if err == nil && s == second.Serial.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed pair is not served: %s %v", s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken key file: the renewed pair stays (every handshake rechecks
	// the files now).
	RecheckEvery = 0
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := serial(second); err != nil || s != second.Serial.String() {
		t.Fatalf("after a broken renewal: %s %v", s, err)
	}
	if _, err := Config(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")); err == nil {
		t.Fatal("a broken pair loaded")
	}
}
