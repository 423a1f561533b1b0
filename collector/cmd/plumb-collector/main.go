// Command plumb-collector receives agents' fact streams, keeps every host's
// state and baseline, flags drift as it happens, sends webhooks, and
// answers the query API.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	_ "github.com/plumb-dev/plumb/collector/alert/alertmanager"
	_ "github.com/plumb-dev/plumb/collector/alert/pagerduty"
	_ "github.com/plumb-dev/plumb/collector/alert/slack"
	_ "github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/collector/auth"
	"github.com/plumb-dev/plumb/collector/dashboard"
	"github.com/plumb-dev/plumb/collector/drift"
	"github.com/plumb-dev/plumb/collector/driftstats"
	"github.com/plumb-dev/plumb/collector/ingest"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/logfeed"
	"github.com/plumb-dev/plumb/collector/policy"
	"github.com/plumb-dev/plumb/collector/query"
	"github.com/plumb-dev/plumb/collector/reporting"
	"github.com/plumb-dev/plumb/collector/silence"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/cli"
	"github.com/plumb-dev/plumb/pkg/config"
	"github.com/plumb-dev/plumb/pkg/gcfloor"
	"github.com/plumb-dev/plumb/pkg/metricsserver"
	"github.com/plumb-dev/plumb/pkg/pprofserver"
	"github.com/plumb-dev/plumb/pkg/version"
)

// DBFile is the database's name inside the data directory.
const DBFile = "plumb.db"

// policyFollowEvery is how often a collector sharing its database looks
// for a policy another collector applied.
const policyFollowEvery = time.Second

// revocationFollowEvery is how often a collector sharing its database
// ends the streams of hosts another collector revoked.
const revocationFollowEvery = 5 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg := NewConfig()
	return cli.Daemon{
		Name:     "plumb-collector",
		Short:    "Receive agents' fact streams, keep baselines, flag drift, send webhooks, serve the query API",
		Config:   cfg,
		FlagKeys: flagKeys,
		AddFlags: cfg.AddFlags,
		Serve: func(ctx context.Context) error {
			if err := cfg.Validate(); err != nil {
				return cli.Usage(err)
			}
			return serve(ctx, cfg)
		},
		Commands: []*cobra.Command{migrateCommand()},
	}.Main(args)
}

// heapFloor is the least heap goal the collector keeps (pkg/gcfloor):
// ingest allocates about 2.3 KiB a delta, and with the live heap of a
// small fleet (a few MiB) GOGC=100 alone collected every few MiB. With
// the floor, interleaved runs of one agent's first scan of 20,000 files
// took 26% less collector CPU (median 163 -> 120 ms) for 19 MiB more
// RSS (43 -> 62 MiB). A large fleet's live heap is past the floor, and
// collects at GOGC=100 as before. GOGC in the environment wins.
const heapFloor = 32 << 20

func serve(ctx context.Context, cfg *Config) error {
	logger, err := config.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return cli.Usage(err)
	}
	gcfloor.Set(heapFloor)
	notifiers, err := alert.Build(cfg.notifierConfigs(), logger)
	if err != nil {
		return cli.Usage(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	// Drift score, frequency and MTTR per group (label "group"), over a day.
	reg.MustRegister(driftstats.NewMetrics(st, "group", 24*time.Hour))

	expect := &policy.Set{}
	if err := policy.Load(ctx, st, expect); err != nil {
		return err
	}
	eng := &drift.Engine{Logger: logger.With("component", "drift"), Severity: cfg.severityRules, GroupExclusions: cfg.groupExclusions, Expect: expect}
	watchers := &query.Broadcaster{}
	silences, err := silence.Open(ctx, st, silence.Options{
		Windows: cfg.windows, Logger: logger.With("component", "silence"),
		Retention: cfg.EventRetention, OnCommit: watchers.Notify, Follow: shared(st),
	})
	if err != nil {
		return err
	}
	instance := instanceID(st)
	dispatcher, err := alert.NewDispatcher(st, notifiers, alert.Options{
		Logger: logger.With("component", "alert"), Registerer: reg, Silencer: silences,
		Instance: instance,
	})
	if err != nil {
		return err
	}
	creds, tlsConf, ca, err := transport(ctx, cfg, st, logger)
	if err != nil {
		return err
	}
	authority := auth.New(st, auth.Options{
		CA: ca, CertTTL: cfg.CertTTL, Logger: logger.With("component", "auth"), Metrics: auth.NewMetrics(reg),
	})
	if made, err := authority.Bootstrap(ctx, cfg.DataDir); err != nil {
		return fmt.Errorf("admin token: %w", err)
	} else if made {
		logger.Info("wrote the first admin API token; plumbctl on this host reads it", "path", filepath.Join(cfg.DataDir, auth.AdminTokenFile))
	}
	lm := limits.NewMetrics(reg)
	ing := ingest.New(st, eng, ingest.Options{
		Logger:       logger.With("component", "ingest"),
		Registerer:   reg,
		OnCommit:     func(int) { watchers.Notify() },
		Authorize:    authority.AuthorizeStream,
		Limits:       cfg.Limits,
		LimitMetrics: lm,
	})
	authority.SetStreams(ing)
	authority.SetHealth(eng, watchers.Notify)
	stale := reporting.New(st, eng, reporting.Options{
		StaleAfter: cfg.Health.StaleAfter, Connected: ing.Connected, Notify: watchers.Notify,
		Heartbeat: shared(st), Logger: logger.With("component", "reporting"),
	})
	qs := query.New(st, eng, watchers, ing.Connected, logger.With("component", "query")).WithLimits(cfg.Limits, lm)
	if shared(st) {
		// A host streaming to another collector is stamped every
		// heartbeat interval: two missed stamps and it counts as gone.
		qs.WithLiveWindow(2*stale.Interval() + 5*time.Second)
	}
	dk, err := digestKey(ctx, cfg, st)
	if err != nil {
		return err
	}
	qs.SetDigestKey(dk)
	qs.SetNotifiers(func() []*plumbv1.NotifierStatus { return notifierStatus(dispatcher) })

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln = limitListener(ln, cfg.Limits, lm, logger)
	srv := grpc.NewServer(append([]grpc.ServerOption{
		grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(authority.UnaryInterceptor),
		grpc.ChainStreamInterceptor(authority.StreamInterceptor),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}, limitOptions(cfg.Limits, lm)...)...)
	plumbv1.RegisterAgentServiceServer(srv, ing)
	plumbv1.RegisterQueryServiceServer(srv, qs)
	plumbv1.RegisterEnrollServiceServer(srv, authority.EnrollServer())
	plumbv1.RegisterAdminServiceServer(srv, authority.AdminServer())
	plumbv1.RegisterSilenceServiceServer(srv, silence.NewServer(silences))
	plumbv1.RegisterPolicyServiceServer(srv, policy.NewService(st, eng, expect, watchers.Notify, logger.With("component", "policy")))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)

	var httpAPI *httpServer
	if cfg.HTTPListen != "" {
		httpAPI, err = newHTTPServer(ctx, cfg, httpSetup{
			TLS: tlsConf, CA: ca, LM: lm,
			Ready: readyChecks(st, ing),
			UI:    dashboard.Handler(),
		}, logger.With("component", "http"))
		if err != nil {
			return err
		}
	}

	if ca == nil {
		logger.Warn("serving plaintext gRPC (--insecure): traffic can be read and forged, and agents may claim any host id", "listen", ln.Addr().String())
	} else {
		logger.Info("serving TLS", "listen", ln.Addr().String(), "ca", filepath.Join(cfg.DataDir, auth.CACertFile), "ca_pin", ca.Pin)
	}
	logger.Info("plumb-collector starting", "version", version.Version, "data", cfg.DataDir, "notifiers", len(notifiers), "instance", instance)

	g, ctx := errgroup.WithContext(ctx)
	// Every commit that appends drift events (ingest, accept) notifies
	// watchers; the dispatcher is one of them.
	kicks, unsubscribe := watchers.Subscribe()
	defer unsubscribe()
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-kicks:
				dispatcher.Kick()
			}
		}
	})
	g.Go(func() error { ing.Run(ctx); return nil })
	g.Go(func() error { return dispatcher.Run(ctx) })
	g.Go(func() error { silences.Run(ctx); return nil })
	g.Go(func() error { return prune(ctx, st, authority, logger) })
	if shared(st) {
		// Other collectors commit to the same database: follow what they
		// write that this one keeps in memory (silences follow in their
		// book's Run), and wake watch streams and notifiers for events
		// they append.
		g.Go(func() error {
			policy.Follow(ctx, st, expect, policyFollowEvery, logger.With("component", "policy"))
			return nil
		})
		g.Go(func() error { authority.FollowRevocations(ctx, revocationFollowEvery, ing.LiveHosts); return nil })
		feed := &logfeed.Feed{Store: st, Notify: watchers.Notify, Logger: logger.With("component", "logfeed")}
		g.Go(func() error { return feed.Run(ctx) })
	}
	g.Go(func() error { return stale.Run(ctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc: %w", err)
		}
		return nil
	})
	if httpAPI != nil {
		g.Go(func() error {
			if err := srv.Serve(httpAPI.inproc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("grpc (in-process): %w", err)
			}
			return nil
		})
		g.Go(func() error { return httpAPI.Serve(ctx) })
	}
	g.Go(func() error {
		<-ctx.Done()
		hs.Shutdown()
		qs.Close() // ends watch streams, which would hold up GracefulStop
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		return nil
	})
	if cfg.MetricsListen != "" {
		g.Go(func() error { return metricsserver.Serve(ctx, cfg.MetricsListen, reg, logger) })
	}
	if cfg.PprofListen != "" {
		g.Go(func() error { return pprofserver.Serve(ctx, cfg.PprofListen, logger) })
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		logger.Debug("sd_notify failed", "err", err)
	}
	logger.Info("serving", "listen", ln.Addr().String())
	err = g.Wait()
	logger.Info("plumb-collector stopped")
	return err
}

// instanceID names this process among collectors sharing st, as the
// holder of notifier leases. Only one process opens a bbolt database, so
// there a fixed id lets a restarted collector take its notifiers' leases
// back at once instead of waiting for the dead process's to expire.
func instanceID(st store.Store) string {
	if !shared(st) {
		return "bolt"
	}
	return alert.NewInstanceID()
}

// readyChecks are /readyz's: the store answers a read (bbolt) or a query
// (PostgreSQL), and the ingest
// writer runs and is not stuck in a commit.
func readyChecks(st store.Pinger, ing *ingest.Server) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"store":  st.Ping,
		"ingest": func(context.Context) error { return ing.Ready(time.Now()) },
	}
}

// prune bounds the event log and drops expired join tokens, hourly.
func prune(ctx context.Context, st store.Pruner, authority *auth.Authority, logger *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if n, err := authority.PruneJoinTokens(ctx, now); err != nil {
				logger.Warn("pruning expired join tokens failed", "err", err)
			} else if n > 0 {
				logger.Info("pruned expired join tokens", "tokens", n)
			}
			n, err := st.Prune(ctx, now)
			if err != nil {
				logger.Warn("pruning the event log failed", "err", err)
			} else if n > 0 {
				logger.Info("pruned the event log", "events", n)
			}
		}
	}
}

// notifierStatus is the API view of the dispatcher's notifiers.
func notifierStatus(d *alert.Dispatcher) []*plumbv1.NotifierStatus {
	var out []*plumbv1.NotifierStatus
	nano := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixNano()
	}
	for _, s := range d.Status() {
		out = append(out, &plumbv1.NotifierStatus{
			Name: s.Name, Cursor: s.Cursor, Backlog: s.Backlog,
			LastSuccessUnixNano: nano(s.LastSuccess), LastErrorUnixNano: nano(s.LastErrorAt), LastError: s.LastError,
			Delivered: s.Delivered, Dropped: s.Dropped, Retries: s.Retries,
		})
	}
	return out
}
