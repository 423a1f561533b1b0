// Package httpapi is the collector's HTTP surface: the query and operator
// API as JSON (generated from the protos by grpc-gateway, rules in
// proto/plumb/v1/http.yaml), drift events as server-sent events, the
// OpenAPI document, and health probes. Every API call goes through the
// collector's own gRPC server over an in-process connection, so that it
// passes the same authentication and role table as a gRPC call.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes   = 4 << 20
	DefaultHeartbeat      = 15 * time.Second
	DefaultSSEWriteWait   = 30 * time.Second
	DefaultRequestTimeout = 2 * time.Minute
)

// Options configure the handler.
type Options struct {
	// Conn reaches the collector's gRPC server in-process; every API call
	// (and the watch) goes through it with the caller's bearer token.
	Conn grpc.ClientConnInterface

	// Ready are the conditions of /readyz by name: each returns nil when
	// it holds. /readyz answers 503 when any does not.
	Ready map[string]func(context.Context) error

	// UI serves every path outside the API, the probes and the OpenAPI
	// document: "/" and below. It is the dashboard's seam; nil answers 404.
	UI http.Handler

	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// RequestTimeout bounds reading a request's body and writing its reply
	// on an API call other than the watch (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Heartbeat is how often an idle watch sends a comment, so that
	// proxies keep it open (DefaultHeartbeat).
	Heartbeat time.Duration
	// SSEWriteWait is how long the watch waits for a client to take one
	// write before it drops the client (DefaultSSEWriteWait).
	SSEWriteWait time.Duration

	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.SSEWriteWait <= 0 {
		o.SSEWriteWait = DefaultSSEWriteWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Paths the handler serves besides the API under /v1/.
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathOpenAPI = "/openapi.json"
	PathWatch   = "/v1/drift:watch"
)

// New returns the HTTP handler: the API under /v1/, the watch, the probes
// and /openapi.json (these three without authentication), and o.UI for
// the rest. ctx bounds the gateway's registrations.
func New(ctx context.Context, o Options) (http.Handler, error) {
	o.defaults()
	if o.Conn == nil {
		return nil, errors.New("httpapi: no gRPC connection")
	}
	gw := newGateway()
	if err := registerGateway(ctx, gw, o.Conn); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealthz, healthz)
	mux.Handle("GET "+PathReadyz, readyz(o.Ready))
	mux.HandleFunc("GET "+PathOpenAPI, serveOpenAPI)
	mux.Handle("GET "+PathWatch, &watchHandler{
		client: plumbv1.NewQueryServiceClient(o.Conn), gw: gw,
		heartbeat: o.Heartbeat, writeWait: o.SSEWriteWait, logger: o.Logger,
	})
	mux.Handle("/v1/", bounded(gw, o.MaxBodyBytes, o.RequestTimeout))
	if o.UI != nil {
		mux.Handle("/", o.UI)
	}
	return mux, nil
}

// bounded limits a request's body to max bytes, and the time to read it
// and to write the reply to timeout.
func bounded(h http.Handler, max int64, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(timeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// healthz answers while the process serves HTTP.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is /readyz's body: every check's "ok" or its error.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// readyCheckTimeout bounds one readiness check: a store that does not
// answer in this time is not ready.
const readyCheckTimeout = 5 * time.Second

func readyz(checks map[string]func(context.Context) error) http.Handler {
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := readiness{Ready: true, Checks: map[string]string{}}
		for _, n := range names {
			ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
			err := checks[n](ctx)
			cancel()
			if err != nil {
				out.Ready = false
				out.Checks[n] = err.Error()
			} else {
				out.Checks[n] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !out.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// writeError answers err as the gateway does: the HTTP status of its gRPC
// code and {"code", "message", "details"}.
func writeError(w http.ResponseWriter, r *http.Request, gw *runtime.ServeMux, err error) {
	_, out := runtime.MarshalerForRequest(gw, r)
	errorHandler(r.Context(), gw, out, w, r, err)
}

// errInvalid is an InvalidArgument error for a malformed request.
func errInvalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
