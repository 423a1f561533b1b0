package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/pkg/termsafe"
)

// app is one invocation of plumbctl: where it writes and the options its
// global flags and config file resolved to.
type app struct {
	stdout, stderr io.Writer
	// global holds the root's persistent flags, the ones a config file
	// may also set.
	global     *pflag.FlagSet
	configFile string
	opts       options
	// tokenErr is why the default token file could not be read, if so.
	tokenErr error
}

// run executes plumbctl with args (without the program name) and returns
// the process exit status: 0 on success, 1 when the operation failed, 2 on
// a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	msg := err.Error()
	if !termsafe.Safe(msg) {
		// Collector text is escaped where it enters a message; this
		// catches the rest (a transport error, an argument cobra quotes).
		msg = esc(msg)
	}
	fmt.Fprintf(stderr, "plumbctl: %s\n", msg)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "plumbctl",
		Short:         "Query a Plumb collector: hosts, facts and drift",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Resolve flags, environment and config file once, before any
		// command runs.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := loadOptions(a.global, a.configFile, lookupEnv)
			if err != nil {
				return usageError{err}
			}
			a.opts = opts
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usageError{fmt.Errorf("missing command")}
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	a.global = root.PersistentFlags()
	addGlobalFlags(a.global, &a.configFile)
	root.AddCommand(
		a.hostsCommand(),
		a.factsCommand(),
		a.diffCommand(),
		a.outliersCommand(),
		a.historyCommand(),
		a.statsCommand(),
		a.driftCommand(),
		a.acceptCommand(),
		a.silenceCommand(),
		a.baselineCommand(),
		a.policyCommand(),
		a.tokenCommand(),
		a.apitokenCommand(),
		a.notifiersCommand(),
		a.versionCommand(),
	)
	return root
}

// action adapts a command's work to cobra: an error it returns is an
// operational failure (exit 1) unless it is a usageError.
func action(fn func(ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		err := fn(cmd.Context())
		if err == nil {
			return nil
		}
		return markFailure(err)
	}
}
