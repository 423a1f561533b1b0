package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// hostile is text an agent controls, built to rewrite a terminal: clear
// the screen, return the cursor and forge a row (CR, LF, tab), ring the
// bell, a C1 CSI, a bidi override, a zero-width space and DEL. (Proto
// strings must be UTF-8; keys, which are bytes, add a byte that is not.)
const hostile = "evil\x1b[2J\r\nFORGED\tROW\x07\u009b31m\u202edesrever\u2066\u200b\x7f"

// checkNoControls fails t if out, printed text, holds anything but
// printable runes and the newlines that end lines.
func checkNoControls(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not valid UTF-8: %q", what, out)
	}
	for i, r := range out {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
			r == 0x200b {
			t.Errorf("%s: raw %U at offset %d in %q", what, r, i, out)
			return
		}
	}
}

// hostileFake is the fake collector with a host, a coverage gap, an OS,
// labels, facts and drift whose text is hostile.
func hostileFake(t *testing.T) (*fakeCollector, string) {
	f, addr, _ := startFake(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, &plumbv1.Host{
		HostId: hostile,
		Info:   &plumbv1.HostInfo{Os: "linux", Platform: "deb\x1b]0;title\x07ian", PlatformVersion: "12\u202e5", Hostname: hostile},
		Labels: map[string]string{hostile: hostile},
		Coverage: []*plumbv1.CoverageCondition{{
			Source: "file\t", State: plumbv1.CoverageState_COVERAGE_STATE_DEGRADED,
			Reason: "over\nflow\u009b", Detail: hostile,
		}},
	})
	f.facts[hostile] = []*plumbv1.Fact{
		valueFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "k\x1b[1m\xff", "v\r\n\u202e"),
		packageFact("p\u2067", "1.0\x1b[K", "amd\t64"),
	}
	f.drift = append(f.drift, &plumbv1.DriftItem{
		Id: "id\x1b[7m" + hostile, HostId: hostile, Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("k\x1b[1m\xff"),
		Change: plumbv1.DriftChange_DRIFT_CHANGE_ADDED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
		Current:    f.facts[hostile][0],
		AcceptedBy: hostile, Reason: hostile,
	})
	return f, addr
}

func runOut(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestHostileTextIsEscaped runs each listing against hostile collector
// text: the tables keep one line per row and no raw control reaches the
// terminal, and JSON gives scripts the same strings back.
func TestHostileTextIsEscaped(t *testing.T) {
	_, addr := hostileFake(t)
	common := []string{"--insecure", "--collector", addr}
	for _, tc := range []struct {
		args []string
		rows int // table lines, header included
	}{
		{[]string{"hosts"}, 4},
		{[]string{"facts", "--host", hostile}, 3},
		{[]string{"drift", "--host", hostile}, 2},
		{[]string{"drift", "--all"}, 8},
	} {
		name := strings.Join(tc.args[:1], " ")
		stdout, stderr, code := runOut(t, append(common, tc.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d; stderr: %s", name, code, stderr)
		}
		checkNoControls(t, name+" stdout", stdout)
		checkNoControls(t, name+" stderr", stderr)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != tc.rows {
			t.Errorf("%s: %d lines, want %d:\n%s", name, len(lines), tc.rows, stdout)
		}
		if strings.Contains(stdout, "\nFORGED") {
			t.Errorf("%s: a forged row:\n%s", name, stdout)
		}
	}

	stdout, _, _ := runOut(t, append(common, "hosts")...)
	want := `evil\x1b[2J\x0d\x0aFORGED\x09ROW\x07\u009b31m\u202edesrever\u2066\u200b\x7f`
	if !strings.Contains(stdout, "\n"+want+" ") {
		t.Errorf("hosts: host id not shown as %s:\n%s", want, stdout)
	}
	for _, w := range []string{`over\x0aflow\u009b`, `deb\x1b]0;title\x07ian 12\u202e5`} {
		if !strings.Contains(stdout, w) {
			t.Errorf("hosts: want %s in:\n%s", w, stdout)
		}
	}

	// JSON: no raw DEL, C1 or bidi rune; the strings decode unchanged.
	stdout, stderr, code := runOut(t, append(common, "-o", "json", "hosts")...)
	if code != 0 {
		t.Fatalf("hosts -o json: exit %d; stderr: %s", code, stderr)
	}
	checkNoControls(t, "hosts -o json", stdout)
	var hosts []hostJSON
	if err := json.Unmarshal([]byte(stdout), &hosts); err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 3 || hosts[2].HostID != hostile || hosts[2].Labels[hostile] != hostile || hosts[2].Coverage[0].Detail != hostile {
		t.Errorf("hosts -o json did not round trip the hostile host: %+v", hosts)
	}
	stdout, _, _ = runOut(t, append(common, "-o", "json", "drift", "--all")...)
	checkNoControls(t, "drift -o json", stdout)
	if !strings.Contains(stdout, `\u009b31m\u202edesrever\u2066\u200b\u007f`) {
		t.Errorf("drift -o json: hostile text not escaped as \\uNNNN:\n%s", stdout)
	}
}

// TestHostileWatchLine checks that a drift event with a hostile host id
// prints as one escaped line.
func TestHostileWatchLine(t *testing.T) {
	f, addr, _ := startFake(t)
	for _, output := range []string{"table", "json"} {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"--insecure", "--collector", addr, "-o", output, "drift", "--watch"}, &stdout, &stderr)
		}()
		if err := f.waitWatchers(1, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		f.push(plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, hostile, plumbv1.FactKind_FACT_KIND_FILE,
			[]byte("/etc/\x1b[2J"), plumbv1.DriftChange_DRIFT_CHANGE_ADDED)
		waitFor(t, "the event line", func() bool { return strings.HasSuffix(stdout.String(), "\n") })
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("%s: exit %d; stderr: %s", output, code, stderr.String())
		}
		if err := f.waitWatchers(0, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		out := stdout.String()
		checkNoControls(t, output, out)
		checkNoControls(t, output+" stderr", stderr.String())
		if n := strings.Count(out, "\n"); n != 1 {
			t.Errorf("%s: %d lines, want 1:\n%s", output, n, out)
		}
	}
}

// TestHostileErrorMessage checks that an error message from the collector
// reaches stderr escaped.
func TestHostileErrorMessage(t *testing.T) {
	f, addr, _ := startFake(t)
	f.mu.Lock()
	f.hostsErr = status.Error(codes.Internal, "host "+hostile+" broke")
	f.mu.Unlock()
	stdout, stderr, code := runOut(t, "--insecure", "--collector", addr, "hosts")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitFailure, stderr)
	}
	checkNoControls(t, "stderr", stderr)
	if stdout != "" {
		t.Errorf("stdout: %q", stdout)
	}
	if want := `plumbctl: list hosts: internal: host evil\x1b[2J\x0d\x0aFORGED`; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not contain %q", stderr, want)
	}
}
