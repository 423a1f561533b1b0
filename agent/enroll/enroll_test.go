package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// enroller is a collector's enrollment service: it signs the CSR with
// its CA, or refuses every token.
type enroller struct {
	plumbv1.UnimplementedEnrollServiceServer
	t      *testing.T
	ca     *x509.Certificate
	caKey  any
	refuse bool
	calls  atomic.Int32
}

func (e *enroller) Enroll(_ context.Context, r *plumbv1.EnrollRequest) (*plumbv1.EnrollResponse, error) {
	e.calls.Add(1)
	if e.refuse {
		return nil, status.Error(codes.Unauthenticated, "unknown join token")
	}
	csr, err := x509.ParseCertificateRequest(r.GetCsrDer())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &plumbv1.EnrollResponse{CertificateDer: issue(e.t, e.ca, e.caKey, csr.Subject.CommonName, csr.PublicKey, x509.ExtKeyUsageClientAuth, time.Hour),
		CaCertificateDer: e.ca.Raw}, nil
}

func serveEnroll(t *testing.T, e *enroller) string {
	t.Helper()
	key, _ := pki.GenerateKey()
	der := issue(t, e.ca, e.caKey, "collector", &key.PublicKey, x509.ExtKeyUsageServerAuth, time.Hour)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, e.ca.Raw}, PrivateKey: key}},
		ClientAuth:   tls.RequestClientCert,
	})))
	plumbv1.RegisterEnrollServiceServer(gs, e)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// Enrollment tries the collectors in turn within one round: a dead one
// and one that refuses the token are passed over for one that enrolls,
// without waiting out a backoff between them.
func TestEnsureTriesEachCollector(t *testing.T) {
	ca, caKey := newCA(t)
	good := &enroller{t: t, ca: ca, caKey: caKey}
	refusing := &enroller{t: t, ca: ca, caKey: caKey, refuse: true}
	dead := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return ln.Addr().String()
	}()
	goodAddr, refusingAddr := serveEnroll(t, good), serveEnroll(t, refusing)
	addrs := []string{dead, refusingAddr, goodAddr}
	// An agent that tries the good collector last.
	var l *endpoint.List
	for seed := uint64(0); ; seed++ {
		var err error
		if l, err = endpoint.New(addrs, endpoint.Options{Seed: seed}); err != nil {
			t.Fatal(err)
		}
		if eps, _ := l.Endpoints(context.Background()); eps[len(eps)-1].Dial == goodAddr && eps[0].Dial == refusingAddr {
			break
		}
	}
	id, err := Load(Options{Dir: t.TempDir(), HostID: "web1", CAPin: pki.Pin(ca), JoinToken: "pjt.x.y", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := id.Ensure(ctx, l, time.Hour); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if !id.Enrolled() || refusing.calls.Load() != 1 || good.calls.Load() != 1 {
		t.Fatalf("enrolled %v; refusing collector asked %d times, good one %d", id.Enrolled(), refusing.calls.Load(), good.calls.Load())
	}
	t.Logf("enrolled past a refusing and a dead collector in %v", time.Since(start).Round(time.Millisecond))
}
