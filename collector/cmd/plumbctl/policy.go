package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/factjson"
)

// maxPolicyFile bounds the policy file read, a little above what the
// collector accepts, so that its own error names the limit.
const maxPolicyFile = 1<<20 + 1

func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Declared expectations: apply a YAML policy, show it, list its versions",
		Long: `A policy declares what hosts must have, rule by rule, each for the hosts
whose labels match its selector: a package version or range (dpkg or rpm
version order), a sysctl value, a kernel release prefix, a file's digest,
mode, owner, or that it exists or not. A host that violates a rule has an
open drift item of kind expectation keyed by the rule's name; it resolves
when the host complies or the rule goes. Applying needs the operator
role and stores the policy as a new version with the API token's name.`,
		Args: cobra.NoArgs,
	}
	var file string
	var dryRun bool
	apply := &cobra.Command{
		Use:   "apply -f FILE [--dry-run]",
		Short: "Apply a policy (FILE, or - for stdin); --dry-run lists the hosts that would violate it, changing nothing",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.applyPolicy(ctx, file, dryRun) }),
	}
	apply.Flags().StringVarP(&file, "file", "f", "", "the policy YAML, - for stdin (required)")
	apply.Flags().BoolVar(&dryRun, "dry-run", false, "evaluate every host against the policy, store and change nothing")

	var version uint64
	show := &cobra.Command{
		Use:   "show [--version N]",
		Short: "Print the policy in force, or version N",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.showPolicy(ctx, version) }),
	}
	show.Flags().Uint64Var(&version, "version", 0, "a stored version (default: the one in force)")

	var pageSize uint32
	history := &cobra.Command{
		Use:   "history",
		Short: "List the applied policy versions, newest first, with who applied them and when",
		Args:  cobra.NoArgs,
		RunE:  action(func(ctx context.Context) error { return a.policyHistory(ctx, pageSize) }),
	}
	pageSizeFlag(history, &pageSize)
	cmd.AddCommand(apply, show, history)
	return cmd
}

func readPolicy(file string) (string, error) {
	if file == "" {
		return "", usagef("-f FILE is required: the policy YAML (- for stdin)")
	}
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPolicyFile))
	return string(b), err
}

func (a *app) applyPolicy(ctx context.Context, file string, dryRun bool) error {
	text, err := readPolicy(file)
	if err != nil {
		return err
	}
	var resp *plumbv1.ApplyPolicyResponse
	err = serviceCall(ctx, a, "apply policy", plumbv1.NewPolicyServiceClient, func(ctx context.Context, c plumbv1.PolicyServiceClient) (err error) {
		resp, err = c.ApplyPolicy(ctx, &plumbv1.ApplyPolicyRequest{Yaml: text, DryRun: dryRun})
		return err
	})
	if err != nil {
		return err
	}
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, applyJSONOf(resp, dryRun))
	}
	if dryRun {
		fmt.Fprintf(a.stdout, "dry run: %d violations on %d hosts evaluated; nothing stored\n", len(resp.GetViolations()), resp.GetHosts())
	} else {
		p := resp.GetPolicy()
		fmt.Fprintf(a.stdout, "policy version %d applied by %s (%d rules); %d violations on %d hosts\n",
			p.GetVersion(), esc(p.GetAuthor()), p.GetRules(), len(resp.GetViolations()), resp.GetHosts())
	}
	if len(resp.GetViolations()) > 0 {
		t := newTable(a.stdout, "HOST", "RULE", "DETAIL")
		for _, v := range resp.GetViolations() {
			t.row(esc(v.GetHostId()), esc(v.GetRule()), esc(v.GetDetail()))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if resp.GetTruncated() {
		fmt.Fprintln(a.stdout, "(more violations left out)")
	}
	return nil
}

type violationJSON struct {
	Host   string `json:"host"`
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

type policyJSON struct {
	Version   uint64 `json:"version"`
	Author    string `json:"author"`
	AppliedAt string `json:"applied_at"`
	Rules     uint32 `json:"rules"`
	YAML      string `json:"yaml,omitempty"`
}

type applyJSON struct {
	DryRun     bool            `json:"dry_run"`
	Policy     *policyJSON     `json:"policy,omitempty"`
	Hosts      uint32          `json:"hosts"`
	Violations []violationJSON `json:"violations"`
	Truncated  bool            `json:"truncated"`
}

func policyJSONOf(p *plumbv1.PolicyVersion) *policyJSON {
	return &policyJSON{Version: p.GetVersion(), Author: p.GetAuthor(), AppliedAt: factjson.Time(p.GetAppliedAtUnixNano()), Rules: p.GetRules(), YAML: p.GetYaml()}
}

func applyJSONOf(resp *plumbv1.ApplyPolicyResponse, dryRun bool) applyJSON {
	out := applyJSON{DryRun: dryRun, Hosts: resp.GetHosts(), Violations: []violationJSON{}, Truncated: resp.GetTruncated()}
	if p := resp.GetPolicy(); p != nil {
		out.Policy = policyJSONOf(p)
		out.Policy.YAML = ""
	}
	for _, v := range resp.GetViolations() {
		out.Violations = append(out.Violations, violationJSON{Host: v.GetHostId(), Rule: v.GetRule(), Detail: v.GetDetail()})
	}
	return out
}

func (a *app) showPolicy(ctx context.Context, version uint64) error {
	var resp *plumbv1.GetPolicyResponse
	err := serviceCall(ctx, a, "show policy", plumbv1.NewPolicyServiceClient, func(ctx context.Context, c plumbv1.PolicyServiceClient) (err error) {
		resp, err = c.GetPolicy(ctx, &plumbv1.GetPolicyRequest{Version: version})
		return err
	})
	if err != nil {
		return err
	}
	p := resp.GetPolicy()
	if a.opts.Output == outputJSON {
		return writeJSON(a.stdout, policyJSONOf(p))
	}
	fmt.Fprintf(a.stdout, "# policy version %d, applied by %s at %s, %d rules\n", p.GetVersion(), esc(p.GetAuthor()), timeCell(p.GetAppliedAtUnixNano()), p.GetRules())
	_, err = io.WriteString(a.stdout, escText(p.GetYaml()))
	return err
}

func (a *app) policyHistory(ctx context.Context, pageSize uint32) error {
	out := newListOutput(a, []string{"VERSION", "APPLIED", "BY", "RULES"},
		func(p *plumbv1.PolicyVersion) any { return policyJSONOf(p) },
		func(p *plumbv1.PolicyVersion) []string {
			return []string{strconv.FormatUint(p.GetVersion(), 10), timeCell(p.GetAppliedAtUnixNano()), esc(p.GetAuthor()), strconv.FormatUint(uint64(p.GetRules()), 10)}
		})
	req := &plumbv1.ListPolicyVersionsRequest{PageSize: pageSize}
	err := pageService(ctx, a, "policy history", plumbv1.NewPolicyServiceClient, func(ctx context.Context, c plumbv1.PolicyServiceClient, token string) (string, error) {
		req.PageToken = token
		resp, err := c.ListPolicyVersions(ctx, req)
		if err != nil {
			return "", err
		}
		return resp.GetNextPageToken(), out.page(resp.GetVersions())
	})
	if err != nil {
		return err
	}
	return out.close()
}

// escText escapes each line of a multi-line text, keeping its newlines.
func escText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = esc(l)
	}
	return strings.Join(lines, "\n")
}
