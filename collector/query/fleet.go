package query

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/fleet"
	"github.com/plumb-dev/plumb/collector/limits"
	"github.com/plumb-dev/plumb/collector/page"
	"github.com/plumb-dev/plumb/collector/store"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// maxExcludes bounds ListOutliersRequest.exclude.
const maxExcludes = 64

// DiffHosts lists the facts on which two hosts differ, in key order, a
// page at a time; a page reads both hosts' facts in one transaction.
func (s *Server) DiffHosts(ctx context.Context, req *plumbv1.DiffHostsRequest) (*plumbv1.DiffHostsResponse, error) {
	a, b := req.GetHostA(), req.GetHostB()
	if a == "" || b == "" {
		return nil, invalid("host_a and host_b are required")
	}
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if err := checkKind(req.GetKind()); err != nil {
		return nil, invalid(err.Error())
	}
	keys, err := parseGlob("key_glob", req.GetKeyGlob(), maxKeyGlobBytes)
	if err != nil {
		return nil, invalid(err.Error())
	}
	raw, fp, err := decodeToken(page.HostDiff, req)
	if err != nil {
		return nil, err
	}
	after, err := decodeFactKey(raw)
	if err != nil {
		return nil, invalidToken(err)
	}
	pb := page.NewBuilder[*plumbv1.FactDifference](size, s.pageBytes(), 0)
	err = s.view(ctx, func(tx store.ReadTx) error {
		for _, h := range []string{a, b} {
			if err := hostExists(tx, h); err != nil {
				return err
			}
		}
		return page.Done(fleet.Diff(tx, a, b, req.GetKind(), after, func(k fact.Key, d *plumbv1.FactDifference) error {
			return pb.Offer(k.Encode(), d, d != nil && keys.matchKey([]byte(k.ID)))
		}))
	})
	if err != nil {
		return nil, err
	}
	diffs := pb.Items()
	for _, d := range diffs {
		d.A, d.B = s.redactFact(ctx, d.A), s.redactFact(ctx, d.B)
	}
	return &plumbv1.DiffHostsResponse{Differences: diffs, NextPageToken: page.Encode(page.HostDiff, fp, pb.Next())}, nil
}

// ListOutliers compares the selected hosts' current facts (fleet.Outliers)
// and lists the hosts departing from a clear majority, in (host, key)
// order, a page at a time. Each page recomputes the comparison in one
// transaction.
func (s *Server) ListOutliers(ctx context.Context, req *plumbv1.ListOutliersRequest) (*plumbv1.ListOutliersResponse, error) {
	size, err := s.pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	sel, err := parseSelector(req.GetLabelSelector())
	if err != nil {
		return nil, invalid(err.Error())
	}
	if err := checkKind(req.GetKind()); err != nil {
		return nil, invalid(err.Error())
	}
	keys, err := parseGlob("key_glob", req.GetKeyGlob(), maxKeyGlobBytes)
	if err != nil {
		return nil, invalid(err.Error())
	}
	if len(req.GetExclude()) > maxExcludes {
		return nil, invalid(fmt.Sprintf("exclude: at most %d globs", maxExcludes))
	}
	var exclude fleet.Exclusion
	if !req.GetNoDefaultExclude() {
		exclude = slices.Clone(fleet.DefaultExclude)
	}
	for _, e := range req.GetExclude() {
		g, err := parseGlob("exclude", e, maxKeyGlobBytes)
		if err != nil {
			return nil, invalid(err.Error())
		}
		if g != "" {
			exclude = append(exclude, string(g))
		}
	}
	raw, fp, err := decodeToken(page.Outliers, req)
	if err != nil {
		return nil, err
	}
	after, err := decodeDriftPos(raw)
	if err != nil {
		return nil, invalidToken(err)
	}
	keep := func(k fact.Key) bool {
		return keys.matchKey([]byte(k.ID)) && !exclude.Excludes(k)
	}
	select {
	case s.fleetScan <- struct{}{}:
		defer func() { <-s.fleetScan }()
	default:
		return nil, s.lm.Refuse(codes.ResourceExhausted, limits.FleetScans,
			"another fleet comparison is running (one at a time: each reads every selected host's facts); retry shortly")
	}
	var hosts []string
	var found []*plumbv1.Outlier
	err = s.view(ctx, func(tx store.ReadTx) error {
		err := tx.Hosts(func(h *store.Host) error {
			// A host whose first complete snapshot has not arrived
			// would lack every key: it is not compared yet.
			if sel.match(h.Labels) && h.HasBaseline {
				hosts = append(hosts, h.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		found, err = fleet.Outliers(tx, hosts, req.GetKind(), keep)
		return err
	})
	if err != nil {
		return nil, err
	}
	pb := page.NewBuilder[*plumbv1.Outlier](size, s.pageBytes(), len(found)+1)
	keyDigests := !seesRawDigests(ctx)
	for _, o := range found {
		pos := store.DriftPos{Host: o.GetHostId(), Key: fact.Key{Kind: o.GetKind(), ID: string(o.GetKey())}}
		if after != nil && comparePos(pos, *after) <= 0 {
			continue
		}
		if keyDigests {
			o.Digest = s.keyed("fact digest", o.GetDigest())
			o.MajorityDigest = s.keyed("fact digest", o.GetMajorityDigest())
		}
		if err := pb.Offer(encodeDriftPos(pos), o, true); err != nil {
			break
		}
	}
	return &plumbv1.ListOutliersResponse{
		Outliers: pb.Items(), NextPageToken: page.Encode(page.Outliers, fp, pb.Next()), Hosts: uint32(len(hosts)),
	}, nil
}

// comparePos orders outliers as fleet.Outliers lists them: by host id,
// then by fact key in store order.
func comparePos(a, b store.DriftPos) int {
	return cmp.Or(strings.Compare(a.Host, b.Host), bytes.Compare(a.Key.Encode(), b.Key.Encode()))
}
