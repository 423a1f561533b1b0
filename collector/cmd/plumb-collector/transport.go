package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// shared reports whether other collectors may write st: every backend but
// bbolt, which one process opens at a time. Collector-wide secrets then
// live in the database, and what each collector keeps in memory follows
// the others' commits.
func shared(st store.Store) bool {
	_, bolt := st.(*store.Bolt)
	return !bolt
}

// digestKey is the collector's digest key: from the data dir, or from the
// database when collectors share it.
func digestKey(ctx context.Context, cfg *Config, st store.Store) ([]byte, error) {
	if shared(st) {
		return auth.LoadOrCreateSharedDigestKey(ctx, st)
	}
	return auth.LoadOrCreateDigestKey(cfg.DataDir)
}

// serverCertTTL is the life of the collector's own certificate, made anew
// at every start from the CA in the data dir.
const serverCertTTL = 365 * 24 * time.Hour

// transport returns the gRPC credentials the collector serves with: TLS
// from its own CA (created on first start in the data dir, or in the
// database when collectors share it), or plaintext with --insecure (then
// ca and tlsConf are nil). tlsConf is the server's TLS configuration,
// which the HTTP listener shares.
func transport(ctx context.Context, cfg *Config, st store.Store, logger *slog.Logger) (creds credentials.TransportCredentials, tlsConf *tls.Config, ca *auth.CA, err error) {
	if cfg.Insecure {
		return insecure.NewCredentials(), nil, nil, nil
	}
	now := time.Now()
	var created bool
	if shared(st) {
		ca, created, err = auth.LoadOrCreateSharedCA(ctx, st, now)
		if err == nil {
			// The certificate (not the key) in the data dir too, where
			// plumbctl on this host looks for it by default.
			err = pki.WriteFile(filepath.Join(cfg.DataDir, auth.CACertFile), pki.CertPEM(ca.Cert.Raw), 0o644)
		}
	} else {
		ca, created, err = auth.LoadOrCreateCA(cfg.DataDir, now)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if created {
		logger.Info("created the collector's CA; agents pin it", "ca_pin", ca.Pin)
	}
	names := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.TLSNames...)
	for _, addr := range []string{cfg.Listen, cfg.HTTPListen} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" {
			names = append(names, h)
		}
	}
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	cert, err := ca.ServerCertificate(names, now, serverCertTTL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	tlsConf = ca.ServerTLS(cert)
	return credentials.NewTLS(tlsConf), tlsConf, ca, nil
}
