package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/alert"
	"github.com/plumb-dev/plumb/pkg/fact"
)

// TestMessageFollowsBlockKit checks the message against Block Kit's
// documented limits: a fallback text, a header block of plain_text at most
// 150 characters, a section of at most 10 mrkdwn fields of at most 2000
// characters, a context block of text elements; &, < and > escaped in
// mrkdwn, so a hostile key cannot make a link or mention.
func TestMessageFollowsBlockKit(t *testing.T) {
	cur := fact.Seal(&plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte("/etc/x"),
		Attrs: &plumbv1.Fact_File{File: &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR, Mode: 0o644}}})
	for _, key := range []string{"/etc/sudoers", "/etc/<!channel> & <http://evil|click>", strings.Repeat("/x", 3000)} {
		ev := &plumbv1.DriftEvent{Id: "ev1", Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, Item: &plumbv1.DriftItem{
			Id: "it1", HostId: strings.Repeat("h", 200), Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(key),
			Change: plumbv1.DriftChange_DRIFT_CHANGE_ADDED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			Severity: plumbv1.Severity_SEVERITY_CRITICAL, Current: cur,
		}}
		b, skip, err := Body(ev)
		if err != nil || skip {
			t.Fatal(skip, err)
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Text == "" || len(m.Blocks) != 3 {
			t.Fatalf("message %s", b)
		}
		h := m.Blocks[0]
		if h.Type != "header" || h.Text == nil || h.Text.Type != "plain_text" || utf8.RuneCountInString(h.Text.Text) > 150 {
			t.Errorf("header block %+v", h)
		}
		s := m.Blocks[1]
		if s.Type != "section" || len(s.Fields) == 0 || len(s.Fields) > 10 {
			t.Errorf("section block with %d fields", len(s.Fields))
		}
		for _, f := range append(append([]Text(nil), s.Fields...), m.Blocks[2].Elements...) {
			if f.Type != "mrkdwn" || utf8.RuneCountInString(f.Text) > 2000 {
				t.Errorf("field %q of type %s, %d characters", f.Text[:min(40, len(f.Text))], f.Type, utf8.RuneCountInString(f.Text))
			}
			if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(f.Text, "&amp;", ""), "&lt;", ""), "&gt;", ""), "<>&") {
				t.Errorf("unescaped markup in %q", f.Text)
			}
		}
		if m.Blocks[2].Type != "context" {
			t.Errorf("third block %s", m.Blocks[2].Type)
		}
		if !strings.Contains(string(b), "critical") {
			t.Error("no severity in the message")
		}
	}
}

// A group of many hostile items stays within Block Kit's limits (at most
// 50 blocks, header 150, texts 3000), escapes markup, lists what it can
// and counts the rest, and shows a kept diff without letting it close
// its code block early.
func TestGroupMessageFollowsBlockKit(t *testing.T) {
	var events []*plumbv1.DriftEvent
	for i := range 300 {
		key := "/etc/<!channel>&<http://evil|x>/" + strings.Repeat("k", i%7*500) + string(rune('a'+i%26))
		f := &plumbv1.FileAttrs{Type: plumbv1.FileType_FILE_TYPE_REGULAR,
			Content: &plumbv1.ContentChange{State: plumbv1.ContentState_CONTENT_STATE_DIFF, UnifiedDiff: "--- a\n+++ b\n-x\n+```<!here>\n", Redacted: i%2 == 0}}
		events = append(events, &plumbv1.DriftEvent{Id: "e", Seq: uint64(i + 1), Type: plumbv1.DriftEventType_DRIFT_EVENT_TYPE_OPENED, Item: &plumbv1.DriftItem{
			Id: key, HostId: "h<@U123>" + string(rune('a'+i%3)), Kind: plumbv1.FactKind_FACT_KIND_FILE, Key: []byte(key),
			Change: plumbv1.DriftChange_DRIFT_CHANGE_MODIFIED, Status: plumbv1.DriftStatus_DRIFT_STATUS_OPEN,
			Severity: plumbv1.Severity_SEVERITY_WARNING, Current: &plumbv1.Fact{Kind: plumbv1.FactKind_FACT_KIND_FILE, Attrs: &plumbv1.Fact_File{File: f}},
		}})
	}
	reqs, err := GroupBody(&alert.Group{Key: "g1-300", Events: events})
	if err != nil || len(reqs) != 1 || reqs[0].ID != "g1-300" {
		t.Fatalf("requests %d, err %v", len(reqs), err)
	}
	var m Message
	if err := json.Unmarshal(reqs[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Blocks) > 50 || m.Blocks[0].Type != "header" || utf8.RuneCountInString(m.Blocks[0].Text.Text) > 150 {
		t.Fatalf("%d blocks, first %+v", len(m.Blocks), m.Blocks[0])
	}
	var texts []Text
	for _, b := range m.Blocks {
		if b.Text != nil && b.Type != "header" {
			texts = append(texts, *b.Text)
		}
		texts = append(append(texts, b.Fields...), b.Elements...)
	}
	for _, tx := range texts {
		if utf8.RuneCountInString(tx.Text) > 3000 {
			t.Errorf("text of %d characters", utf8.RuneCountInString(tx.Text))
		}
		bare := strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(tx.Text)
		if strings.ContainsAny(bare, "<>&") {
			t.Errorf("unescaped markup in %q", tx.Text[:min(80, len(tx.Text))])
		}
		if strings.Count(tx.Text, "```")%2 != 0 {
			t.Errorf("unbalanced code block in %q", tx.Text[:min(80, len(tx.Text))])
		}
	}
	body := string(reqs[0].Body)
	if !strings.Contains(body, "more (plumbctl drift)") || !strings.Contains(body, "secrets redacted") || !strings.Contains(body, "3 hosts") {
		t.Errorf("message lacks the count of the rest, the redaction note or the host count: %.400s", body)
	}
}
