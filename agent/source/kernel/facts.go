package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source/snapshot"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// kinds are the fact kinds the source covers, one snapshot scope each.
var kinds = []plumbv1.FactKind{
	plumbv1.FactKind_FACT_KIND_KERNEL,
	plumbv1.FactKind_FACT_KIND_KMOD,
	plumbv1.FactKind_FACT_KIND_SYSCTL,
}

// poll reads the kernel state under root. Missing files (no /proc/modules
// on a kernel without modules) give no facts; an unreadable /proc (not
// mounted under root) is an error, so a broken mount is not reported as
// every fact gone.
func poll(log *slog.Logger, root string, prefixes, ignore []string, now int64) (snapshot.Facts, error) {
	proc := filepath.Join(root, "proc")
	if _, err := os.Stat(filepath.Join(proc, "sys")); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	out := snapshot.Facts{}
	add := func(f *plumbv1.Fact) {
		f.ObservedUnixNano = now
		out.Add(fact.Seal(f))
	}
	value := func(kind plumbv1.FactKind, key, v string) *plumbv1.Fact {
		return &plumbv1.Fact{Kind: kind, Key: []byte(key),
			Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: v}}}
	}
	for key, file := range map[string]string{"release": "sys/kernel/osrelease", "cmdline": "cmdline"} {
		b, err := os.ReadFile(filepath.Join(proc, file))
		if err != nil {
			log.Debug("kernel value unreadable", "key", key, "err", err)
			continue
		}
		add(value(plumbv1.FactKind_FACT_KIND_KERNEL, key, strings.TrimSpace(string(b))))
	}

	if f, err := os.Open(filepath.Join(proc, "modules")); err == nil {
		mods, err := ParseModules(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("kernel: %w", err)
		}
		for name, size := range mods {
			add(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_KMOD, Key: []byte(name),
				Attrs: &plumbv1.Fact_Kmod{Kmod: &plumbv1.KmodAttrs{Size: size}}})
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		log.Debug("kernel modules unreadable", "err", err)
	}

	for name, v := range readSysctls(log, filepath.Join(proc, "sys"), prefixes, ignore) {
		add(value(plumbv1.FactKind_FACT_KIND_SYSCTL, name, v))
	}
	return out, nil
}
