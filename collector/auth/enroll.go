package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// EnrollServer implements plumbv1.EnrollServiceServer.
type EnrollServer struct {
	plumbv1.UnimplementedEnrollServiceServer
	a *Authority
}

// EnrollServer returns the enrollment service.
func (a *Authority) EnrollServer() *EnrollServer { return &EnrollServer{a: a} }

// maxCSR bounds a certificate request: a P-256 one is about 250 bytes.
const maxCSR = 4096

// parseCSR checks a request's size, signature, key type and host id.
func (a *Authority) parseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 || len(der) > maxCSR {
		return nil, a.deny("bad_csr", codes.InvalidArgument, "certificate request of %d bytes (want 1 to %d)", len(der), maxCSR)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, a.deny("bad_csr", codes.InvalidArgument, "certificate request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, a.deny("bad_csr", codes.InvalidArgument, "certificate request: %v", err)
	}
	switch csr.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, a.deny("bad_csr", codes.InvalidArgument, "certificate request: %T key; want ECDSA or Ed25519", csr.PublicKey)
	}
	if err := ValidHostID(csr.Subject.CommonName); err != nil {
		return nil, a.deny("bad_csr", codes.InvalidArgument, "certificate request: %v", err)
	}
	return csr, nil
}

// Enroll implements plumbv1.EnrollServiceServer.
func (s *EnrollServer) Enroll(ctx context.Context, req *plumbv1.EnrollRequest) (*plumbv1.EnrollResponse, error) {
	a := s.a
	if a.ca == nil {
		return nil, status.Error(codes.FailedPrecondition, "this collector serves plaintext (--insecure) and enrolls nobody; agents stream with --insecure")
	}
	id, hash, err := parseSecret(kindJoin, req.GetJoinToken())
	if err != nil {
		return nil, a.deny("bad_join_token", codes.Unauthenticated, "join token: %v", err)
	}
	now := a.now()
	// A wrong token costs a read, never a signature check, a signature or
	// a write.
	err = a.st.View(ctx, func(tx store.ReadTx) error {
		_, err := a.joinToken(tx, id, hash, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	csr, err := a.parseCSR(req.GetCsrDer())
	if err != nil {
		return nil, err
	}
	host := csr.Subject.CommonName
	pin, err := pki.PinOfKey(csr.PublicKey)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate request key: %v", err)
	}
	cert, err := a.ca.IssueClient(host, csr.PublicKey, now, a.certTTL)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "issue certificate: %v", err)
	}
	var refused error
	events := 0
	err = a.st.Update(ctx, func(tx store.Tx) error {
		refused, events = nil, 0
		t, err := a.joinToken(tx, id, hash, now)
		if status.Code(err) == codes.Unauthenticated {
			refused = err // used up by a concurrent enrollment
			return nil
		} else if err != nil {
			return err
		}
		old, err := tx.Identity(host)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if old != nil && !old.Revoked && !pki.SamePin(old.KeyPin, pin) {
			// Never overwrite an enrolled host: a clone or a reused host
			// id would silently take over its history. Record the clash,
			// leave the token unused.
			a.metrics.Clashes.Inc()
			a.logger.Warn("identity clash: a new key tried to enroll as an enrolled host; quarantined", "host", host, "key", pin)
			old.Clashes++
			old.ClashKeyPin = pin
			old.ClashAt = now.UnixNano()
			old.ClashReason = "enrollment with a key other than the enrolled one"
			refused = a.deny("identity_clash", codes.FailedPrecondition,
				"host id %q is already enrolled with another key (a cloned VM with the same machine-id, or a reused host id?). It is quarantined; if this machine should replace it, an admin runs `plumbctl hosts revoke %s` and this agent enrolls again; otherwise give this machine its own --host-id", host, host)
			if err := tx.PutIdentity(old); err != nil {
				return err
			}
			events, err = a.identityHealth(tx, host, true, clashDetail(pin))
			return err
		}
		if t.UsesLeft--; t.UsesLeft == 0 {
			if err := tx.DeleteJoinToken(id); err != nil {
				return err
			}
		} else if err := tx.PutJoinToken(t); err != nil {
			return err
		}
		enrolled := now.UnixNano()
		if old != nil && !old.Revoked {
			enrolled = old.Enrolled // the same key enrolling again
		}
		return tx.PutIdentity(&store.Identity{HostID: host, KeyPin: pin, Enrolled: enrolled, NotAfter: cert.NotAfter.UnixNano()})
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "enroll: %v", err)
	}
	a.notified(events)
	if refused != nil {
		return nil, refused
	}
	a.metrics.Issued.WithLabelValues("enroll").Inc()
	a.logger.Info("host enrolled", "host", host, "key", pin, "not_after", cert.NotAfter)
	return &plumbv1.EnrollResponse{CertificateDer: cert.Raw, CaCertificateDer: a.ca.Cert.Raw}, nil
}

// Renew implements plumbv1.EnrollServiceServer.
func (s *EnrollServer) Renew(ctx context.Context, req *plumbv1.RenewRequest) (*plumbv1.RenewResponse, error) {
	a := s.a
	if a.ca == nil {
		return nil, status.Error(codes.FailedPrecondition, "this collector serves plaintext (--insecure) and issues no certificates")
	}
	cur := peerCert(ctx)
	if cur == nil {
		return nil, a.deny("no_certificate", codes.Unauthenticated, "renewal needs the current client certificate")
	}
	csr, err := a.parseCSR(req.GetCsrDer())
	if err != nil {
		return nil, err
	}
	host := cur.Subject.CommonName
	pin := pki.Pin(cur)
	csrPin, err := pki.PinOfKey(csr.PublicKey)
	if err != nil || csr.Subject.CommonName != host || !pki.SamePin(csrPin, pin) {
		return nil, a.deny("bad_csr", codes.InvalidArgument, "renewal must be for the same host id and key as the current certificate")
	}
	if err := a.checkIdentity(ctx, host, pin, "renewal"); err != nil {
		return nil, err
	}
	now := a.now()
	cert, err := a.ca.IssueClient(host, csr.PublicKey, now, a.certTTL)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "issue certificate: %v", err)
	}
	err = a.st.Update(ctx, func(tx store.Tx) error {
		id, err := tx.Identity(host)
		if err != nil {
			return err
		}
		if id.Revoked || !pki.SamePin(id.KeyPin, pin) {
			return errRevokedMeanwhile
		}
		id.NotAfter = cert.NotAfter.UnixNano()
		return tx.PutIdentity(id)
	})
	if errors.Is(err, errRevokedMeanwhile) {
		return nil, a.deny("revoked", codes.PermissionDenied, "host %q was revoked", host)
	} else if err != nil {
		return nil, status.Errorf(codes.Unavailable, "renew: %v", err)
	}
	a.metrics.Issued.WithLabelValues("renew").Inc()
	a.logger.Info("certificate renewed", "host", host, "not_after", cert.NotAfter)
	return &plumbv1.RenewResponse{CertificateDer: cert.Raw}, nil
}

var errRevokedMeanwhile = errors.New("revoked meanwhile")

// joinToken returns the usable join token id whose secret hashes to hash,
// or an Unauthenticated status saying why there is none.
func (a *Authority) joinToken(tx store.ReadTx, id string, hash []byte, now time.Time) (*store.JoinToken, error) {
	t, err := tx.JoinToken(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, a.deny("bad_join_token", codes.Unauthenticated, "join token not recognised (used up, expired and pruned, or never issued)")
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "join token: %v", err)
	case !sameHash(t.Hash, hash):
		return nil, a.deny("bad_join_token", codes.Unauthenticated, "join token not recognised (used up, expired and pruned, or never issued)")
	case now.UnixNano() >= t.Expires:
		return nil, a.deny("expired_join_token", codes.Unauthenticated, "join token expired; create another with `plumbctl token create`")
	case t.UsesLeft == 0:
		return nil, a.deny("bad_join_token", codes.Unauthenticated, "join token used up")
	}
	return t, nil
}
