package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/pkg/fact"
)

func TestCheckPackageChanges(t *testing.T) {
	pkgDelta := func(key string, mod func(c *plumbv1.PackageChange)) *plumbv1.Delta {
		f := fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte(key),
			Attrs: &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: "2"}}})
		c := &plumbv1.PackageChange{Package: key, OldVersion: "1", NewVersion: "2", Manager: "dpkg", Files: 3,
			Matched: [][]byte{[]byte("/a")}, Mismatched: [][]byte{[]byte("/b")}, Missing: [][]byte{[]byte("/c")}}
		if mod != nil {
			mod(c)
		}
		return &plumbv1.Delta{Op: plumbv1.DeltaOp_DELTA_OP_UPSERT, Fact: f, PackageChange: c}
	}
	many := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = bytes.Repeat([]byte{'p'}, size)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		d    *plumbv1.Delta
		keep bool
	}{
		{"valid", pkgDelta("app:all", nil), true},
		{"first install", pkgDelta("app:all", func(c *plumbv1.PackageChange) { c.OldVersion = "" }), true},
		{"another package's", pkgDelta("app:all", func(c *plumbv1.PackageChange) { c.Package = "evil:all" }), false},
		{"on a delete", func() *plumbv1.Delta {
			d := pkgDelta("app:all", nil)
			d.Op = plumbv1.DeltaOp_DELTA_OP_DELETE
			return d
		}(), false},
		{"on a file", func() *plumbv1.Delta {
			d := pkgDelta("/etc/x", nil)
			d.Fact = fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/x")})
			return d
		}(), false},
		{"more paths than files", pkgDelta("app:all", func(c *plumbv1.PackageChange) { c.Files = 2 }), false},
		{"too many paths", pkgDelta("app:all", func(c *plumbv1.PackageChange) {
			c.Matched, c.Files = many(limits.MaxPackageChangePaths+1, 1), 1<<20
		}), false},
		{"too many bytes", pkgDelta("app:all", func(c *plumbv1.PackageChange) {
			c.Matched, c.Files = many(300, 4000), 1<<20
		}), false},
		{"an empty path", pkgDelta("app:all", func(c *plumbv1.PackageChange) { c.Missing = [][]byte{{}} }), false},
		{"a long version", pkgDelta("app:all", func(c *plumbv1.PackageChange) {
			c.NewVersion = strings.Repeat("9", limits.MaxPackageChangeFieldBytes+1)
		}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{metrics: NewMetrics(nil)}
			var logs bytes.Buffer
			s.checkPackageChanges(slog.New(slog.NewTextHandler(&logs, nil)), []*plumbv1.Delta{tt.d})
			var m dto.Metric
			if err := s.metrics.PackageChangesDropped.Write(&m); err != nil {
				t.Fatal(err)
			}
			dropped := m.GetCounter().GetValue()
			if kept := tt.d.GetPackageChange() != nil; kept != tt.keep || (dropped == 1) == tt.keep {
				t.Errorf("kept %v (dropped counter %v), want kept %v", kept, dropped, tt.keep)
			}
			if !tt.keep && !strings.Contains(logs.String(), "package change dropped") {
				t.Errorf("a drop was not logged: %s", logs.String())
			}
			if tt.d.GetFact() == nil {
				t.Error("the delta lost its fact")
			}
		})
	}
}
