package ingest

import (
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// checkPackageChanges drops, from deltas already found valid, every
// package change that is not the context of its delta, or is over its
// limits: a change belongs only to the UPSERT of a package fact whose key
// is the change's package. A dropped change is counted and logged, and
// its delta applied all the same: a change is context for alerting,
// never state, and refusing its delta would stall the agent's spool on
// it for good.
func (s *Server) checkPackageChanges(logger *slog.Logger, ds []*plumbv1.Delta) {
	for _, d := range ds {
		c := d.GetPackageChange()
		if c == nil {
			continue
		}
		if err := checkPackageChange(d, c); err != nil {
			d.PackageChange = nil
			s.metrics.PackageChangesDropped.Inc()
			logger.Warn("package change dropped; delta kept", "seq", d.GetSeq(), "err", err)
		}
	}
}

func checkPackageChange(d *plumbv1.Delta, c *plumbv1.PackageChange) error {
	f := d.GetFact()
	switch {
	case d.GetOp() != plumbv1.DeltaOp_DELTA_OP_UPSERT:
		return fmt.Errorf("on a %v delta, not an upsert", d.GetOp())
	case f.GetKind() != plumbv1.FactKind_FACT_KIND_PACKAGE:
		return fmt.Errorf("on a %s fact, not a package", fact.KindName(f.GetKind()))
	case string(f.GetKey()) != c.GetPackage():
		return fmt.Errorf("names package %.80q, on the fact of %.80q", c.GetPackage(), f.GetKey())
	}
	for name, v := range map[string]string{"old_version": c.GetOldVersion(), "new_version": c.GetNewVersion(), "manager": c.GetManager()} {
		if len(v) > limits.MaxPackageChangeFieldBytes {
			return fmt.Errorf("%s of %d bytes, at most %d", name, len(v), limits.MaxPackageChangeFieldBytes)
		}
	}
	n := len(c.GetMatched()) + len(c.GetMismatched()) + len(c.GetMissing())
	if n > limits.MaxPackageChangePaths {
		return fmt.Errorf("%d paths, at most %d", n, limits.MaxPackageChangePaths)
	}
	for _, list := range [][][]byte{c.GetMatched(), c.GetMismatched(), c.GetMissing()} {
		for _, p := range list {
			if len(p) == 0 || len(p) > limits.MaxKeyBytes {
				return fmt.Errorf("a path of %d bytes (want 1 to %d)", len(p), limits.MaxKeyBytes)
			}
		}
	}
	if h := c.GetMatchedSha256(); len(h) > 0 {
		if len(h) != len(c.GetMatched()) {
			return fmt.Errorf("%d matched digests for %d matched paths", len(h), len(c.GetMatched()))
		}
		for _, d := range h {
			if len(d) != 32 {
				return fmt.Errorf("a matched digest of %d bytes, want 32", len(d))
			}
		}
	}
	if uint64(n) > uint64(c.GetFiles()) {
		return fmt.Errorf("%d paths listed of %d files", n, c.GetFiles())
	}
	if size := proto.Size(c); size > limits.MaxPackageChangeBytes {
		return fmt.Errorf("%d bytes, at most %d", size, limits.MaxPackageChangeBytes)
	}
	return nil
}
