package main

import (
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/plumb-dev/plumb/collector/ingest"
	"github.com/plumb-dev/plumb/collector/limits"
)

// limitListener caps connections per peer address and in total (cfg.Limits).
func limitListener(ln net.Listener, l limits.Limits, m *limits.Metrics, logger *slog.Logger) net.Listener {
	return limits.NewListener(ln, l.MaxConnectionsPerIP, l.MaxConnections, m, func(addr, limit string) {
		logger.Warn("connection refused at accept", "peer", addr, "limit", limit)
	})
}

// limitOptions are the gRPC server options that enforce l: streams per
// connection, message sizes, handshake time, and the wire codec that
// counts a message's elements before decoding it.
func limitOptions(l limits.Limits, m *limits.Metrics) []grpc.ServerOption {
	return append(l.ServerOptions(), grpc.ForceServerCodecV2(ingest.ServerCodec(l, m)))
}
