// Command plumb-agent watches this host's files, packages and kernel state
// and streams every change to a Plumb collector.
package main

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/plumb-dev/plumb/agent/endpoint"
	"github.com/plumb-dev/plumb/agent/enroll"
	"github.com/plumb-dev/plumb/agent/hostinfo"
	"github.com/plumb-dev/plumb/agent/source"
	_ "github.com/plumb-dev/plumb/agent/source/builtin"
	"github.com/plumb-dev/plumb/agent/state"
	"github.com/plumb-dev/plumb/agent/stream"
	"github.com/plumb-dev/plumb/pkg/cli"
	"github.com/plumb-dev/plumb/pkg/config"
	"github.com/plumb-dev/plumb/pkg/gcfloor"
	"github.com/plumb-dev/plumb/pkg/metricsserver"
	"github.com/plumb-dev/plumb/pkg/pprofserver"
	"github.com/plumb-dev/plumb/pkg/version"
)

// defaultMemoryLimit is the agent's soft limit on the Go runtime's memory
// unless GOMEMLIMIT sets one. What the agent holds grows with the files it
// watches only by a scan's seen set (16 bytes a fact) and the watch table
// (one entry a directory): a heap profile mid-scan shows about 6 MiB live
// at 100,000 files, about 25 MiB at a million. The rest of its resident
// memory is collection slack, which on a busy machine (the collector's
// background worker starved) grew past 45 MiB; near this limit the
// collector runs sooner instead. It is soft: the agent never fails for
// want of memory, the GC just works harder (at most half the CPU, by the
// runtime's own cap), which only a scan of about a million files meets.
const defaultMemoryLimit = 40 << 20

// scanHeapFloor is the heap goal the agent keeps at least until its first
// scan is recorded (pkg/gcfloor). A scan allocates about 3 KiB a file
// over a live heap of a few MiB: at GOGC=100 alone, 20,000 files took
// 15 collections. With the floor, interleaved runs of the scan of 20,000
// files took 8% less time (median 377 -> 346 ms) and 4% less CPU, and
// 100,000 files 16% less (1.88 -> 1.58 s); peak RSS rose by 8.5 MiB
// at 20,000 files, by 5.4 MiB at 100,000 (to 52-53 MiB: the target is
// 64). Afterwards the agent idles at GOGC=100. The soft memory limit
// above still bounds the whole.
const scanHeapFloor = 24 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg := NewConfig()
	return cli.Daemon{
		Name:     "plumb-agent",
		Short:    "Watch this host's files, packages and kernel state and stream changes to a Plumb collector",
		Config:   cfg,
		FlagKeys: flagKeys,
		AddFlags: cfg.AddFlags,
		Serve: func(ctx context.Context) error {
			sources, err := cfg.Validate()
			if err != nil {
				return cli.Usage(err)
			}
			return serve(ctx, cfg, sources)
		},
	}.Main(args)
}

// releaseAfterScan hands the memory of the initial scan back to the
// system once its deltas have left the spool: the runtime would otherwise
// keep the heap a scan grew to (the soft limit's worth) while the agent
// then sits idle for days.
func releaseAfterScan(ctx context.Context, db *state.DB) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for db.Status().SpoolLen > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	debug.FreeOSMemory()
}

func serve(ctx context.Context, cfg *Config, enabled map[string]source.Options) error {
	logger, err := config.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return cli.Usage(err)
	}
	hostID := cfg.HostID
	if hostID == "" {
		hostID = hostinfo.DefaultHostID(cfg.HostRoot)
	}
	if hostID == "" {
		return cli.Usage(errors.New("host id: none configured and none found in /etc/machine-id or the hostname; pass --host-id"))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	db, err := state.Open(cfg.StateDir, state.Options{
		SpoolLimit: cfg.SpoolLimitMiB << 20,
		Logger:     logger.With("component", "state"),
		Metrics:    state.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	defer db.Close()
	st := db.Status()
	logger.Info("state opened", "path", db.Path(), "facts", st.Facts, "seq", st.Seq, "spooled", st.SpoolLen)

	sources, err := source.Build(logger, enabled)
	if err != nil {
		return cli.Usage(err)
	}
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	runner := source.NewRunner(logger, db, sources, reg)

	// The sources start scanning at once: what follows (the identity,
	// the host's description, tens of milliseconds) overlaps the scan,
	// and a failure in it stops them again.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	floor := gcfloor.Set(scanHeapFloor)
	g.Go(func() error { return runner.Run(ctx) })
	g.Go(func() error {
		start := time.Now()
		select {
		case <-ctx.Done():
			floor.Stop()
			return nil
		case <-runner.Ready():
		}
		floor.Stop()
		st := db.Status()
		logger.Info("initial scan recorded", "facts", st.Facts, "took", time.Since(start).Round(time.Millisecond))
		if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
			logger.Debug("sd_notify failed", "err", err)
		}
		releaseAfterScan(ctx, db)
		return nil
	})
	stop := func(err error) error {
		cancel()
		_ = g.Wait()
		return err
	}

	var ident *enroll.Identity
	creds := insecure.NewCredentials()
	if cfg.Insecure {
		logger.Warn("using plaintext gRPC to the collector (--insecure): traffic can be read and forged", "collector", cfg.Collector)
	} else {
		ident, err = enroll.Load(enroll.Options{Dir: cfg.StateDir, HostID: hostID, CAPin: cfg.CAPin, JoinToken: cfg.JoinToken,
			Logger: logger.With("component", "enroll")})
		if err != nil {
			return stop(cli.Usage(err))
		}
		creds = credentials.NewTLS(ident.TLSConfig())
	}
	collectors, err := endpoint.New(cfg.Collector, endpoint.Options{Seed: endpoint.Seed(hostID),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(creds)}})
	if err != nil {
		return stop(cli.Usage(err))
	}
	info := hostinfo.Collect(ctx)
	client := stream.New(collectors, stream.Config{HostID: hostID, Labels: cfg.Labels, Info: info, MaxBackoff: cfg.ReconnectMax,
		AckTimeout: cfg.AckTimeout, Ready: runner.Ready()},
		db, runner.Coverage(), logger.With("component", "stream"), stream.NewMetrics(reg))

	logger.Info("plumb-agent starting", "version", version.Version, "host_id", hostID, "sources", names, "collector", cfg.Collector)
	g.Go(func() error {
		if ident != nil {
			// Sources run and spool meanwhile; nothing streams unenrolled.
			if err := ident.Ensure(ctx, collectors, cfg.ReconnectMax); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return cli.Usage(err)
			}
			go func() {
				// Renewal goes to whichever collector the client streams to.
				if err := ident.Renew(ctx, client); err != nil {
					logger.Error("agent certificate lapsed; the agent keeps recording and cannot stream", "err", err)
				}
			}()
		}
		return client.Run(ctx)
	})
	if cfg.MetricsListen != "" {
		g.Go(func() error { return metricsserver.Serve(ctx, cfg.MetricsListen, reg, logger) })
	}
	if cfg.PprofListen != "" {
		g.Go(func() error { return pprofserver.Serve(ctx, cfg.PprofListen, logger) })
	}
	err = g.Wait()
	logger.Info("plumb-agent stopped")
	return err
}
