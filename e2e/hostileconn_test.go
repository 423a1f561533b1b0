package e2e

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plumb-dev/plumb/pkg/bearer"
)

// hostileConn is the hostile suite's one way to reach the collector c as
// host hostID: over TLS with a client certificate enrolled for hostID (an
// attacker who holds one host's credentials, the worst case short of the
// collector's own), or plaintext to a build from before TLS.
//
// It dials from 127.0.0.2, so that the collector's per-address
// connection cap falls on the attacker and not on the legitimate agent
// and plumbctl, which connect from 127.0.0.1. Each call is a new
// connection. Its flow-control windows are fixed and small (no BDP
// growth), as a client that does not read would leave them: the collector
// meets back-pressure after 64 KiB per stream, not after 16 MiB.
func hostileConn(t *testing.T, c *collector, hostID string) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	var opts []grpc.DialOption
	if cc := lookupCollector(c.addr); cc != nil && !cc.insecure {
		cert, err := enrollAs(t, c, hostID)
		if err != nil {
			t.Fatalf("enroll %s: %v", hostID, err)
		}
		creds = credentials.NewTLS(collectorTLS(t, c, cert))
		// The attacker's API calls carry the weakest real credential.
		opts = append(opts, grpc.WithPerRPCCredentials(viewerToken(t, c)))
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)),
		grpc.WithInitialWindowSize(64 << 10),
		grpc.WithInitialConnWindowSize(1 << 20),
	}
	conn, err := grpc.NewClient("passthrough:///"+c.addr, append(opts, dial...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

var viewerTokens sync.Map // collector data dir → bearer.Token

// viewerToken is a viewer API token of the collector, made once.
func viewerToken(t *testing.T, c *collector) bearer.Token {
	t.Helper()
	if v, ok := viewerTokens.Load(c.data); ok {
		return v.(bearer.Token)
	}
	var tok struct {
		Token string `json:"token"`
	}
	ctlJSON(t, c.addr, &tok, "apitoken", "create", "--role", "viewer", "--name", "attacker")
	b := bearer.Token{Token: tok.Token}
	viewerTokens.Store(c.data, b)
	return b
}
