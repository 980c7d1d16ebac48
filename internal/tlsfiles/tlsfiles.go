// Package tlsfiles serves TLS from a certificate and key in files — a
// mounted Kubernetes Secret — and picks up a renewed pair without a restart.
package tlsfiles

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// RecheckEvery bounds how often the files are looked at again (their
// modification times; a changed pair is loaded).
var RecheckEvery = 10 * time.Second

// Config returns a server tls.Config for the pair; it fails now if the pair
// does not load. A renewed pair is served within RecheckEvery; a broken one
// is logged by the error of the handshake that tried it and the old pair
// stays. TLS 1.2 at least; no HTTP/2 is offered (the hall's watch stream
// takes its connection over).
func Config(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: both a certificate and a key file are needed")
	}
	p := &pair{certFile: certFile, keyFile: keyFile}
	if _, err := p.load(time.Now()); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: p.get}, nil
}

type pair struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	stamp             [2]time.Time // the files' modification times when loaded
	checked           time.Time
}

func (p *pair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.checked) < RecheckEvery {
		return p.cert, nil
	}
	p.checked = now
	_, _ = p.loadLocked() // on error the pair that loaded stays
	return p.cert, nil
}

func (p *pair) load(now time.Time) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked = now
	return p.loadLocked()
}

// loadLocked loads the pair if the files changed since the last load.
func (p *pair) loadLocked() (*tls.Certificate, error) {
	var stamp [2]time.Time
	for i, f := range []string{p.certFile, p.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		stamp[i] = st.ModTime()
	}
	if p.cert != nil && stamp == p.stamp {
		return p.cert, nil
	}
	c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %s and %s: %w", p.certFile, p.keyFile, err)
	}
	p.cert, p.stamp = &c, stamp
	return p.cert, nil
}
