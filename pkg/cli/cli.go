// Package cli holds what the three binaries' command lines share: usage
// errors that exit with status 2, distinct from runtime failures (1).
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// UsageError marks a problem with flags, arguments or configuration.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a UsageError; nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return UsageError{err}
}

// Prepare makes cmd report flag and argument errors as UsageErrors and
// print nothing itself.
func Prepare(cmd *cobra.Command) {
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{err} })
	if cmd.Args == nil {
		cmd.Args = cobra.NoArgs
	}
	args := cmd.Args
	cmd.Args = func(c *cobra.Command, a []string) error { return Usage(args(c, a)) }
}

// Exit prints err as "name: err" to w and returns the exit status: 0 for
// nil, 2 for a usage error, 1 otherwise.
func Exit(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	var ue UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", name)
		return 2
	}
	return 1
}
