package factjson

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

func TestEventPackageChange(t *testing.T) {
	ev := &plumbv1.DriftEvent{Item: &plumbv1.DriftItem{}}
	b, _ := json.Marshal(FromEvent(ev))
	if strings.Contains(string(b), "package_change") {
		t.Errorf("an event without a change shows one: %s", b)
	}
	ev.PackageChange = &plumbv1.PackageChange{Package: "app:all", OldVersion: "1", NewVersion: "2", Manager: "dpkg", Files: 2,
		Matched: [][]byte{[]byte("/usr/bin/app")}, Mismatched: [][]byte{[]byte("/etc/\xff\x1b[31m")}}
	b, _ = json.Marshal(FromEvent(ev))
	var got struct {
		PackageChange PackageChange `json:"package_change"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	c := got.PackageChange
	if c.Package != "app:all" || c.OldVersion != "1" || c.NewVersion != "2" || c.Files != 2 || len(c.Matched) != 1 || c.Missing == nil {
		t.Errorf("package_change %+v", c)
	}
	if m := c.Mismatched[0]; strings.ContainsRune(m, 0x1b) || !utf8.ValidString(m) {
		t.Errorf("a path that is not UTF-8 shown raw: %q", m)
	}
}
