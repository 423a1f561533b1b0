package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	gwv1 "github.com/plumb-dev/plumb/proto/gateway/plumb/v1"
	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"
)

// Marshaler is the API's JSON: proto3 JSON with the proto field names
// (next_page_token, not nextPageToken) and every scalar, list and map
// field written even at its default value (0, false, "", []), so that a
// client reads "next_page_token": "" at the last page rather than a
// missing key. Unset messages are left out. Request bodies with unknown
// fields are refused, so that a misspelt field is an error.
var Marshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{},
}

// newGateway is the grpc-gateway mux with the API's JSON and errors. It
// forwards a request's Authorization header to the gRPC call (the gateway
// always does) and no other header.
func newGateway() *runtime.ServeMux {
	none := func(string) (string, bool) { return "", false }
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, Marshaler),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithIncomingHeaderMatcher(none),
		runtime.WithOutgoingHeaderMatcher(none),
		runtime.WithOutgoingTrailerMatcher(none),
	)
}

// registerGateway binds the query, silence and admin services' HTTP rules
// to conn. The agent and enrollment services have no HTTP rules.
func registerGateway(ctx context.Context, gw *runtime.ServeMux, conn grpc.ClientConnInterface) error {
	if err := gwv1.RegisterQueryServiceHandlerClient(ctx, gw, plumbv1.NewQueryServiceClient(conn)); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := gwv1.RegisterSilenceServiceHandlerClient(ctx, gw, plumbv1.NewSilenceServiceClient(conn)); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := gwv1.RegisterPolicyServiceHandlerClient(ctx, gw, plumbv1.NewPolicyServiceClient(conn)); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := gwv1.RegisterAdminServiceHandlerClient(ctx, gw, plumbv1.NewAdminServiceClient(conn)); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// errorHandler answers a failed call with the HTTP status of its gRPC code
// (runtime.HTTPStatusFromCode: Unauthenticated 401, PermissionDenied 403,
// NotFound 404, InvalidArgument 400, ...) and the JSON of its status:
// {"code": <gRPC code>, "message": "...", "details": []}. A 401 names the
// Bearer scheme.
func errorHandler(_ context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	code := 0
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		code, err = he.HTTPStatus, he.Err
	}
	s := status.Convert(err)
	if code == 0 {
		code = runtime.HTTPStatusFromCode(s.Code())
	}
	body, merr := m.Marshal(s.Proto())
	if merr != nil {
		body = []byte(`{"code": 13, "message": "failed to marshal the error"}`)
		code = http.StatusInternalServerError
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if code == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="plumb"`)
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
