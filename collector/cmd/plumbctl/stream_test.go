package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// jsonArray writes, item by item, exactly what writeJSON writes for the
// whole array.
func TestJSONArrayMatchesWriteJSON(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	for n := range 6 {
		var items []any
		for i := range n {
			items = append(items, map[string]any{
				"i": i, "s": fmt.Sprintf("x\x1b[31m%d\u202e", rng.IntN(100)), "nested": map[string]any{"a": []int{1, 2}},
				"empty": []string{}, "null": nil,
			})
		}
		var whole, streamed bytes.Buffer
		if err := writeJSON(&whole, append([]any{}, items...)); err != nil {
			t.Fatal(err)
		}
		arr := &jsonArray{w: &streamed}
		for _, it := range items {
			if err := arr.add(it); err != nil {
				t.Fatal(err)
			}
		}
		if err := arr.close(); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Fatalf("%d items: streamed\n%s\nwant\n%s", n, streamed.String(), whole.String())
		}
	}
}

// A list that fits in tableHold rows prints as the tabwriter table
// prints it; a longer one starts printing once tableHold rows arrived,
// before the next page is fetched, and keeps its columns as wide as
// needed so far.
func TestStreamTable(t *testing.T) {
	rows := func(n, width int) [][]string {
		var out [][]string
		for i := range n {
			out = append(out, []string{fmt.Sprintf("h%d", i), strings.Repeat("k", 1+i%width), "", "last"})
		}
		return out
	}
	var want, got bytes.Buffer
	tab := newTable(&want, "HOST", "KEY", "EMPTY", "END")
	st := newStreamTable(&got, "HOST", "KEY", "EMPTY", "END")
	for i, r := range rows(30, 7) {
		tab.row(append([]string{}, r...)...)
		st.row(r...)
		if i%4 == 3 {
			if err := st.endPage(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tab.flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.flush(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("stream table:\n%s\nwant (tabwriter):\n%s", got.String(), want.String())
	}

	// Past tableHold rows: the first pages print before the call for the
	// next page.
	var out bytes.Buffer
	a := &app{stdout: &out, opts: options{Output: outputTable, Timeout: time.Second}}
	lo := newListOutput(a, []string{"HOST", "KEY"}, func(r []string) any { return r }, func(r []string) []string { return r })
	var all [][]string
	for i := range 3 * tableHold {
		all = append(all, []string{fmt.Sprintf("h%d", i%10), strings.Repeat("k", 1+i%3)})
	}
	calls := 0
	err := a.pageThrough(context.Background(), "list", func(_ context.Context, token string) (string, error) {
		calls++
		if calls == 3 && out.Len() == 0 {
			t.Fatalf("%d rows arrived in two pages and nothing is printed yet", 2*len(all)/3)
		}
		page := all[(calls-1)*tableHold : calls*tableHold]
		if calls == 3 {
			page = append(page, []string{"wide", strings.Repeat("w", 20)})
		}
		next := ""
		if calls < 3 {
			next = fmt.Sprint(calls)
		}
		return next, lo.page(page)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := lo.close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+3*tableHold+1 || lines[0] != "HOST  KEY" || lines[1] != "h0    k" ||
		lines[len(lines)-1] != "wide  "+strings.Repeat("w", 20) {
		t.Errorf("%d lines, first %q %q, last %q", len(lines), lines[0], lines[1], lines[len(lines)-1])
	}
}
