package state

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/agent/source"
)

// mappedRSS returns how much of the file at path this process holds
// resident through its mappings, from /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		fields := strings.Fields(l)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps line %q: %v", l, err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// A sweep over every fact reads every page of the facts bucket; the agent
// must not keep them resident (its RSS would grow with the file count).
func TestMappedPagesAreReleased(t *testing.T) {
	d := openDB(t, t.TempDir(), Options{SpoolLimit: 1 << 30})
	const n = 40000
	ops := make([]source.Op, 0, 2000)
	for i := range n {
		ops = append(ops, up(fileFact(fmt.Sprintf("/srv/tree/d%03d/file-with-a-longish-name-%06d.conf", i/100, i), strconv.Itoa(i))))
		if len(ops) == cap(ops) {
			mustApply(t, d, len(ops), ops...)
			ops = ops[:0]
		}
	}
	st, err := os.Stat(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 8<<20 {
		t.Fatalf("database is %d bytes; the test wants one of at least 8 MiB", st.Size())
	}
	var peak int64
	seen := 0
	err = d.Facts(plumbv1.FactKind_FACT_KIND_FILE, "", func(*plumbv1.Fact) error {
		if seen++; seen%1000 == 0 {
			peak = max(peak, mappedRSS(t, d.Path()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("Facts gave %d facts, want %d", seen, n)
	}
	// Within the sweep: at most about releaseKeys entries' pages.
	if peak > 8<<20 {
		t.Errorf("%d bytes of the %d-byte database resident during a sweep, want at most 8 MiB", peak, st.Size())
	}
	// Once idle, nothing stays resident.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rss := mappedRSS(t, d.Path())
		if rss <= 64<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of the database still resident after the agent went idle", rss)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
