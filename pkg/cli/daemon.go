package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/pkg/config"
	"github.com/plumb-dev/plumb/pkg/version"
)

// Daemon describes a long-running binary: its flags bind to a config struct
// that --config (YAML) and then the flags overlay.
type Daemon struct {
	Name, Short string
	// Config holds the defaults; it is loaded in place.
	Config any
	// FlagKeys maps flag names to config keys (config.Load).
	FlagKeys map[string]string
	AddFlags func(*pflag.FlagSet)
	// Serve validates the loaded config and runs until ctx ends. Errors it
	// wraps with Usage exit with status 2.
	Serve func(ctx context.Context) error
	// Commands are subcommands (plumb-collector migrate); each gets
	// Prepare and the daemon's signal context.
	Commands []*cobra.Command
}

// Main runs d on args until it returns or SIGINT/SIGTERM stops it, and
// returns the exit status.
func (d Daemon) Main(args []string) int {
	var cfgFile string
	cmd := &cobra.Command{
		Use:     d.Name,
		Short:   d.Short,
		Version: version.Version,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Load(d.Config, cfgFile, cmd.Flags(), d.FlagKeys); err != nil {
				return Usage(err)
			}
			return d.Serve(cmd.Context())
		},
	}
	Prepare(cmd)
	cmd.Flags().StringVar(&cfgFile, "config", "", "YAML config file (flags override it)")
	d.AddFlags(cmd.Flags())
	// No shell-completion subcommand: a daemon's one or two
	// subcommands are not worth it, and plumbctl has none either.
	cmd.CompletionOptions.DisableDefaultCmd = true
	for _, sub := range d.Commands {
		Prepare(sub)
		cmd.AddCommand(sub)
	}
	cmd.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Exit(os.Stderr, d.Name, cmd.ExecuteContext(ctx))
}
