package enroll

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// maxReply bounds what the collector may answer to Enroll and Renew.
const maxReply = 64 << 10

// Collectors is the list enrollment tries: *endpoint.List.
type Collectors interface {
	Endpoints(ctx context.Context) ([]endpoint.Endpoint, error)
	Dial(e endpoint.Endpoint, extra ...grpc.DialOption) (*grpc.ClientConn, error)
}

// Ensure returns once the agent holds an unexpired certificate, enrolling
// with the join token if it must: each round tries the collectors in
// turn, over connections of its own (that present no certificate), until
// one answers. It retries with backoff while none is reachable; a refusal
// (bad token, a clash) is logged and retried at the slowest pace, so that
// a fixed collector side is picked up without a restart and a clone never
// hammers the collectors.
func (id *Identity) Ensure(ctx context.Context, collectors Collectors, maxWait time.Duration) error {
	if id.Enrolled() {
		return nil
	}
	if id.token == "" {
		return errNoToken
	}
	bo := &backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: maxWait}
	bo.Reset()
	for {
		eps, err := collectors.Endpoints(ctx)
		if err != nil && ctx.Err() == nil {
			id.logger.Warn("resolving collector addresses", "err", err, "endpoints", len(eps))
		}
		wait := bo.NextBackOff()
		for _, ep := range eps {
			err := id.enrollAt(ctx, collectors, ep)
			if err == nil {
				id.logger.Info("enrolled with the collector", "host_id", id.host, "collector", ep.Address, "endpoint", ep.Dial, "not_after", id.NotAfter())
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch {
			case strings.Contains(err.Error(), pki.ErrPinMismatch.Error()):
				// Not the collector we were told to trust: nothing is
				// sent to it, and trying often will not change its CA.
				wait = maxWait
				id.logger.Error("refusing the collector: its CA is not the pinned one (wrong --ca-pin, or not the right collector)",
					"collector", ep.Address, "endpoint", ep.Dial, "err", err)
			case slices.Contains([]codes.Code{codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument}, status.Code(err)):
				wait = maxWait
				id.logger.Error("the collector refused enrollment", "collector", ep.Address, "endpoint", ep.Dial, "err", err)
			default:
				id.logger.Warn("enrollment failed", "collector", ep.Address, "endpoint", ep.Dial, "err", err)
			}
		}
		id.logger.Warn("not enrolled yet; retrying", "collectors", len(eps), "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// enrollAt tries one enrollment with ep.
func (id *Identity) enrollAt(ctx context.Context, collectors Collectors, ep endpoint.Endpoint) error {
	conn, err := collectors.Dial(ep, grpc.WithTransportCredentials(credentials.NewTLS(id.TLSConfig())),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReply)))
	if err != nil {
		return fmt.Errorf("collector %s: %w", ep, err)
	}
	defer conn.Close()
	return id.enrollOnce(ctx, plumbv1.NewEnrollServiceClient(conn))
}

func (id *Identity) enrollOnce(ctx context.Context, client plumbv1.EnrollServiceClient) error {
	csr, err := id.csr()
	if err != nil {
		return err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	resp, err := client.Enroll(ctx, &plumbv1.EnrollRequest{JoinToken: id.token, CsrDer: csr})
	if err != nil {
		return err
	}
	if len(resp.GetCaCertificateDer()) > 16<<10 {
		return fmt.Errorf("collector sent a CA certificate of %d bytes", len(resp.GetCaCertificateDer()))
	}
	ca, err := x509.ParseCertificate(resp.GetCaCertificateDer())
	if err != nil {
		return fmt.Errorf("collector sent a bad CA certificate: %w", err)
	}
	id.mu.Lock()
	pin, stored := id.pin, id.ca
	id.mu.Unlock()
	switch {
	case pin != "" && !pki.SamePin(pki.Pin(ca), pin):
		return fmt.Errorf("%w: collector sent CA %s, pinned %s", pki.ErrPinMismatch, pki.Pin(ca), pin)
	case pin == "" && (stored == nil || !stored.Equal(ca)):
		return fmt.Errorf("%w: collector sent CA %s", pki.ErrPinMismatch, pki.Pin(ca))
	}
	return id.adopt(resp.GetCertificateDer(), ca)
}

// Renew keeps the certificate fresh: at two thirds of its life it asks
// the collector, over conn (which presents the current certificate), for
// a new one for the same key, retrying with backoff until it expires.
func (id *Identity) Renew(ctx context.Context, conn grpc.ClientConnInterface) error {
	client := plumbv1.NewEnrollServiceClient(conn)
	for {
		id.mu.Lock()
		leaf := id.cert.Leaf
		id.mu.Unlock()
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		at := leaf.NotBefore.Add(life * 2 / 3)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		bo := &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.5, Multiplier: 2,
			MaxInterval: max(time.Second, life/20)}
		bo.Reset()
		for {
			err := id.renewOnce(ctx, client)
			if err == nil {
				id.logger.Info("certificate renewed", "not_after", id.NotAfter())
				break
			}
			if !id.now().Before(leaf.NotAfter) {
				return fmt.Errorf("certificate expired at %v before it could be renewed (%v): enroll again with a new join token", leaf.NotAfter, err)
			}
			wait := bo.NextBackOff()
			id.logger.Warn("certificate renewal failed", "err", err, "retry_in", wait.Round(time.Millisecond), "expires", leaf.NotAfter)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

func (id *Identity) renewOnce(ctx context.Context, client plumbv1.EnrollServiceClient) error {
	csr, err := id.csr()
	if err != nil {
		return err
	}
	ctx, cancel := callContext(ctx)
	defer cancel()
	resp, err := client.Renew(ctx, &plumbv1.RenewRequest{CsrDer: csr}, grpc.MaxCallRecvMsgSize(maxReply))
	if err != nil {
		return err
	}
	id.mu.Lock()
	ca := id.ca
	id.mu.Unlock()
	return id.adopt(resp.GetCertificateDer(), ca)
}
