// Package bearer sends an API token with every gRPC call, as the
// collector's API expects it: "authorization: Bearer <token>".
package bearer

import "context"

// Token implements credentials.PerRPCCredentials.
type Token struct {
	Token string
	// Insecure lets the token go over plaintext (a collector run with
	// --insecure); gRPC refuses that otherwise.
	Insecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t Token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (t Token) RequireTransportSecurity() bool { return !t.Insecure }
