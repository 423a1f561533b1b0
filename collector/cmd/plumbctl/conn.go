package main

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// errNoTLS is what plumbctl says until it can speak TLS: plaintext must be
// asked for, so that nobody sends queries in the clear by surprise.
var errNoTLS = errors.New("TLS is not implemented yet: pass --insecure to use plaintext gRPC")

// maxReply bounds one reply from the collector.
const maxReply = 1 << 30

// connect returns a QueryService client for the configured collector and
// a function that closes its connection. The connection is made lazily,
// on the first call.
func (a *app) connect() (plumbv1.QueryServiceClient, func(), error) {
	if !a.opts.Insecure {
		return nil, nil, usageError{errNoTLS}
	}
	fmt.Fprintf(a.stderr, "warning: plaintext connection to %s (--insecure)\n", a.opts.Collector)
	cc, err := grpc.NewClient(a.opts.Collector, grpc.WithTransportCredentials(insecure.NewCredentials()),
		// ListFacts is not paged yet: a host with 100k facts answers with
		// ~20 MiB, past gRPC's default 4 MiB.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReply)))
	if err != nil {
		return nil, nil, usagef("collector %q: %w", a.opts.Collector, err)
	}
	return plumbv1.NewQueryServiceClient(cc), func() { _ = cc.Close() }, nil
}

// callContext bounds one unary call by --timeout.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.opts.Timeout)
}
