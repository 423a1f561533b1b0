package file

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The pump keeps taking fsnotify's events and errors while nobody reads
// its own channels: fsnotify sends some errors holding a lock the source
// needs to remove a watch, so a source busy removing one must not be what
// fsnotify waits for. Past its bound it reports an overflow, as the
// kernel does, and what it kept comes out in order.
func TestPumpNeverBlocksFsnotify(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan fsnotify.Event)
	inErr := make(chan error)
	events, errs := pump(ctx, in, inErr)

	sent := make(chan struct{})
	go func() {
		defer close(sent)
		inErr <- errors.New("invalid argument") // as after IN_MOVE_SELF
		for i := range maxPumped + 10 {
			in <- fsnotify.Event{Name: fmt.Sprint(i)}
		}
		inErr <- errors.New("after")
	}()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("fsnotify's sends blocked while the source was not reading")
	}
	var got []string
	for range 3 {
		got = append(got, (<-errs).Error())
	}
	if got[0] != "invalid argument" || got[1] != fsnotify.ErrEventOverflow.Error() || got[2] != "after" {
		t.Errorf("errors %q, want the first, an overflow, the last", got)
	}
	for i := maxPumped; i < maxPumped+10; i++ {
		if ev := <-events; ev.Name != fmt.Sprint(i) {
			t.Fatalf("event %q after the overflow, want %d", ev.Name, i)
		}
	}
	close(in)
	close(inErr)
	if _, ok := <-events; ok {
		t.Error("events still open after fsnotify closed its channels")
	}
}
