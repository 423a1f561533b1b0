package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rpcError turns the error of call op (for example "list facts") into one
// line an operator can act on: the gRPC code in words, the collector's
// message, and a hint for the codes that have a usual cause.
func (a *app) rpcError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	// The message is the collector's text and may quote what an agent
	// sent (a host id, a key): escape it.
	msg := fmt.Sprintf("%s: %s: %s", op, codeWords(st.Code()), esc(st.Message()))
	switch st.Code() {
	case codes.Unavailable:
		msg += fmt.Sprintf(" (is the collector running at %s?)", a.opts.Collector)
	case codes.DeadlineExceeded:
		msg += fmt.Sprintf(" (no answer within --timeout %v)", a.opts.Timeout)
	case codes.Unauthenticated:
		if a.tokenErr != nil {
			msg += fmt.Sprintf(" (the default token file: %v)", a.tokenErr)
		}
	case codes.Unimplemented:
		msg += fmt.Sprintf(" (is %s a Plumb collector as new as this plumbctl?)", a.opts.Collector)
	}
	return errors.New(msg)
}

var wordBoundary = regexp.MustCompile(`([a-z])([A-Z])`)

// codeWords spells a gRPC code in lower case words: NotFound → "not found".
func codeWords(c codes.Code) string {
	return strings.ToLower(wordBoundary.ReplaceAllString(c.String(), "$1 $2"))
}
