package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/bearer"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// maxReply bounds one reply from the collector.
const maxReply = 1 << 30

// connect returns a QueryService client for the configured collector and
// a function that closes its connection.
func (a *app) connect() (plumbv1.QueryServiceClient, func(), error) {
	cc, closeConn, err := a.dial()
	if err != nil {
		return nil, nil, err
	}
	return plumbv1.NewQueryServiceClient(cc), closeConn, nil
}

// dial makes a connection to the collector (lazily: on the first call)
// with the configured transport and API token.
func (a *app) dial() (*grpc.ClientConn, func(), error) {
	creds, err := a.transport()
	if err != nil {
		return nil, nil, err
	}
	token, err := a.token()
	if err != nil {
		return nil, nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// ListFacts of a large host is large.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReply)),
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Token{Token: token, Insecure: a.opts.Insecure}))
	}
	cc, err := grpc.NewClient(a.opts.Collector, opts...)
	if err != nil {
		return nil, nil, usagef("collector %q: %w", a.opts.Collector, err)
	}
	return cc, func() { _ = cc.Close() }, nil
}

// transport is TLS trusting the collector's CA (--ca-file or --ca-pin),
// or plaintext with --insecure.
func (a *app) transport() (credentials.TransportCredentials, error) {
	if a.opts.Insecure {
		fmt.Fprintf(a.stderr, "warning: plaintext connection to %s (--insecure)\n", a.opts.Collector)
		return insecure.NewCredentials(), nil
	}
	var ca *x509.Certificate
	pin := ""
	if a.opts.CAPin != "" {
		p, err := pki.ParsePin(a.opts.CAPin)
		if err != nil {
			return nil, usageError{err}
		}
		pin = p
	} else {
		c, err := pki.ReadCertFile(a.opts.CAFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && a.opts.CAFile == defaultCAFile {
				return nil, usagef("no collector CA: pass --ca-file (the collector data dir's ca.crt) or --ca-pin (from `plumbctl token create`)")
			}
			return nil, usagef("--ca-file: %w", err)
		}
		ca = c
	}
	return credentials.NewTLS(pki.ClientTLS(pki.TrustCA(ca, pin))), nil
}

// token returns the API token: --token or PLUMB_TOKEN, else the token
// file. The default token file (the packaged collector's admin.token) is
// skipped when it does not exist; unreadable, it is remembered for the
// hint on an Unauthenticated answer.
func (a *app) token() (string, error) {
	if a.opts.Token != "" {
		return strings.TrimSpace(a.opts.Token), nil
	}
	if a.opts.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(a.opts.TokenFile)
	if err != nil {
		if a.opts.TokenFile == defaultTokenFile {
			if !errors.Is(err, os.ErrNotExist) {
				a.tokenErr = err
			}
			return "", nil
		}
		return "", usagef("--token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// callContext bounds one unary call by --timeout.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.opts.Timeout)
}
