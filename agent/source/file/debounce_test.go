package file

import (
	"testing"
	"time"
)

func TestDebouncer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d := newDebouncer(10 * time.Millisecond)

	// First event: handle now; the rest of the window only marks it.
	if !d.event("/a", at(0), false) {
		t.Fatal("first event not handled at once")
	}
	if d.event("/a", at(3), false) || d.event("/a", at(9), false) {
		t.Fatal("event inside the window handled at once")
	}
	if !d.event("/b", at(5), false) {
		t.Fatal("first event of another path not handled at once")
	}
	if next, ok := d.next(); !ok || !next.Equal(at(10)) {
		t.Fatalf("next = %v %v, want %v", next, ok, at(10))
	}
	if got := d.due(at(9)); len(got) != 0 {
		t.Fatalf("due before the window closed: %v", got)
	}
	// /a's window closes with a pending event: one trailing re-check, and a
	// new window opens for it.
	if got := d.due(at(10)); !equalStrings(got, []string{"/a"}) {
		t.Fatalf("due(10) = %v, want [/a]", got)
	}
	if d.event("/a", at(12), false) {
		t.Fatal("event in the trailing window handled at once")
	}
	// /b had no further event: its window closes silently.
	if got := d.due(at(15)); len(got) != 0 {
		t.Fatalf("due(15) = %v, want none", got)
	}
	if !d.event("/b", at(16), false) {
		t.Fatal("event after /b's window closed not handled at once")
	}
	if got := d.due(at(20)); !equalStrings(got, []string{"/a"}) {
		t.Fatalf("due(20) = %v, want [/a]", got)
	}
	// Nothing pending any more: windows close, the debouncer empties.
	if got := d.due(at(100)); len(got) != 0 {
		t.Fatalf("due(100) = %v", got)
	}
	if d.len() != 0 {
		t.Fatalf("%d windows still open", d.len())
	}
	if _, ok := d.next(); ok {
		t.Fatal("next with nothing open")
	}
}

func TestDebouncerZeroWindow(t *testing.T) {
	d := newDebouncer(0)
	now := time.Unix(1, 0)
	for range 3 {
		if !d.event("/a", now, false) {
			t.Fatal("zero window: event not handled at once")
		}
	}
	if d.len() != 0 {
		t.Fatal("zero window keeps state")
	}
}

func TestDebouncerManyPaths(t *testing.T) {
	d := newDebouncer(time.Millisecond)
	now := time.Unix(1, 0)
	for i := range 10000 {
		p := "/p" + string(rune('a'+i%26)) + string(rune(i))
		d.event(p, now, false)
		d.event(p, now, false)
	}
	got := d.due(now.Add(time.Millisecond))
	if len(got) != d.len() || len(got) == 0 {
		t.Fatalf("due %d, open %d", len(got), d.len())
	}
	d.due(now.Add(time.Hour))
	if d.len() != 0 || len(d.queue) != 0 {
		t.Fatalf("after all windows closed: open %d, queue %d", d.len(), len(d.queue))
	}
}

func TestDebouncerSettlingEventWaitsForTheWindow(t *testing.T) {
	d := newDebouncer(10 * time.Millisecond)
	t0 := time.Unix(1000, 0)
	if d.event("/f", t0, true) {
		t.Fatal("a write was handled at once; want it handled when the window closes")
	}
	if d.event("/f", t0.Add(2*time.Millisecond), true) {
		t.Fatal("second write handled at once")
	}
	if got := d.due(t0.Add(5 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("handled before the window closed: %v", got)
	}
	if got := d.due(t0.Add(10 * time.Millisecond)); len(got) != 1 || got[0] != "/f" {
		t.Fatalf("due at window end = %v, want [/f]", got)
	}
	// A chmod after the write's window is handled at once.
	d.due(t0.Add(30 * time.Millisecond))
	if !d.event("/f", t0.Add(40*time.Millisecond), false) {
		t.Fatal("a chmod was not handled at once")
	}
}

// A close after a write is handled by the caller at once: the pending
// window is no longer pending, and events of the same write that arrive
// after it fold into its window rather than trigger another read at once.
func TestDebouncerClosedWriteEndsTheWait(t *testing.T) {
	d := newDebouncer(10 * time.Millisecond)
	t0 := time.Unix(1000, 0)
	d.event("/f", t0, true)
	d.closed("/f", t0.Add(time.Millisecond))
	if got := d.due(t0.Add(10 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("a path handled at its close was handled again when its window closed: %v", got)
	}
	if d.len() != 0 {
		t.Fatalf("%d windows open after the window closed", d.len())
	}
	// A close before any event (the write's event comes late, from the
	// other inotify instance): the late event only marks the window.
	d.closed("/g", t0.Add(20*time.Millisecond))
	if d.event("/g", t0.Add(21*time.Millisecond), true) {
		t.Fatal("an event inside the close's window was handled at once")
	}
	if got := d.due(t0.Add(30 * time.Millisecond)); len(got) != 1 || got[0] != "/g" {
		t.Fatalf("due = %v, want [/g]: a later write must not be lost", got)
	}
	// No window: the close is handled and nothing is kept.
	z := newDebouncer(0)
	z.closed("/h", t0)
	if z.len() != 0 {
		t.Fatalf("a zero window kept %d windows", z.len())
	}
}
