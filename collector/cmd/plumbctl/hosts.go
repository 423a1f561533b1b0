package main

import (
	"context"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) hostsCommand() *cobra.Command {
	var f hostFlags
	cmd := &cobra.Command{
		Use:   "hosts [--label K=V]... [--state STATE] [--host GLOB]",
		Short: "List the hosts the collector knows, with their drift and coverage",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context) error {
			return a.hosts(ctx, f)
		}),
	}
	cmd.Flags().StringArrayVar(&f.labels, "label", nil, "only hosts with this label: K=V, K!=V, K (set) or !K (unset); repeat for more")
	cmd.Flags().StringVar(&f.state, "state", "", "only hosts whose agent is connected, disconnected or stale")
	cmd.Flags().StringVar(&f.glob, "host", "", "only hosts whose id matches this glob (web-*)")
	pageSizeFlag(cmd, &f.pageSize)
	cmd.AddCommand(a.revokeCommand())
	return cmd
}

type hostFlags struct {
	labels      []string
	state, glob string
	pageSize    uint32
}

func (f hostFlags) request() (*plumbv1.ListHostsRequest, error) {
	req := &plumbv1.ListHostsRequest{LabelSelector: labelSelector(f.labels), HostGlob: f.glob, PageSize: f.pageSize}
	if f.state != "" {
		v, ok := plumbv1.HostState_value["HOST_STATE_"+strings.ToUpper(f.state)]
		if !ok || v == 0 {
			return nil, usagef("--state %q: want connected, disconnected or stale", f.state)
		}
		req.State = plumbv1.HostState(v)
	}
	return req, nil
}

func (a *app) hosts(ctx context.Context, f hostFlags) error {
	req, err := f.request()
	if err != nil {
		return err
	}
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	out := newListOutput(a, []string{"HOST", "CONNECTED", "IDENTITY", "FACTS", "DRIFT", "BASELINE", "COVERAGE", "LAST SEEN", "OS"},
		func(h *plumbv1.Host) any { return toHostJSON(h) },
		func(h *plumbv1.Host) []string {
			return []string{
				esc(h.GetHostId()),
				yesNo(h.GetConnected()),
				orDash(identityState(h.GetIdentity())),
				strconv.FormatUint(h.GetFactCount(), 10),
				strconv.FormatUint(h.GetOpenDrift(), 10),
				yesNo(h.GetHasBaseline()),
				coverageCell(h.GetCoverage()),
				timeCell(h.GetLastSeenUnixNano()),
				orDash(esc(osName(h.GetInfo()))),
			}
		})
	err = a.pageThrough(ctx, "list hosts", func(ctx context.Context, token string) (string, error) {
		req.PageToken = token
		resp, err := client.ListHosts(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetHosts())
	})
	if err != nil {
		return err
	}
	return out.close()
}

// coverageCell summarizes a host's coverage gaps: "ok", or the worst
// state and its reasons ("degraded: queue_overflow").
func coverageCell(gaps []*plumbv1.CoverageCondition) string {
	if len(gaps) == 0 {
		return "ok"
	}
	worst := plumbv1.CoverageState_COVERAGE_STATE_UNSPECIFIED
	var reasons []string
	for _, g := range gaps {
		worst = max(worst, g.GetState())
		if !slices.Contains(reasons, esc(g.GetReason())) {
			reasons = append(reasons, esc(g.GetReason()))
		}
	}
	state := strings.ToLower(strings.TrimPrefix(worst.String(), "COVERAGE_STATE_"))
	return state + ": " + strings.Join(reasons, ",")
}

// osName is the host's distribution and release ("debian 12.5"), or its
// OS family when the agent did not report a platform.
func osName(info *plumbv1.HostInfo) string {
	if p := info.GetPlatform(); p != "" {
		return strings.TrimSpace(p + " " + info.GetPlatformVersion())
	}
	return info.GetOs()
}

// hostJSON is the JSON view of a host. SetDigest is the host's set digest
// in hex: equal to the agent's when both hold the same facts.
type hostJSON struct {
	HostID      string            `json:"host_id"`
	Connected   bool              `json:"connected"`
	FactCount   uint64            `json:"fact_count"`
	OpenDrift   uint64            `json:"open_drift"`
	HasBaseline bool              `json:"has_baseline"`
	AppliedSeq  uint64            `json:"applied_seq"`
	SetDigest   string            `json:"set_digest"`
	LastSeen    string            `json:"last_seen"`
	Info        hostInfoJSON      `json:"info"`
	Labels      map[string]string `json:"labels"`
	Coverage    []coverageJSON    `json:"coverage"`
	Identity    *identityJSON     `json:"identity,omitempty"`
}

// identityJSON is the host's enrolled identity; absent for a host that
// streamed to a plaintext collector.
type identityJSON struct {
	State       string `json:"state"` // enrolled, quarantined or revoked
	KeyPin      string `json:"key_pin"`
	Enrolled    string `json:"enrolled"`
	CertExpires string `json:"cert_expires"`
	Clashes     uint64 `json:"clashes"`
	ClashKeyPin string `json:"clash_key_pin,omitempty"`
	ClashAt     string `json:"clash_at,omitempty"`
	ClashReason string `json:"clash_reason,omitempty"`
}

// identityState names an identity's state in lower case ("" if none).
func identityState(id *plumbv1.HostIdentity) string {
	if id == nil {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(id.GetState().String(), "IDENTITY_STATE_"))
}

type hostInfoJSON struct {
	Hostname        string `json:"hostname"`
	OS              string `json:"os"`
	Platform        string `json:"platform"`
	PlatformVersion string `json:"platform_version"`
	KernelVersion   string `json:"kernel_version"`
	BootID          string `json:"boot_id"`
	AgentVersion    string `json:"agent_version"`
}

type coverageJSON struct {
	Source string `json:"source"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	Since  string `json:"since"`
}

func toHostJSON(h *plumbv1.Host) hostJSON {
	info := h.GetInfo()
	out := hostJSON{
		HostID:      h.GetHostId(),
		Connected:   h.GetConnected(),
		FactCount:   h.GetFactCount(),
		OpenDrift:   h.GetOpenDrift(),
		HasBaseline: h.GetHasBaseline(),
		AppliedSeq:  h.GetAppliedSeq(),
		SetDigest:   hex.EncodeToString(h.GetSetDigest()),
		LastSeen:    factjson.Time(h.GetLastSeenUnixNano()),
		Info: hostInfoJSON{
			Hostname:        info.GetHostname(),
			OS:              info.GetOs(),
			Platform:        info.GetPlatform(),
			PlatformVersion: info.GetPlatformVersion(),
			KernelVersion:   info.GetKernelVersion(),
			BootID:          info.GetBootId(),
			AgentVersion:    info.GetAgentVersion(),
		},
		Labels:   h.GetLabels(),
		Coverage: make([]coverageJSON, 0, len(h.GetCoverage())),
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if id := h.GetIdentity(); id != nil {
		out.Identity = &identityJSON{
			State: identityState(id), KeyPin: id.GetKeyPin(), Enrolled: factjson.Time(id.GetEnrolledUnixNano()),
			CertExpires: factjson.Time(id.GetCertNotAfterUnixNano()), Clashes: id.GetClashes(), ClashKeyPin: id.GetClashKeyPin(),
			ClashReason: id.GetClashReason(),
		}
		if id.GetClashUnixNano() != 0 {
			out.Identity.ClashAt = factjson.Time(id.GetClashUnixNano())
		}
	}
	for _, c := range h.GetCoverage() {
		out.Coverage = append(out.Coverage, coverageJSON{
			Source: c.GetSource(),
			State:  strings.ToLower(strings.TrimPrefix(c.GetState().String(), "COVERAGE_STATE_")),
			Reason: c.GetReason(),
			Detail: c.GetDetail(),
			Since:  factjson.Time(c.GetSinceUnixNano()),
		})
	}
	return out
}
