package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/pkg/version"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print plumbctl's version",
		Args:  cobra.NoArgs,
		RunE:  action(a.version),
	}
}

func (a *app) version(context.Context) error {
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, map[string]string{
			"version": version.Version,
			"go":      runtime.Version(),
		})
	}
	_, err := fmt.Fprintf(a.stdout, "plumbctl %s (%s)\n", version.Version, runtime.Version())
	return err
}
