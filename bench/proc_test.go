package bench

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a running binary. Its combined output is read line by line and
// each line is stamped with the time it arrived, so a benchmark can time
// a log line without polling.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}

	mu     sync.Mutex
	lines  []logLine     // guarded by mu
	notify chan struct{} // closed and replaced on each new line; guarded by mu
}

type logLine struct {
	at   time.Time
	text string
}

// start runs path with args; b's cleanup stops it and, when b failed,
// prints its output.
func start(b *testing.B, name, path string, args ...string) *proc {
	b.Helper()
	p := &proc{name: name, cmd: exec.Command(path, args...), done: make(chan struct{}), notify: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			now := time.Now()
			p.mu.Lock()
			p.lines = append(p.lines, logLine{at: now, text: sc.Text()})
			close(p.notify)
			p.notify = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		<-read
		close(p.done)
	}()
	b.Cleanup(func() {
		p.stop()
		if b.Failed() {
			b.Logf("--- %s output ---\n%s", name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits, then SIGKILL.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	for _, l := range p.lines {
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// awaitLine waits up to d for an output line containing every one of
// parts and returns it with its arrival time.
func (p *proc) awaitLine(b *testing.B, d time.Duration, parts ...string) logLine {
	b.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		lines, notify := p.lines[seen:], p.notify
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if containsAll(l.text, parts) {
				return l
			}
		}
		select {
		case <-notify:
		case <-p.done:
			b.Fatalf("%s exited while waiting for a line with %q", p.name, parts)
		case <-deadline.C:
			b.Fatalf("%s: no line with %q within %v", p.name, parts, d)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// logAttr returns the value of key=value in a text-format slog line.
func logAttr(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return strings.Trim(v, `"`)
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (p *proc) peakRSS(b *testing.B) int64 {
	b.Helper()
	return statusBytes(b, p.name, "/proc/"+strconv.Itoa(p.cmd.Process.Pid)+"/status", "VmHWM:")
}

// rss returns the process's resident set size now (VmRSS) in bytes.
func (p *proc) rss(b *testing.B) int64 {
	b.Helper()
	return statusBytes(b, p.name, "/proc/"+strconv.Itoa(p.cmd.Process.Pid)+"/status", "VmRSS:")
}

// selfRSS returns this process's resident set size now, in bytes.
func selfRSS(b *testing.B) int64 {
	b.Helper()
	return statusBytes(b, "bench", "/proc/self/status", "VmRSS:")
}

// statusBytes reads a "Field: N kB" line of a /proc status file.
func statusBytes(b *testing.B, name, path, field string) int64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("%s: read status: %v", name, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatalf("%s: %s %q: %v", name, field, l, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("%s: no %s in %s", name, field, path)
	return 0
}

// cpuTime returns the user+system CPU time the process has used so far.
func (p *proc) cpuTime(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		b.Fatalf("%s: read stat: %v", p.name, err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15 (clock ticks).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		b.Fatalf("%s: short stat %q", p.name, s)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("%s: stat %q: %v", p.name, s, err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux ABI Plumb ships for.
	return time.Duration(ticks) * 10 * time.Millisecond
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
