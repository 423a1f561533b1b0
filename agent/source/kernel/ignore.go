package kernel

// DefaultSysctlIgnore lists the sysctls the source never reports, as glob
// patterns over dotted names ("*" matches any run of characters, dots
// included; "?" one character). Each is either a value the kernel changes
// by itself, which would be reported as drift on every poll, or a secret
// that must not leave the host. The list was drawn from comparing
// successive reads of /proc/sys on idle and busy hosts.
var DefaultSysctlIgnore = []string{
	// Counters and gauges the kernel updates as it runs.
	"kernel.random.boot_id",       // new at every boot
	"kernel.random.entropy_avail", // entropy pool level
	"kernel.random.uuid",          // a fresh UUID on every read
	"kernel.ns_last_pid",          // last PID handed out
	"kernel.pty.nr",               // pseudo-terminals in use
	"fs.dentry-state",             // dentry cache usage
	"fs.inode-state",              // inode cache usage
	"fs.inode-nr",                 // inode cache usage
	"fs.file-nr",                  // open file handles
	"fs.aio-nr",                   // AIO requests in flight
	"fs.quota.*",                  // quota operation statistics
	"net.netfilter.nf_conntrack_count",
	// Lowered by the kernel itself when perf sampling overruns its budget.
	"kernel.perf_event_max_sample_rate",
	// Reading it makes every CPU flush its VM statistics, and it holds no
	// value (sysctl -a skips it for that reason). Ignored names are never
	// read.
	"vm.stat_refresh",
	// Deprecated aliases of the *_ms neighbour timers: one change would
	// show twice (sysctl -a hides them too).
	"net.*.neigh.*.base_reachable_time",
	"net.*.neigh.*.retrans_time",
	// binfmt_misc is a separate filesystem mounted under /proc/sys; its
	// entries are registrations, not sysctls.
	"fs.binfmt_misc.*",
	// Secrets.
	"net.ipv4.tcp_fastopen_key",
	"net.ipv6.conf.*.stable_secret",
	// Per-interface settings of container veth pairs, which appear and
	// vanish with every container.
	"net.*.conf.veth*",
	"net.*.neigh.veth*",
}

// matchGlob reports whether name matches pattern: "*" matches any run of
// characters (dots included), "?" any one character, everything else
// itself.
func matchGlob(pattern, name string) bool {
	// Iterative matching with backtracking to the last star: linear for
	// patterns with one star, and never exponential.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func ignored(patterns []string, name string) bool {
	for _, g := range patterns {
		if matchGlob(g, name) {
			return true
		}
	}
	return false
}
