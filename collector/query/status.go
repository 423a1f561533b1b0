package query

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/store"
)

// toStatus maps a domain error to a gRPC status error. Errors that already
// carry a status pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, drift.ErrInvalidDelta):
		code = codes.InvalidArgument
	case errors.Is(err, drift.ErrChanged), errors.Is(err, drift.ErrHealthItem), errors.Is(err, drift.ErrExpectationItem):
		code = codes.FailedPrecondition
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

func invalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
