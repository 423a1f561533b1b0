package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// fakeCollector is an in-memory QueryService: a few hosts, their facts and
// drift, a record of every AcceptDrift request as received, and watchers
// that get the events a test pushes.
type fakeCollector struct {
	plumbv1.UnimplementedQueryServiceServer

	mu       sync.Mutex
	hosts    []*plumbv1.Host
	facts    map[string][]*plumbv1.Fact
	drift    []*plumbv1.DriftItem
	accepts  []*plumbv1.AcceptDriftRequest
	watchers map[*watcher]bool
	seq      uint64
	// hostsErr, when set, is what ListHosts returns.
	hostsErr error
	// lastList is the last list request, as `fake lastlist` prints it.
	lastList string
	log      []*plumbv1.DriftEvent // every pushed event, for resumed watches
	resumes  []uint64              // after_seq of each watch opened

	silenceClock *silenceClock // of the real silence service beside the fake
}

type watcher struct {
	host   string
	events chan *plumbv1.DriftEvent // closed to end the stream cleanly
	drop   chan struct{}            // closed to drop it as too slow
}

// serveFake serves a seeded fakeCollector on a 127.0.0.1 port and returns
// it, its address and a function that stops the server at once (which
// drops open streams; calling it again is harmless).
func serveFake() (*fakeCollector, string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("listen: %w", err)
	}
	f := newFake()
	srv := grpc.NewServer(grpc.UnaryInterceptor(callerInterceptor))
	plumbv1.RegisterQueryServiceServer(srv, f)
	clk, closeSilences, err := realSilences(srv)
	if err != nil {
		lis.Close()
		return nil, "", nil, err
	}
	f.silenceClock = clk
	go func() { _ = srv.Serve(lis) }()
	var once sync.Once
	return f, lis.Addr().String(), func() { srv.Stop(); once.Do(closeSilences) }, nil
}

// startFake is serveFake for Go tests; the server stops when tb ends.
func startFake(tb testing.TB) (*fakeCollector, string, func()) {
	tb.Helper()
	f, addr, stop, err := serveFake()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return f, addr, stop
}

// base is the fake's clock: every time it reports is a fixed offset from
// it, so golden output is stable.
var base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return base.Add(d).UnixNano() }

// nonUTF8Path is a Latin-1 file name ("café.conf"), not valid UTF-8.
const nonUTF8Path = "/etc/caf\xe9.conf"

// seal gives f a digest made from its kind, key and tag (the content,
// version or value that tells its versions apart). The fake does not use
// fact.Digest so that golden output does not change with the canonical
// encoding, which is not plumbctl's business.
func seal(f *plumbv1.Fact, tag string) *plumbv1.Fact {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%s", f.GetKind(), f.GetKey(), tag)))
	f.Digest = sum[:]
	return f
}

func fileFact(path string, typ plumbv1.FileType, mode, uid, gid uint32, content, target string) *plumbv1.Fact {
	fa := &plumbv1.FileAttrs{Type: typ, Mode: mode, Uid: uid, Gid: gid, MtimeUnixNano: at(-time.Hour)}
	switch typ {
	case plumbv1.FileType_FILE_TYPE_REGULAR:
		sum := sha256.Sum256([]byte(content))
		fa.Size = int64(len(content))
		fa.Sha256 = sum[:]
	case plumbv1.FileType_FILE_TYPE_SYMLINK:
		fa.Size = int64(len(target))
		fa.LinkTarget = []byte(target)
	}
	return seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(path),
		Attrs: &plumbv1.Fact_File{File: fa}, ObservedUnixNano: at(0),
	}, content+target)
}

func valueFact(kind plumbv1.FactKind, key, value string) *plumbv1.Fact {
	return seal(&plumbv1.Fact{
		Kind: kind, Key: []byte(key),
		Attrs: &plumbv1.Fact_Value{Value: &plumbv1.ValueAttrs{Value: value}}, ObservedUnixNano: at(0),
	}, value)
}

func packageFact(key, version, arch string) *plumbv1.Fact {
	return seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte(key),
		Attrs:            &plumbv1.Fact_Package{Package: &plumbv1.PackageAttrs{Version: version, Arch: arch, Manager: "dpkg"}},
		ObservedUnixNano: at(0),
	}, version)
}

func newFake() *fakeCollector {
	const (
		regular = plumbv1.FileType_FILE_TYPE_REGULAR
		dir     = plumbv1.FileType_FILE_TYPE_DIRECTORY
		symlink = plumbv1.FileType_FILE_TYPE_SYMLINK
	)
	passwdOld := fileFact("/etc/passwd", regular, 0o644, 0, 0, "root:x:0:0::/root:/bin/bash\n", "")
	passwdNew := fileFact("/etc/passwd", regular, 0o644, 0, 0, "root:x:0:0::/root:/bin/bash\nmallory:x:0:0::/:/bin/sh\n", "")
	// The change as the agent sent it: a diff, with a terminal escape an
	// attacker slipped into the file, and a redaction.
	passwdChanged := proto.CloneOf(passwdNew)
	passwdChanged.GetFile().Content = &plumbv1.ContentChange{
		State: plumbv1.ContentState_CONTENT_STATE_DIFF,
		UnifiedDiff: "--- a/etc/passwd\n+++ b/etc/passwd\n@@ -1 +1,3 @@\n root:x:0:0::/root:/bin/bash\n" +
			"+mallory:x:0:0::/:/bin/sh\n+# \x1b[2Jpassword = <redacted>\n",
		Redacted: true,
	}
	cafe := fileFact(nonUTF8Path, regular, 0o640, 0, 33, "listen 80;\n", "")
	nginxOld := packageFact("nginx:amd64", "1.22.1-9", "amd64")
	nginxNew := packageFact("nginx:amd64", "1.22.1-9+deb12u1", "amd64")
	swapOld := valueFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "vm.swappiness", "60")
	swapNew := valueFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "vm.swappiness", "10")
	ext4 := seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_KMOD, Key: []byte("ext4"),
		Attrs: &plumbv1.Fact_Kmod{Kmod: &plumbv1.KmodAttrs{Size: 1003520}}, ObservedUnixNano: at(0),
	}, "1003520")
	conf := seal(&plumbv1.Fact{
		Kind: plumbv1.FactKind_FACT_KIND_CONFFILE, Key: []byte("/etc/nginx/nginx.conf"),
		Attrs: &plumbv1.Fact_Conffile{Conffile: &plumbv1.ConffileAttrs{
			Package: "nginx:amd64", Algorithm: "md5", Digest: bytes.Repeat([]byte{0xab}, 16),
			Present: true, Matches: false, Manager: "dpkg",
		}},
		ObservedUnixNano: at(0),
	}, "modified")
	f := &fakeCollector{
		hosts: []*plumbv1.Host{
			{
				HostId: "web-1",
				Info: &plumbv1.HostInfo{
					Hostname: "web-1.example.net", Os: "linux", Platform: "debian", PlatformVersion: "12.5",
					KernelVersion: "6.1.0-18-amd64", BootId: "5f0c1d2e", AgentVersion: "0.1.0",
				},
				Labels:    map[string]string{"role": "web", "env": "prod"},
				FactCount: 10, AppliedSeq: 42, Connected: true, HasBaseline: true, OpenDrift: 2,
				SetDigest:        bytes.Repeat([]byte{0xab}, 32),
				LastSeenUnixNano: at(5 * time.Minute),
				Coverage: []*plumbv1.CoverageCondition{{
					Source: "file", State: plumbv1.CoverageState_COVERAGE_STATE_DEGRADED,
					Reason: "queue_overflow", Detail: "/etc", SinceUnixNano: at(time.Minute),
				}},
			},
			{
				HostId:    "db-1",
				Info:      &plumbv1.HostInfo{Hostname: "db-1", Os: "linux"},
				FactCount: 1, OpenDrift: 2,
			},
		},
		facts: map[string][]*plumbv1.Fact{
			"web-1": {
				cafe,
				fileFact("/etc/localtime", symlink, 0o777, 0, 0, "", "/usr/share/zoneinfo/Etc/UTC"),
				fileFact("/etc/nginx", dir, 0o755, 0, 0, "", ""),
				passwdNew,
				fileFact("/srv/tab\there", regular, 0o600, 1000, 1000, "x", ""),
				nginxNew,
				conf,
				valueFact(plumbv1.FactKind_FACT_KIND_KERNEL, "release", "6.1.0-18-amd64"),
				ext4,
				valueFact(plumbv1.FactKind_FACT_KIND_SYSCTL, "net.ipv4.ip_forward", "0"),
			},
			"db-1": {swapNew},
		},
		drift: []*plumbv1.DriftItem{
			{
				Id: "d1a2b3c4d5e6f7a8", HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/passwd"),
				Severity: plumbv1.Severity_SEVERITY_CRITICAL,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
				Baseline: passwdOld, Current: passwdChanged,
				ObservedUnixNano: at(2 * time.Minute), DetectedUnixNano: at(2 * time.Minute), UpdatedUnixNano: at(2 * time.Minute),
			},
			{
				Id: "e2b3c4d5e6f7a8b9", HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(nonUTF8Path),
				Severity: plumbv1.Severity_SEVERITY_INFO,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_ADDED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
				Current:          cafe,
				ObservedUnixNano: at(3 * time.Minute), DetectedUnixNano: at(3 * time.Minute), UpdatedUnixNano: at(3 * time.Minute),
			},
			{
				Id: "f3c4d5e6f7a8b9c0", HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_PACKAGE, Key: []byte("nginx:amd64"),
				Severity: plumbv1.Severity_SEVERITY_WARNING,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_RESOLVED,
				Baseline: nginxOld, Current: nginxNew,
				ObservedUnixNano: at(-time.Hour), DetectedUnixNano: at(-time.Hour), UpdatedUnixNano: at(-30 * time.Minute),
			},
			{
				Id: "a4d5e6f7a8b9c0d1", HostId: "web-1", Kind: plumbv1.FactKind_FACT_KIND_KMOD, Key: []byte("ext4"),
				Severity: plumbv1.Severity_SEVERITY_CRITICAL,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_REMOVED, Status: plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED,
				Baseline:         ext4,
				ObservedUnixNano: at(-2 * time.Hour), DetectedUnixNano: at(-2 * time.Hour), UpdatedUnixNano: at(-90 * time.Minute),
				AcceptedBy: "alice", Reason: "module unloaded on purpose",
			},
			{
				Id: "b5e6f7a8b9c0d1e2", HostId: "db-1", Kind: plumbv1.FactKind_FACT_KIND_SYSCTL, Key: []byte("vm.swappiness"),
				Severity: plumbv1.Severity_SEVERITY_INFO,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
				Baseline: swapOld, Current: swapNew,
				ObservedUnixNano: at(4 * time.Minute), DetectedUnixNano: at(4 * time.Minute), UpdatedUnixNano: at(4 * time.Minute),
			},
			{
				// A gap the collector raised: db-1 stopped reporting.
				Id: "c6f7a8b9c0d1e2f3", HostId: "db-1", Kind: plumbv1.FactKind_FACT_KIND_HEALTH, Key: []byte("reporting"),
				Severity: plumbv1.Severity_SEVERITY_WARNING,
				Change:   plumbv1.DriftChange_DRIFT_CHANGE_ADDED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
				Current:          valueFact(plumbv1.FactKind_FACT_KIND_HEALTH, "reporting", "no report since 2026-03-01T10:05:00Z (stale after 10m0s)"),
				ObservedUnixNano: at(16 * time.Minute), DetectedUnixNano: at(16 * time.Minute), UpdatedUnixNano: at(16 * time.Minute),
			},
		},
		watchers: map[*watcher]bool{},
	}
	return f
}

func (f *fakeCollector) knownLocked(host string) bool {
	for _, h := range f.hosts {
		if h.GetHostId() == host {
			return true
		}
	}
	return false
}

func notFound(host string) error {
	return status.Errorf(codes.NotFound, "host %q is not known to this collector", host)
}

// pageOf returns the page of all that starts at token (the index of its
// first item) and holds size items (all when size is 0), and the token of
// the next page.
func pageOf[T any](all []T, size uint32, token string) ([]T, string, error) {
	from := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n <= 0 || n > len(all) {
			return nil, "", status.Error(codes.InvalidArgument, "invalid page_token: not a token this collector issued")
		}
		from = n
	}
	to := len(all)
	if size > 0 {
		to = min(from+int(size), len(all))
	}
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next, nil
}

// ListHosts pages (page_size 0: all in one page); it records its filters
// but does not apply them: the collector's filters are tested against the
// real server (collector/query), plumbctl's flags against what arrives.
func (f *fakeCollector) ListHosts(_ context.Context, req *plumbv1.ListHostsRequest) (*plumbv1.ListHostsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = fmt.Sprintf("ListHosts label_selector=%q state=%s host_glob=%q page_size=%d",
		req.GetLabelSelector(), req.GetState(), req.GetHostGlob(), req.GetPageSize())
	if f.hostsErr != nil {
		return nil, f.hostsErr
	}
	var all []*plumbv1.Host
	for _, h := range f.hosts {
		all = append(all, proto.Clone(h).(*plumbv1.Host))
	}
	hosts, next, err := pageOf(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListHostsResponse{Hosts: hosts, NextPageToken: next}, nil
}

func (f *fakeCollector) ListFacts(_ context.Context, req *plumbv1.ListFactsRequest) (*plumbv1.ListFactsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = fmt.Sprintf("ListFacts host_id=%s kind=%s key_glob=%q page_size=%d",
		req.GetHostId(), req.GetKind(), req.GetKeyGlob(), req.GetPageSize())
	if !f.knownLocked(req.GetHostId()) {
		return nil, notFound(req.GetHostId())
	}
	// Pages of two facts unless asked otherwise, so that every facts
	// script exercises the CLI's paging.
	var all []*plumbv1.Fact
	for _, ft := range f.facts[req.GetHostId()] {
		if req.GetKind() == plumbv1.FactKind_FACT_KIND_UNSPECIFIED || ft.GetKind() == req.GetKind() {
			all = append(all, proto.Clone(ft).(*plumbv1.Fact))
		}
	}
	size := req.GetPageSize()
	if size == 0 {
		size = 2
	}
	facts, next, err := pageOf(all, size, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListFactsResponse{Facts: facts, NextPageToken: next}, nil
}

// ListDrift pages as ListHosts does; of its filters it applies host_id
// and the open/closed choice, and records the others.
func (f *fakeCollector) ListDrift(_ context.Context, req *plumbv1.ListDriftRequest) (*plumbv1.ListDriftResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = fmt.Sprintf("ListDrift host_id=%q include_closed=%v state=%s label_selector=%q kind=%s key_glob=%q min_severity=%s since=%s until=%s page_size=%d",
		req.GetHostId(), req.GetIncludeClosed(), req.GetState(), req.GetLabelSelector(), req.GetKind(), req.GetKeyGlob(),
		req.GetMinSeverity(), fakeTime(req.GetSinceUnixNano()), fakeTime(req.GetUntilUnixNano()), req.GetPageSize())
	if req.GetHostId() != "" && !f.knownLocked(req.GetHostId()) {
		return nil, notFound(req.GetHostId())
	}
	closed := req.GetIncludeClosed() || req.GetState() == plumbv1.DriftState_DRIFT_STATE_ALL
	var all []*plumbv1.DriftItem
	for _, it := range f.drift {
		if req.GetHostId() != "" && it.GetHostId() != req.GetHostId() {
			continue
		}
		if !closed && it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
			continue
		}
		all = append(all, proto.Clone(it).(*plumbv1.DriftItem))
	}
	items, next, err := pageOf(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &plumbv1.ListDriftResponse{Items: items, NextPageToken: next}, nil
}

func fakeTime(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}

// GetDrift answers as the collector does, with its messages.
func (f *fakeCollector) GetDrift(_ context.Context, req *plumbv1.GetDriftRequest) (*plumbv1.GetDriftResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetId() == "" || len(req.GetId()) > 64 {
		return nil, status.Error(codes.InvalidArgument, "id is required, at most 64 bytes")
	}
	if req.GetHostId() != "" && !f.knownLocked(req.GetHostId()) {
		return nil, status.Errorf(codes.NotFound, "host %q not found", req.GetHostId())
	}
	for _, it := range f.drift {
		if it.GetId() == req.GetId() && (req.GetHostId() == "" || it.GetHostId() == req.GetHostId()) {
			return &plumbv1.GetDriftResponse{Item: proto.CloneOf(it)}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "drift item %q not found", req.GetId())
}

func (f *fakeCollector) AcceptDrift(_ context.Context, req *plumbv1.AcceptDriftRequest) (*plumbv1.AcceptDriftResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Record the request exactly as it arrived, raw key bytes included.
	f.accepts = append(f.accepts, proto.Clone(req).(*plumbv1.AcceptDriftRequest))
	if !f.knownLocked(req.GetHostId()) {
		return nil, notFound(req.GetHostId())
	}
	if req.GetReason() == "" {
		return nil, status.Error(codes.InvalidArgument, "reason is required")
	}
	resp := &plumbv1.AcceptDriftResponse{}
	for _, it := range f.drift {
		if it.GetHostId() != req.GetHostId() || it.GetStatus() != plumbv1.DriftStatus_DRIFT_STATUS_OPEN {
			continue
		}
		if req.GetKey() != nil && (it.GetKind() != req.GetKind() || !bytes.Equal(it.GetKey(), req.GetKey())) {
			continue
		}
		it.Status = plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED
		it.AcceptedBy = req.GetAcceptedBy()
		it.Reason = req.GetReason()
		it.UpdatedUnixNano = at(10 * time.Minute)
		resp.Accepted = append(resp.Accepted, proto.Clone(it).(*plumbv1.DriftItem))
	}
	return resp, nil
}

func (f *fakeCollector) WatchDrift(req *plumbv1.WatchDriftRequest, stream grpc.ServerStreamingServer[plumbv1.WatchDriftResponse]) error {
	w := &watcher{host: req.GetHostId(), events: make(chan *plumbv1.DriftEvent, 64), drop: make(chan struct{})}
	f.mu.Lock()
	// Resuming: the logged events after the cursor come first.
	for _, ev := range f.log {
		if req.GetAfterSeq() > 0 && ev.GetSeq() > req.GetAfterSeq() && (w.host == "" || w.host == ev.GetItem().GetHostId()) {
			w.events <- ev
		}
	}
	f.watchers[w] = true
	f.resumes = append(f.resumes, req.GetAfterSeq())
	f.mu.Unlock()
	var sent uint64
	defer func() {
		f.mu.Lock()
		delete(f.watchers, w)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-w.drop:
			// The real collector's words (collector/query/watch.go).
			return status.Errorf(codes.ResourceExhausted, "limit watch_slow: watcher did not read for 10s; resume with after_seq %d", sent)
		case ev, ok := <-w.events:
			if !ok {
				return nil
			}
			if err := stream.Send(&plumbv1.WatchDriftResponse{Event: ev}); err != nil {
				return err
			}
			sent = ev.GetSeq()
		}
	}
}

// lastAccept returns the most recent AcceptDrift request, or nil.
func (f *fakeCollector) lastAccept() *plumbv1.AcceptDriftRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.accepts) == 0 {
		return nil
	}
	return f.accepts[len(f.accepts)-1]
}

func (f *fakeCollector) watcherCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

// waitWatchers polls until n streams are open or the deadline passes.
func (f *fakeCollector) waitWatchers(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for f.watcherCount() != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d watchers after %v, want %d", f.watcherCount(), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// push sends a drift event of type typ for the item with key on host to
// every watcher of that host.
func (f *fakeCollector) push(typ plumbv1.DriftEventType, host string, kind plumbv1.FactKind, key []byte, change plumbv1.DriftChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev := &plumbv1.DriftEvent{
		Id:         fmt.Sprintf("ev-%04d", f.seq),
		Type:       typ,
		Seq:        f.seq,
		AtUnixNano: at(time.Duration(f.seq) * time.Second),
		Item: &plumbv1.DriftItem{
			Id: fmt.Sprintf("it-%04d", f.seq), HostId: host, Kind: kind, Key: key,
			Change: change, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			DetectedUnixNano: at(time.Duration(f.seq) * time.Second),
			Severity:         plumbv1.Severity(1 + f.seq%3),
		},
	}
	f.log = append(f.log, ev)
	for w := range f.watchers {
		if w.host == "" || w.host == host {
			w.events <- ev
		}
	}
}

// dropWatches drops every open watch as too slow, as the collector does
// a watcher that does not read.
func (f *fakeCollector) dropWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watchers {
		close(w.drop)
		delete(f.watchers, w)
	}
}

// endWatches ends every open watch stream cleanly.
func (f *fakeCollector) endWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watchers {
		close(w.events)
		delete(f.watchers, w)
	}
}
