package auth

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/plumb-dev/plumb/collector/store"
)

// FollowRevocations ends, within every, the streams here of hosts revoked
// through another collector sharing the database (RevokeHost ends only
// the revoking collector's own). live lists the hosts streaming here
// (ingest.Server.LiveHosts). It runs until ctx ends; store errors are
// logged and retried at the next look.
func (a *Authority) FollowRevocations(ctx context.Context, every time.Duration, live func() []string) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hosts := live()
		if len(hosts) == 0 || a.streams == nil {
			continue
		}
		var revoked []string
		err := a.st.View(ctx, func(tx store.ReadTx) error {
			revoked = revoked[:0]
			for _, h := range hosts {
				id, err := tx.Identity(h)
				if errors.Is(err, store.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if id.Revoked {
					revoked = append(revoked, h)
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("checking live hosts for revocations failed", "err", err)
			}
			continue
		}
		for _, h := range revoked {
			n := a.streams.CloseHost(h, status.Errorf(codes.PermissionDenied, "host %q was revoked", h))
			a.logger.Warn("host revoked through another collector; ended its stream here", "host", h, "streams_closed", n)
		}
	}
}
