// Package slack posts drift to a Slack incoming webhook as a Block Kit
// message: a header with the change, fields for host, kind, key, severity
// and status, and the values before and after.
//
//	notifiers:
//	  - name: ops-channel
//	    type: slack
//	    url: https://hooks.slack.com/services/T000/B000/XXXX
package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/collector/alert/webhook"
	"github.com/plumb-dev/plumb/pkg/fact"
	"github.com/plumb-dev/plumb/pkg/factjson"
)

// TypeName selects this notifier.
const TypeName = "slack"

// Config is a slack notifier's entry.
type Config struct {
	URL     string        `koanf:"url"`
	Timeout time.Duration `koanf:"timeout"`
}

func init() {
	alert.Register(TypeName, func(p alert.Params) (alert.Notifier, error) {
		var cfg Config
		if err := p.Decode(&cfg); err != nil {
			return nil, err
		}
		return webhook.NewGrouping(p.Name, webhook.Config{URL: cfg.URL, Timeout: cfg.Timeout}, p.Logger, Body, GroupBody)
	})
}

// Message is an incoming-webhook message.
type Message struct {
	Text   string  `json:"text"` // the notification's fallback
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit layout block: header, section or context.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a text object: plain_text or mrkdwn.
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Block Kit's limits.
const (
	maxHeader = 150
	maxField  = 2000
	maxText   = 3000
	maxBlocks = 50
)

// maxListed is how many unexplained items a message lists, each in a
// block of its own; the rest are counted.
const maxListed = 20

// GroupBody renders a group as one message: a header with the summary's
// title, fields for hosts and severity, a line per package change, then
// the unexplained items, with the diff of each file whose content the
// agent keeps.
func GroupBody(g *alert.Group) ([]webhook.Request, error) {
	s := g.Summarize()
	var hosts []string
	for i, h := range s.Hosts {
		if i == 10 {
			hosts = append(hosts, fmt.Sprintf("and %d more", len(s.Hosts)-i))
			break
		}
		hosts = append(hosts, fmt.Sprintf("%s (%d)", h.Host, h.Items))
	}
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: clip(s.Title, maxHeader)}},
		{Type: "section", Fields: []Text{
			mrkdwn("*Hosts*\n" + escape(strings.Join(hosts, ", "))),
			mrkdwn("*Severity*\n" + escape(s.Severity)),
		}},
	}
	for _, p := range s.Packages {
		line := "*Package* " + escape(p.Host+": "+p.Line())
		if len(p.Mismatched) > 0 {
			line += "\nDiffer from the package: `" + escape(strings.Join(p.Mismatched, "`, `")) + "`"
		}
		blocks = append(blocks, Block{Type: "section", Text: ptr(mrkdwn(line))})
	}
	if s.UnexplainedTotal > 0 && len(s.Packages) > 0 {
		blocks = append(blocks, Block{Type: "section", Text: ptr(mrkdwn(fmt.Sprintf("*%d not explained by a package change:*", s.UnexplainedTotal)))})
	}
	for i, it := range s.Unexplained {
		if i == maxListed || len(blocks) >= maxBlocks-2 {
			break
		}
		line := fmt.Sprintf("*%s* %s `%s` %s on %s", escape(it.Severity), escape(it.Kind), escape(it.Key), escape(it.Change), escape(it.Host))
		if it.Flapped {
			line += " (flapped: changed and changed back)"
		} else if it.Status != "open" {
			line += " (" + escape(it.Status) + ")"
		}
		switch {
		case it.Diff != "":
			d := "```" + escape(strings.ReplaceAll(it.Diff, "```", "'''")) + "```"
			if it.Redacted {
				d += "\n_secrets redacted_"
			}
			line += "\n" + d
		case it.Content != "":
			line += "\n_content " + escape(it.Content) + "_"
		}
		blocks = append(blocks, Block{Type: "section", Text: ptr(Text{Type: "mrkdwn", Text: clip(line, maxText)})})
	}
	for _, ss := range s.Silences {
		var held []string
		for i, h := range ss.Held {
			if i == 10 {
				held = append(held, fmt.Sprintf("and %d more", len(ss.Held)-i))
				break
			}
			held = append(held, fmt.Sprintf("%s %s `%s` on %s", h.Severity, h.Kind, h.Key, h.Host))
		}
		line := fmt.Sprintf("*Silence %s ended* (%s, by %s): %d events on %d items held back", ss.SilenceID, ss.Reason, ss.CreatedBy, ss.Events, ss.Items)
		if len(held) > 0 {
			line += "\n" + strings.Join(held, "\n")
		}
		blocks = append(blocks, Block{Type: "section", Text: ptr(Text{Type: "mrkdwn", Text: clip(escape(line), maxText)})})
	}
	if n := s.UnexplainedTotal - min(len(s.Unexplained), maxListed); n > 0 {
		blocks = append(blocks, Block{Type: "section", Text: ptr(mrkdwn(fmt.Sprintf("…and %d more (plumbctl drift)", n)))})
	}
	blocks = append(blocks, Block{Type: "context", Elements: []Text{mrkdwn(clip(escape("notification "+s.ID), maxText))}})
	b, err := json.Marshal(Message{Text: clip(escape(s.Title), maxText), Blocks: blocks[:min(len(blocks), maxBlocks)]})
	if err != nil {
		return nil, err
	}
	return []webhook.Request{{ID: g.Key, Body: b}}, nil
}

func ptr[T any](v T) *T { return &v }

// Body renders ev.
func Body(ev *plumbv1.DriftEvent) ([]byte, bool, error) {
	it := ev.GetItem()
	key := fact.Display(it.GetKey())
	sev := factjson.Severity(it.GetSeverity())
	title := fmt.Sprintf("%s: %s %s on %s", strings.TrimPrefix(factjson.EventType(ev.GetType()), "drift."), fact.KindName(it.GetKind()), factjson.Change(it.GetChange()), it.GetHostId())
	fields := []Text{
		mrkdwn("*Host*\n" + escape(it.GetHostId())),
		mrkdwn("*Severity*\n" + escape(sev)),
		mrkdwn("*" + escape(fact.KindName(it.GetKind())) + "*\n`" + escape(key) + "`"),
		mrkdwn("*Status*\n" + escape(factjson.Status(it.GetStatus()))),
	}
	if b := it.GetBaseline(); b != nil {
		fields = append(fields, mrkdwn("*Baseline*\n"+escape(summary(b))))
	}
	if c := it.GetCurrent(); c != nil {
		fields = append(fields, mrkdwn("*Now*\n"+escape(summary(c))))
	}
	msg := Message{
		Text: clip(escape(title+": "+key), maxText),
		Blocks: []Block{
			{Type: "header", Text: &Text{Type: "plain_text", Text: clip(title, maxHeader)}},
			{Type: "section", Fields: fields},
			{Type: "context", Elements: []Text{mrkdwn(clip(escape("event "+ev.GetId()+" · item "+it.GetId()+" · "+factjson.Time(ev.GetAtUnixNano())), maxText))}},
		},
	}
	b, err := json.Marshal(msg)
	return b, false, err
}

func mrkdwn(s string) Text { return Text{Type: "mrkdwn", Text: clip(s, maxField)} }

// escape makes s literal in mrkdwn: Slack reads &, < and > as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// summary is a fact's value in a few words.
func summary(f *plumbv1.Fact) string {
	j := factjson.FromFact(f)
	if j == nil {
		return "-"
	}
	b, err := json.Marshal(j.Attributes)
	if err != nil {
		return "-"
	}
	return string(b)
}
