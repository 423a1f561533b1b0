package filestamp

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status")
	if got := Of(p); got != Missing {
		t.Fatalf("Of(missing) = %q, want %q", got, Missing)
	}
	write := func(path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(p, "a")
	first := Of(p)
	if first == Missing || Of(p) != first {
		t.Fatalf("Of = %q then %q; want one stable stamp", first, Of(p))
	}

	// Same size and modification time, but a new inode: dpkg's
	// write-and-rename.
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	write(p+"-new", "b")
	if err := os.Chtimes(p+"-new", fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+"-new", p); err != nil {
		t.Fatal(err)
	}
	if Of(p) == first {
		t.Error("a file replaced by rename kept its stamp")
	}

	// Rewritten in place with another size.
	renamed := Of(p)
	write(p, "longer")
	if Of(p) == renamed {
		t.Error("a file rewritten with another size kept its stamp")
	}
	// Only the modification time differs.
	grown := Of(p)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if Of(p) == grown {
		t.Error("a file with a new mtime kept its stamp")
	}
}
