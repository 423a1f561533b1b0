package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// machine describes where the run happened, for the summary and for
// bench/README.md: the CPU, the cores, the kernel, and how fast this
// machine reads its page cache, measured now (the floor under every
// scan figure, and what differs most between machines).
func machine() []string {
	lines := []string{
		fmt.Sprintf("CPU: %s; cores: %d; kernel: %s", cpuModel(), runtime.NumCPU(), kernelRelease()),
	}
	if mibs, err := pageCacheRead(filepath.Join(workDir, "pagecache.bin"), 256<<20); err != nil {
		lines = append(lines, "page-cache read: not measured: "+err.Error())
	} else {
		lines = append(lines, fmt.Sprintf("page-cache read, 256 MiB file already cached, 1 MiB reads: %.0f MiB/s", mibs))
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		lines = append(lines, "load average at the end of the run (1, 5, 15 min): "+strings.Join(strings.Fields(string(load))[:3], ", "))
	}
	return lines
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// pageCacheRead writes size bytes to path, reads them once to be sure
// they are cached, then times the best of three reads, in MiB/s.
func pageCacheRead(path string, size int) (float64, error) {
	defer os.Remove(path)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	for n := 0; n < size; n += len(buf) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	best := time.Duration(0)
	for round := range 4 {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		took := time.Since(start)
		f.Close()
		if err != nil {
			return 0, err
		}
		if round > 0 && (best == 0 || took < best) { // round 0 only warms
			best = took
		}
	}
	return float64(size) / (1 << 20) / best.Seconds(), nil
}
