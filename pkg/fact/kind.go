package fact

import (
	"fmt"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

var kindNames = map[plumbv1.FactKind]string{
	plumbv1.FactKind_FACT_KIND_FILE:     "file",
	plumbv1.FactKind_FACT_KIND_PACKAGE:  "package",
	plumbv1.FactKind_FACT_KIND_CONFFILE: "conffile",
	plumbv1.FactKind_FACT_KIND_KERNEL:   "kernel",
	plumbv1.FactKind_FACT_KIND_KMOD:     "kmod",
	plumbv1.FactKind_FACT_KIND_SYSCTL:   "sysctl",
	plumbv1.FactKind_FACT_KIND_HEALTH:   "health",

	plumbv1.FactKind_FACT_KIND_EXPECTATION: "expectation",
}

// KindName returns the short lowercase name of k ("file", "sysctl", ...).
func KindName(k plumbv1.FactKind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind%d", int32(k))
}

// ParseKind is the inverse of KindName.
func ParseKind(s string) (plumbv1.FactKind, error) {
	for k, n := range kindNames {
		if strings.EqualFold(n, s) {
			return k, nil
		}
	}
	names := make([]string, 0, len(kindNames))
	for k := plumbv1.FactKind_FACT_KIND_FILE; k <= plumbv1.FactKind_FACT_KIND_EXPECTATION; k++ {
		names = append(names, kindNames[k])
	}
	return 0, fmt.Errorf("unknown fact kind %q (want one of %s)", s, strings.Join(names, ", "))
}
