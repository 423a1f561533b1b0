package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

func (a *app) driftShowCommand() *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "show ID [--host HOST]",
		Short: "Show one drift item, with the diff of a text file's content",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return action(func(ctx context.Context) error {
				return a.showDrift(ctx, args[0], host)
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "the item's host (spares the collector a search of every host)")
	return cmd
}

// driftDetail is the JSON view of `drift show`: the item, and the content
// change of its current value.
type driftDetail struct {
	*factjson.DriftItem
	Content *factjson.Content `json:"content,omitempty"`
}

func (a *app) showDrift(ctx context.Context, id, host string) error {
	client, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	cctx, cancel := a.callContext(ctx)
	defer cancel()
	resp, err := client.GetDrift(cctx, &plumbv1.GetDriftRequest{Id: id, HostId: host})
	if err != nil {
		return a.rpcError("show drift", err)
	}
	it := resp.GetItem()
	isFile := it.GetKind() == plumbv1.FactKind_FACT_KIND_FILE
	if a.opts.Output == outputJSON {
		d := driftDetail{DriftItem: factjson.FromDriftItem(it)}
		if isFile {
			d.Content = factjson.FromContent(it.GetCurrent().GetFile().GetContent())
		}
		return writeJSON(a.stdout, d)
	}
	var b strings.Builder
	field := func(name, value string) {
		fmt.Fprintf(&b, "%-10s %s\n", name+":", value)
	}
	field("id", esc(it.GetId()))
	field("host", esc(it.GetHostId()))
	field("kind", fact.KindName(it.GetKind()))
	field("key", fact.Display(it.GetKey()))
	field("change", factjson.Change(it.GetChange()))
	field("status", factjson.Status(it.GetStatus()))
	field("severity", orDash(factjson.Severity(it.GetSeverity())))
	field("observed", timeCell(it.GetObservedUnixNano()))
	field("detected", timeCell(it.GetDetectedUnixNano()))
	field("updated", timeCell(it.GetUpdatedUnixNano()))
	if g := it.GetBaselineGroup(); g != "" {
		field("held to", "group "+esc(g)+"'s baseline")
	}
	if it.GetStatus() == plumbv1.DriftStatus_DRIFT_STATUS_ACCEPTED {
		field("accepted", esc(it.GetAcceptedBy()))
		field("reason", esc(it.GetReason()))
		if g := it.GetBaselineGroup(); g != "" {
			field("exception", "to group "+esc(g)+"'s baseline: this host is held to the accepted value")
		}
	}
	if cur := it.GetCurrent(); cur != nil {
		field("current", orDash(summary(cur)))
	}
	if base := it.GetBaseline(); base != nil {
		field("baseline", orDash(summary(base)))
	}
	if isFile {
		writeContent(&b, it)
	}
	_, err = a.stdout.Write([]byte(b.String()))
	return err
}

// writeContent writes what the item's current value says of the file's
// content, and its diff, each line escaped.
func writeContent(b *strings.Builder, it *plumbv1.DriftItem) {
	c := it.GetCurrent().GetFile().GetContent()
	note := ""
	if c.GetRedacted() {
		note = " (secrets redacted)"
	}
	switch c.GetState() {
	case plumbv1.ContentState_CONTENT_STATE_DIFF:
		if c.GetUnifiedDiff() == "" {
			fmt.Fprintf(b, "content:   unchanged\n")
			return
		}
		fmt.Fprintf(b, "content:   diff since the agent last saw the file%s\n", note)
		for _, l := range strings.SplitAfter(c.GetUnifiedDiff(), "\n") {
			if l == "" {
				continue
			}
			body, nl := strings.CutSuffix(l, "\n")
			b.WriteString(esc(body))
			if nl {
				b.WriteByte('\n')
			}
		}
		if !strings.HasSuffix(c.GetUnifiedDiff(), "\n") {
			b.WriteByte('\n')
		}
	case plumbv1.ContentState_CONTENT_STATE_FIRST:
		fmt.Fprintf(b, "content:   first seen; no earlier content kept to compare with\n")
	case plumbv1.ContentState_CONTENT_STATE_TOO_LARGE:
		fmt.Fprintf(b, "content:   not kept (too large)\n")
	case plumbv1.ContentState_CONTENT_STATE_BINARY:
		fmt.Fprintf(b, "content:   not kept (binary)\n")
	default:
		fmt.Fprintf(b, "content:   content not kept\n")
	}
}
