package limits

import (
	"google.golang.org/grpc"
)

// ServerOptions are the gRPC server options that enforce l: streams per
// connection, message sizes, handshake time.
func (l Limits) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(l.MaxStreamsPerConnection)),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(l.MaxSendMsgBytes),
		grpc.ConnectionTimeout(l.HandshakeTimeout),
	}
}
