package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/httpapi"
	"github.com/plumb-dev/plumb/collector/limits"
)

// httpServer is the collector's HTTP listener (--http-listen): the HTTP
// API, its OpenAPI document, the probes, and at "/" the UI. API calls
// reach the collector's gRPC server through inproc, an in-memory
// listener the same server serves, so they pass its interceptors (the
// API tokens and the role table) exactly as gRPC calls do.
type httpServer struct {
	ln     net.Listener
	inproc *bufconn.Listener
	conn   *grpc.ClientConn
	srv    *http.Server
	tls    bool
	logger *slog.Logger
}

// httpSetup is what the HTTP listener needs from the collector.
type httpSetup struct {
	// TLS is the gRPC port's server TLS (nil with --insecure); the HTTP
	// listener serves the same certificate.
	TLS *tls.Config
	CA  *auth.CA
	// Ready are /readyz's checks.
	Ready map[string]func(context.Context) error
	// UI is served at "/" and below: the dashboard's seam.
	UI http.Handler
	LM *limits.Metrics
}

// inprocBuffer is the in-memory connection's buffer size.
const inprocBuffer = 1 << 20

func newHTTPServer(ctx context.Context, cfg *Config, s httpSetup, logger *slog.Logger) (*httpServer, error) {
	h := &httpServer{inproc: bufconn.Listen(inprocBuffer), tls: s.TLS != nil, logger: logger}
	creds := insecure.NewCredentials()
	if s.TLS != nil {
		pool := x509.NewCertPool()
		pool.AddCert(s.CA.Cert)
		// "localhost" is always in the server certificate.
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	}
	conn, err := grpc.NewClient("passthrough:///plumb-collector",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return h.inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(cfg.Limits.MaxSendMsgBytes),
			grpc.MaxCallSendMsgSize(cfg.Limits.MaxRecvMsgBytes),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("http: in-process connection: %w", err)
	}
	h.conn = conn
	handler, err := httpapi.New(ctx, httpapi.Options{
		Conn:         conn,
		Ready:        s.Ready,
		UI:           s.UI,
		MaxBodyBytes: int64(cfg.Limits.MaxRecvMsgBytes),
		SSEWriteWait: cfg.Limits.WatchSendTimeout,
		Logger:       logger,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("http listen: %w", err)
	}
	h.ln = limitListener(ln, cfg.Limits, s.LM, logger)
	h.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	if s.TLS != nil {
		c := s.TLS.Clone()
		// Browsers would offer the user's certificates; the API
		// authenticates by token.
		c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
		h.srv.TLSConfig = c
	}
	return h, nil
}

// Addr is the address the HTTP listener listens on.
func (h *httpServer) Addr() string { return h.ln.Addr().String() }

// Serve serves HTTP until ctx ends, then lets requests finish for a few
// seconds (watches end when the query server closes them) and closes.
func (h *httpServer) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(sctx); err != nil {
			h.srv.Close()
		}
		h.conn.Close()
	}()
	var err error
	if h.tls {
		h.logger.Info("serving HTTP API over TLS", "http_listen", h.Addr())
		err = h.srv.ServeTLS(h.ln, "", "")
	} else {
		h.logger.Warn("serving plaintext HTTP API (--insecure)", "http_listen", h.Addr())
		err = h.srv.Serve(h.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}
