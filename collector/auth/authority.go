package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/pki"
)

// StreamCloser ends a host's live agent streams (the ingest server).
type StreamCloser interface {
	CloseHost(host string, cause error) int
}

// DefaultCertTTL is the life of an agent's certificate; agents renew at
// two thirds of it.
const DefaultCertTTL = 7 * 24 * time.Hour

// Authority decides who may call what.
type Authority struct {
	st      store.Store
	ca      *CA // nil when the collector serves plaintext (--insecure)
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
	certTTL time.Duration
	streams StreamCloser
	// health records quarantines as the host's "identity" health item;
	// notify wakes the notifiers after (SetHealth). Both may be nil.
	health HealthRecorder
	notify func()
}

// Options configure New.
type Options struct {
	// CA is nil for a plaintext collector: agents then stream without
	// certificates, as whatever host id they say.
	CA      *CA
	CertTTL time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// New returns an authority over st.
func New(st store.Store, opts Options) *Authority {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CertTTL <= 0 {
		opts.CertTTL = DefaultCertTTL
	}
	return &Authority{st: st, ca: opts.CA, logger: opts.Logger, metrics: opts.Metrics, now: opts.Now, certTTL: opts.CertTTL}
}

// SetStreams tells the authority how to end a revoked host's streams.
func (a *Authority) SetStreams(s StreamCloser) { a.streams = s }

// AdminTokenFile is the first admin credential, in the data dir.
const AdminTokenFile = "admin.token"

// Bootstrap makes sure dir/admin.token holds an admin API token the store
// knows: it creates both on first start, and re-registers the file's
// token if the database was replaced. It returns whether it created one.
func (a *Authority) Bootstrap(ctx context.Context, dir string) (bool, error) {
	path := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id, hash, err := parseSecret(kindAPI, string(b))
		if err != nil {
			return false, fmt.Errorf("%s: %w (delete it to have a new one made)", path, err)
		}
		return false, a.st.Update(ctx, func(tx store.Tx) error {
			if t, err := tx.APIToken(id); err == nil && sameHash(t.Hash, hash) {
				return nil
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return tx.PutAPIToken(&store.APIToken{ID: id, Hash: hash, Name: "admin", Role: int32(plumbv1.Role_ROLE_ADMIN),
				Created: a.now().UnixNano(), CreatedBy: "bootstrap (" + AdminTokenFile + ")"})
		})
	}
	if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	token, id, hash, err := newSecret(kindAPI)
	if err != nil {
		return false, err
	}
	err = a.st.Update(ctx, func(tx store.Tx) error {
		return tx.PutAPIToken(&store.APIToken{ID: id, Hash: hash, Name: "admin", Role: int32(plumbv1.Role_ROLE_ADMIN),
			Created: a.now().UnixNano(), CreatedBy: "bootstrap (" + AdminTokenFile + ")"})
	})
	if err != nil {
		return false, err
	}
	if err := pki.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// peerCert returns the verified client certificate of the call, if any.
func peerCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

func (a *Authority) deny(reason string, code codes.Code, format string, args ...any) error {
	a.metrics.Denied.WithLabelValues(reason).Inc()
	return status.Errorf(code, format, args...)
}

// AuthorizeStream decides whether the caller of ctx may stream as host.
// With TLS it needs a client certificate for host whose key is the host's
// enrolled, unrevoked one; a certificate for another host, or another key,
// is refused, logged and counted (the latter quarantines the host id).
// A plaintext collector lets any caller speak for any host.
func (a *Authority) AuthorizeStream(ctx context.Context, host string) error {
	if a.ca == nil {
		return nil
	}
	cert := peerCert(ctx)
	if cert == nil {
		return a.deny("no_certificate", codes.Unauthenticated, "agent streams need a client certificate: enroll with a join token (plumb-agent --join-token)")
	}
	if cert.Subject.CommonName != host {
		a.logger.Warn("agent tried to stream for another host", "cert_host", cert.Subject.CommonName, "hello_host", host)
		return a.deny("wrong_host", codes.PermissionDenied, "this certificate is for host %q; it may not report for %q", cert.Subject.CommonName, host)
	}
	return a.checkIdentity(ctx, host, pki.Pin(cert), "stream")
}

// checkIdentity checks that keyPin is host's enrolled key and the host is
// not revoked; a different key is recorded as a clash.
func (a *Authority) checkIdentity(ctx context.Context, host, keyPin, what string) error {
	var id *store.Identity
	err := a.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		id, err = tx.Identity(host)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return a.deny("unknown_host", codes.PermissionDenied, "host %q is not enrolled", host)
	}
	if err != nil {
		return status.Errorf(codes.Unavailable, "identity of %q: %v", host, err)
	}
	if id.Revoked {
		return a.deny("revoked", codes.PermissionDenied, "host %q was revoked; enroll it again with a new join token", host)
	}
	if !pki.SamePin(id.KeyPin, keyPin) {
		a.clash(ctx, host, keyPin, what+" with a key other than the enrolled one")
		return a.deny("identity_clash", codes.PermissionDenied,
			"host %q is enrolled with another key; this one is refused and the host id is quarantined (a cloned VM or a reused host id?): see `plumbctl hosts` and `plumbctl hosts revoke`", host)
	}
	return nil
}

// clash records that another key tried to be host.
func (a *Authority) clash(ctx context.Context, host, keyPin, reason string) {
	a.metrics.Clashes.Inc()
	a.logger.Warn("identity clash: another key presents itself as an enrolled host; quarantined", "host", host, "key", keyPin, "reason", reason)
	events := 0
	err := a.st.Update(ctx, func(tx store.Tx) error {
		id, err := tx.Identity(host)
		if err != nil {
			return err
		}
		id.Clashes++
		id.ClashKeyPin = keyPin
		id.ClashAt = a.now().UnixNano()
		id.ClashReason = reason
		if err := tx.PutIdentity(id); err != nil {
			return err
		}
		events, err = a.identityHealth(tx, host, true, clashDetail(keyPin))
		return err
	})
	if err != nil {
		a.logger.Warn("could not record an identity clash", "host", host, "err", err)
		return
	}
	a.notified(events)
}

// Identity returns the API view of a stored identity.
func Identity(id *store.Identity) *plumbv1.HostIdentity {
	if id == nil {
		return nil
	}
	st := plumbv1.IdentityState_IDENTITY_STATE_ENROLLED
	switch {
	case id.Revoked:
		st = plumbv1.IdentityState_IDENTITY_STATE_REVOKED
	case id.Quarantined():
		st = plumbv1.IdentityState_IDENTITY_STATE_QUARANTINED
	}
	return &plumbv1.HostIdentity{
		State: st, KeyPin: id.KeyPin, EnrolledUnixNano: id.Enrolled, CertNotAfterUnixNano: id.NotAfter,
		Clashes: id.Clashes, ClashKeyPin: id.ClashKeyPin, ClashUnixNano: id.ClashAt, ClashReason: id.ClashReason,
	}
}
