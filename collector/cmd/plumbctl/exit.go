package main

import (
	"errors"
	"fmt"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed: collector error, dropped stream
	exitUsage   = 2 // bad flags, arguments or config
)

// usageError marks an error the operator fixes by changing the command
// line or the config file.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// failure marks an error that happened while doing the work. Errors cobra
// returns itself (unknown flag or command) carry no mark and are usage
// errors.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

func markFailure(err error) error {
	if errors.As(err, new(usageError)) {
		return err
	}
	return failure{err}
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		return exitUsage
	case errors.As(err, new(failure)):
		return exitFailure
	default:
		return exitUsage
	}
}
