package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// kinds are the fact kinds the source covers, one snapshot scope each.
var kinds = []plumbv1.FactKind{
	plumbv1.FactKind_FACT_KIND_KERNEL,
	plumbv1.FactKind_FACT_KIND_KMOD,
	plumbv1.FactKind_FACT_KIND_SYSCTL,
}

// facts is one poll: sealed facts by key.
type facts map[fact.Key]*plumbv1.Fact

// poll reads the kernel state under root. Missing files (no /proc/modules
// on a kernel without modules) give no facts; an unreadable /proc (not
// mounted under root) is an error, so a broken mount is not reported as
// every fact gone.
func poll(log *slog.Logger, root string, prefixes, ignore []string, now int64) (facts, error) {
	proc := filepath.Join(root, "proc")
	if _, err := os.Stat(filepath.Join(proc, "sys")); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	out := facts{}
	add := func(f *plumbv1.Fact) {
		f.ObservedUnixNano = now
		fact.Seal(f)
		out[fact.KeyOf(f)] = f
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

// report sends sink the changes from old to cur: an upsert for each fact
// that is new or whose digest changed, a delete for each that is gone, in
// key order. It returns how many changes it sent.
func report(sink source.Sink, old, cur facts) int {
	var up, del []fact.Key
	for k, f := range cur {
		if o, ok := old[k]; !ok || !bytes.Equal(o.GetDigest(), f.GetDigest()) {
			up = append(up, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			del = append(del, k)
		}
	}
	sortKeys(up)
	sortKeys(del)
	for _, k := range up {
		sink.Upsert(cur[k])
	}
	for _, k := range del {
		sink.Delete(k)
	}
	return len(up) + len(del)
}

// snapshot sends sink every fact of cur as one complete snapshot per kind.
func snapshot(sink source.Sink, cur facts) {
	keys := make([]fact.Key, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sortKeys(keys)
	for _, kind := range kinds {
		scope := source.Scope{Kind: kind}
		sink.Begin(scope)
		for _, k := range keys {
			if k.Kind == kind {
				sink.Upsert(cur[k])
			}
		}
		sink.End(scope)
	}
}

func sortKeys(ks []fact.Key) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Kind != ks[j].Kind {
			return ks[i].Kind < ks[j].Kind
		}
		return ks[i].ID < ks[j].ID
	})
}
