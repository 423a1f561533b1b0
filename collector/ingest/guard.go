package ingest

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/limits"
)

// recvHello receives a stream's first message, or ends the stream
// DeadlineExceeded if it does not arrive within the hello timeout: a
// stream that never speaks must not hold the collector's memory.
func (s *Server) recvHello(st plumbv1.AgentService_SyncServer) (*plumbv1.SyncRequest, error) {
	type recv struct {
		m   *plumbv1.SyncRequest
		err error
	}
	ch := make(chan recv, 1)
	go func() {
		// Returns once the handler has returned, if not before: the
		// stream ends then.
		m, err := st.Recv()
		ch <- recv{m, err}
	}()
	t := time.NewTimer(s.limits.HelloTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		s.countRecvLimit(r.err)
		return r.m, r.err
	case <-t.C:
		return nil, s.lm.Refuse(codes.DeadlineExceeded, limits.HelloTimeout, "no hello within %v", s.limits.HelloTimeout)
	}
}

// checkHello bounds what a hello stores in the host record.
func (s *Server) checkHello(h *plumbv1.Hello) error {
	if err := checkHostID(h.GetHostId()); err != nil {
		return s.lm.Refuse(codes.InvalidArgument, limits.HostID, "%v", err)
	}
	if n := len(h.GetLabels()); n > limits.MaxLabels {
		return s.lm.Refuse(codes.ResourceExhausted, limits.Labels, "%d labels, at most %d", n, limits.MaxLabels)
	}
	for k, v := range h.GetLabels() {
		if len(k) == 0 || len(k) > limits.MaxLabelKeyBytes || len(v) > limits.MaxLabelValueBytes {
			return s.lm.Refuse(codes.InvalidArgument, limits.Labels, "label %.40q: keys are 1 to %d bytes, values at most %d",
				k, limits.MaxLabelKeyBytes, limits.MaxLabelValueBytes)
		}
	}
	i := h.GetInfo()
	for name, v := range map[string]string{
		"hostname": i.GetHostname(), "os": i.GetOs(), "platform": i.GetPlatform(),
		"platform_version": i.GetPlatformVersion(), "kernel_version": i.GetKernelVersion(),
		"boot_id": i.GetBootId(), "agent_version": i.GetAgentVersion(),
	} {
		if len(v) > limits.MaxHostInfoFieldBytes {
			return s.lm.Refuse(codes.InvalidArgument, limits.HostInfo, "host info %s is %d bytes, at most %d", name, len(v), limits.MaxHostInfoFieldBytes)
		}
	}
	return nil
}

// checkHostID accepts 1 to limits.MaxHostIDBytes of printable UTF-8: a
// host id lands in logs, tables and webhook bodies.
func checkHostID(id string) error {
	if id == "" || len(id) > limits.MaxHostIDBytes {
		return fmt.Errorf("hello: host_id must be 1 to %d bytes", limits.MaxHostIDBytes)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("hello: host_id %q is not UTF-8", id)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("hello: host_id %q holds a space or unprintable character", id)
		}
	}
	return nil
}

// checkCoverage bounds a coverage record: it is rewritten with every
// commit for its host, so its size costs every ack of the host, and
// through the single writer, every other host's too.
func (s *Server) checkCoverage(conds []*plumbv1.CoverageCondition) error {
	if len(conds) > s.limits.MaxCoverageConditions {
		return s.lm.Refuse(codes.ResourceExhausted, limits.Coverage, "%d coverage conditions, at most %d", len(conds), s.limits.MaxCoverageConditions)
	}
	total := 0
	for _, c := range conds {
		if len(c.GetSource()) > limits.MaxCoverageFieldBytes || len(c.GetReason()) > limits.MaxCoverageFieldBytes ||
			len(c.GetDetail()) > limits.MaxKeyBytes {
			return s.lm.Refuse(codes.InvalidArgument, limits.Coverage, "coverage condition %.40q/%.40q: source and reason are at most %d bytes, detail %d",
				c.GetSource(), c.GetReason(), limits.MaxCoverageFieldBytes, limits.MaxKeyBytes)
		}
		total += proto.Size(c)
	}
	if total > s.limits.MaxCoverageBytes {
		return s.lm.Refuse(codes.ResourceExhausted, limits.Coverage, "coverage record of %d bytes, at most %d", total, s.limits.MaxCoverageBytes)
	}
	return nil
}

// pendingSnapshots holds one stream's unfinished bucket snapshots, and
// accounts their wire bytes against the stream's limit and, through the
// server, the collector-wide one.
type pendingSnapshots struct {
	s       *Server
	buckets map[uint32][]*plumbv1.Fact
	size    map[uint32]int64
	bytes   int64
}

// add holds b's facts, or refuses them if they would pass a limit
// (nothing is held then).
func (p *pendingSnapshots) add(b *plumbv1.BucketSnapshot) error {
	var n int64
	for _, f := range b.GetFacts() {
		n += int64(proto.Size(f))
	}
	if p.bytes+n > p.s.limits.MaxPendingSnapshotBytes {
		return p.s.lm.Refuse(codes.ResourceExhausted, limits.PendingSnapshot,
			"bucket snapshots of this stream would hold %d bytes before their final message, at most %d", p.bytes+n, p.s.limits.MaxPendingSnapshotBytes)
	}
	if total := p.s.pendingTotal.Add(n); total > p.s.limits.MaxPendingSnapshotBytesTotal {
		p.s.pendingTotal.Add(-n)
		return p.s.lm.Refuse(codes.ResourceExhausted, limits.PendingTotal,
			"bucket snapshots of all streams would hold %d bytes, at most %d; retry later", total, p.s.limits.MaxPendingSnapshotBytesTotal)
	}
	if p.size == nil {
		p.size = map[uint32]int64{}
	}
	p.bytes += n
	p.size[b.GetBucket()] += n
	p.buckets[b.GetBucket()] = append(p.buckets[b.GetBucket()], b.GetFacts()...)
	return nil
}

// take removes and returns bucket b's facts and their wire bytes,
// releasing them.
func (p *pendingSnapshots) take(b uint32) ([]*plumbv1.Fact, int64) {
	facts := p.buckets[b]
	delete(p.buckets, b)
	n := p.size[b]
	delete(p.size, b)
	p.bytes -= n
	p.s.pendingTotal.Add(-n)
	return facts, n
}

// release gives back every byte still held, when the stream ends.
func (p *pendingSnapshots) release() {
	p.s.pendingTotal.Add(-p.bytes)
	p.bytes = 0
	clear(p.buckets)
	clear(p.size)
}

// countRecvLimit counts a message gRPC refused for its size
// (max_recv_msg_bytes): gRPC ends the stream ResourceExhausted itself.
func (s *Server) countRecvLimit(err error) {
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted &&
		strings.Contains(st.Message(), "larger than max") {
		s.lm.Reject(limits.RecvMsgBytes)
	}
}
