package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/collector/store/postgres"
	"github.com/plumb-dev/plumb/collector/store/storecopy"
	"github.com/plumb-dev/plumb/pkg/cli"
)

// migrateCommand is `plumb-collector migrate --from bolt:DIR --to
// postgres://...`: copy a stopped collector's state into an empty
// PostgreSQL database and verify the copy.
func migrateCommand() *cobra.Command {
	var from, to string
	var lockWait, connectTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "migrate --from bolt:DIR --to postgres://...",
		Short: "Copy a stopped collector's bbolt state into an empty PostgreSQL database, then verify it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, ok := strings.CutPrefix(from, "bolt:")
			if !ok || dir == "" {
				return cli.Usage(fmt.Errorf("--from %q: want bolt:DIR (the collector's data directory or its plumb.db)", from))
			}
			if !postgres.IsDSN(to) {
				return cli.Usage(fmt.Errorf("--to %s: want a postgres:// or postgresql:// URL", postgres.Redact(to)))
			}
			return runMigrate(cmd, dir, to, lockWait, connectTimeout)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the source: bolt:DIR, the data directory of a stopped collector (or bolt:FILE, its plumb.db)")
	cmd.Flags().StringVar(&to, "to", "", "the target: postgres://user:password@host/db, an empty database")
	cmd.Flags().DurationVar(&lockWait, "lock-timeout", 3*time.Second, "how long to wait for a running collector to release the bbolt file")
	cmd.Flags().DurationVar(&connectTimeout, "connect-timeout", postgres.DefaultConnectTimeout, "how long to retry a PostgreSQL that does not answer")
	return cmd
}

func runMigrate(cmd *cobra.Command, dir, dsn string, lockWait, connectTimeout time.Duration) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	path, dataDir := dir, dir
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("source: %w", err)
	} else if fi.IsDir() {
		path = filepath.Join(dir, DBFile)
	} else {
		dataDir = filepath.Dir(dir)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	src, err := store.Open(path, store.Options{LockTimeout: lockWait})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("source %s is in use by a running plumb-collector: stop plumb-collector first", path)
	} else if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	secrets := map[string][]byte{}
	for _, name := range storecopy.SecretNames {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		switch {
		case err == nil:
			secrets[name] = b
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("source secret: %w", err)
		}
	}
	dst, err := postgres.Open(ctx, dsn, postgres.Options{ConnectTimeout: connectTimeout, Logger: logger})
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	fmt.Fprintf(out, "copying %s to %s\n", path, dst.DSN())
	start := time.Now()
	res, err := storecopy.Copy(ctx, src, dst, secrets)
	if errors.Is(err, storecopy.ErrTargetNotEmpty) {
		return fmt.Errorf("migrate: %w (migrate copies into an empty database only)", err)
	} else if err != nil {
		return fmt.Errorf("migrate: %w; the target may hold part of the copy: drop and create the database again before retrying", err)
	}
	printResult(out, res, len(secrets))
	if len(res.Differences) > 0 {
		for _, d := range res.Differences {
			fmt.Fprintf(out, "DIFFERENCE: %s\n", d)
		}
		return fmt.Errorf("migrate: the copy differs from the source in %d ways", len(res.Differences))
	}
	fmt.Fprintf(out, "verified: %d hosts' set digests recomputed from the copied facts equal the source's; every count equal (%s)\n",
		res.Digests, time.Since(start).Round(time.Millisecond))
	return nil
}

func printResult(w io.Writer, res *storecopy.Result, fileSecrets int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\tsource\ttarget\t")
	for _, name := range storecopy.TableNames {
		src := res.Source[name]
		if name == "secrets" {
			src = max(src, fileSecrets)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", name, src, res.Target[name])
	}
	_ = tw.Flush()
}
