package policy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
)

// Bounds of the service's work and answers.
const (
	// BatchHosts is how many hosts one transaction re-evaluates when a
	// policy is applied: ingest waits for at most one batch.
	BatchHosts = 100
	// MaxViolations and MaxViolationBytes bound the violations one
	// answer lists (each detail is at most drift.MaxHealthDetail bytes),
	// well under gRPC's default 4 MiB receive limit.
	MaxViolations     = 10_000
	MaxViolationBytes = 2 << 20
)

// Service implements plumbv1.PolicyServiceServer.
type Service struct {
	plumbv1.UnimplementedPolicyServiceServer

	st     store.Store
	eng    *drift.Engine
	set    *Set
	notify func()
	log    *slog.Logger
	now    func() time.Time

	mu sync.Mutex // one apply at a time
}

// NewService serves the policy of st, keeping set (the engine's
// Evaluator) in step with it. notify is called after a commit that
// appended events (nil: none).
func NewService(st store.Store, eng *drift.Engine, set *Set, notify func(), log *slog.Logger) *Service {
	if notify == nil {
		notify = func() {}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, eng: eng, set: set, notify: notify, log: log, now: time.Now}
}

// WithClock makes the service stamp policies with now's time.
func (s *Service) WithClock(now func() time.Time) *Service {
	s.now = now
	return s
}

// Load puts the newest stored policy in force in set; none is no error.
func Load(ctx context.Context, st store.Store, set *Set) error {
	var latest *store.Policy
	err := st.View(ctx, func(tx store.ReadTx) error {
		p, err := tx.LatestPolicy()
		latest = p
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		set.UseVersion(nil, 0)
		return nil
	}
	if err != nil {
		return err
	}
	if latest.Version == set.Version() && set.cur.Load() != nil {
		return nil
	}
	p, err := Parse([]byte(latest.YAML))
	if err != nil {
		return fmt.Errorf("stored policy %d: %w", latest.Version, err)
	}
	set.UseVersion(p, latest.Version)
	return nil
}

// Follow keeps set on the newest stored policy, looking every every until
// ctx ends, for collectors sharing a database: a policy applied through
// another collector is in force here within one look. (Facts judged in
// between are judged by the policy before; the applying collector's
// re-evaluation of every host settles their items.) Errors are logged and
// retried at the next look.
func Follow(ctx context.Context, st store.Store, set *Set, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := set.Version()
		if err := Load(ctx, st, set); err != nil {
			if ctx.Err() == nil {
				log.Warn("policy: loading the newest stored policy failed", "err", err)
			}
			continue
		}
		if v := set.Version(); v != before {
			log.Info("policy in force follows the store", "version", v, "was", before)
		}
	}
}

func (s *Service) ApplyPolicy(ctx context.Context, req *plumbv1.ApplyPolicyRequest) (*plumbv1.ApplyPolicyResponse, error) {
	p, err := Parse([]byte(req.GetYaml()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &plumbv1.ApplyPolicyResponse{}
	found := &violations{resp: resp}
	if req.GetDryRun() {
		err := s.st.View(ctx, func(tx store.ReadTx) error {
			return tx.Hosts(func(h *store.Host) error {
				resp.Hosts++
				vs, err := Host(tx, h, p)
				if err != nil {
					return err
				}
				found.add(h.ID, vs)
				return nil
			})
		})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "dry run: %v", err)
		}
		return resp, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	by := "unknown"
	if c, ok := auth.CallerFrom(ctx); ok {
		by = c.Name
	}
	stored := &store.Policy{Author: by, AppliedAt: s.now().UnixNano(), YAML: req.GetYaml(), Rules: len(p.Rules)}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		stored.Version = 1
		last, err := tx.LatestPolicy()
		switch {
		case err == nil:
			stored.Version = last.Version + 1
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := tx.PutPolicy(stored); err != nil {
			return err
		}
		return store.Audit(tx, time.Unix(0, stored.AppliedAt), by, "policy.apply",
			"", fmt.Sprintf("policy version %d (%d rules)", stored.Version, stored.Rules), "")
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "store policy: %v", err)
	}
	s.set.UseVersion(p, stored.Version)
	s.log.Info("policy applied", "version", stored.Version, "by", by, "rules", len(p.Rules))
	resp.Policy = versionProto(stored, true)
	// The policy is in force from here: later facts are checked against
	// it. What hosts already have is checked now, a batch at a time.
	if err := s.reevaluate(ctx, p, found); err != nil {
		return nil, status.Errorf(codes.Internal, "policy %d is stored and in force, but evaluating hosts failed (it resumes as their facts change): %v", stored.Version, err)
	}
	return resp, nil
}

// violations fills an answer's violations within the bounds.
type violations struct {
	resp  *plumbv1.ApplyPolicyResponse
	bytes int
}

func (w *violations) add(host string, vs []drift.Verdict) {
	resp := w.resp
	for _, v := range vs {
		if !v.Violated {
			continue
		}
		pv := &plumbv1.PolicyViolation{HostId: host, Rule: v.Rule, Detail: drift.ClipDetail(v.Detail)}
		n := proto.Size(pv) + 8 // with its tag and length
		if len(resp.Violations) >= MaxViolations || w.bytes+n > MaxViolationBytes {
			resp.Truncated = true
			return
		}
		w.bytes += n
		resp.Violations = append(resp.Violations, pv)
	}
}

// reevaluate moves every host's expectation items to p's verdicts, in
// transactions of BatchHosts hosts.
func (s *Service) reevaluate(ctx context.Context, p *Policy, found *violations) error {
	var ids []string
	err := s.st.View(ctx, func(tx store.ReadTx) error {
		return tx.Hosts(func(h *store.Host) error { ids = append(ids, h.ID); return nil })
	})
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		batch := ids[:min(BatchHosts, len(ids))]
		ids = ids[len(batch):]
		type judged struct {
			host string
			vs   []drift.Verdict
		}
		var done []judged
		events := 0
		err := s.st.Update(ctx, func(tx store.Tx) error {
			// Reset: a retried transaction starts over.
			done, events = done[:0], 0
			for _, id := range batch {
				h, err := tx.Host(id)
				if errors.Is(err, store.ErrNotFound) {
					continue // forgotten meanwhile
				}
				if err != nil {
					return err
				}
				vs, err := Host(tx, h, p)
				if err != nil {
					return err
				}
				evs, err := s.eng.Expectations(tx, h, vs)
				if err != nil {
					return err
				}
				done = append(done, judged{h.ID, vs})
				if len(evs) > 0 {
					events += len(evs)
					if err := tx.PutHost(h); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if events > 0 {
			s.notify()
		}
		for _, j := range done {
			found.resp.Hosts++
			found.add(j.host, j.vs)
		}
	}
	return nil
}

func (s *Service) GetPolicy(ctx context.Context, req *plumbv1.GetPolicyRequest) (*plumbv1.GetPolicyResponse, error) {
	var p *store.Policy
	err := s.st.View(ctx, func(tx store.ReadTx) (err error) {
		if req.GetVersion() == 0 {
			p, err = tx.LatestPolicy()
		} else {
			p, err = tx.Policy(req.GetVersion())
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound) && req.GetVersion() == 0:
		return nil, status.Error(codes.NotFound, "no policy has been applied")
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no policy version %d", req.GetVersion())
	case err != nil:
		return nil, status.Errorf(codes.Internal, "policy: %v", err)
	}
	return &plumbv1.GetPolicyResponse{Policy: versionProto(p, true)}, nil
}

func (s *Service) ListPolicyVersions(ctx context.Context, req *plumbv1.ListPolicyVersionsRequest) (*plumbv1.ListPolicyVersionsResponse, error) {
	size, err := page.Size(req.GetPageSize(), 100, 1000)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	fp := page.FingerprintOf(req)
	key, err := page.Decode(req.GetPageToken(), page.Policies, fp)
	if err == nil && key != nil && len(key) != 8 {
		err = fmt.Errorf("%w: not a policy version", page.ErrToken)
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var before uint64
	if key != nil {
		before = binary.BigEndian.Uint64(key)
		if before == 0 {
			return nil, status.Error(codes.InvalidArgument, page.ErrToken.Error())
		}
	}
	resp := &plumbv1.ListPolicyVersionsResponse{}
	err = s.st.View(ctx, func(tx store.ReadTx) error {
		return tx.PoliciesBefore(before, func(p *store.Policy) error {
			if len(resp.Versions) == size {
				last := resp.Versions[len(resp.Versions)-1].GetVersion()
				resp.NextPageToken = page.Encode(page.Policies, fp, binary.BigEndian.AppendUint64(nil, last))
				return page.ErrFull
			}
			resp.Versions = append(resp.Versions, versionProto(p, false))
			return nil
		})
	})
	if err := page.Done(err); err != nil {
		return nil, status.Errorf(codes.Internal, "policy versions: %v", err)
	}
	return resp, nil
}

func versionProto(p *store.Policy, withText bool) *plumbv1.PolicyVersion {
	v := &plumbv1.PolicyVersion{Version: p.Version, Author: p.Author, AppliedAtUnixNano: p.AppliedAt, Rules: uint32(max(p.Rules, 0))}
	if withText {
		v.Yaml = p.YAML
	}
	return v
}
