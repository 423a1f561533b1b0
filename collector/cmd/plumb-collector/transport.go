package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plumb-dev/plumb/collector/auth"
)

// serverCertTTL is the life of the collector's own certificate, made anew
// at every start from the CA in the data dir.
const serverCertTTL = 365 * 24 * time.Hour

// transport returns the gRPC credentials the collector serves with: TLS
// from its own CA (created in the data dir on first start), or plaintext
// with --insecure (then ca and tlsConf are nil). tlsConf is the server's
// TLS configuration, which the HTTP listener shares.
func transport(cfg *Config, logger *slog.Logger) (creds credentials.TransportCredentials, tlsConf *tls.Config, ca *auth.CA, err error) {
	if cfg.Insecure {
		return insecure.NewCredentials(), nil, nil, nil
	}
	now := time.Now()
	ca, created, err := auth.LoadOrCreateCA(cfg.DataDir, now)
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
