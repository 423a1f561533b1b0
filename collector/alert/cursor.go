package alert

import (
	"context"
	"errors"
	"fmt"
	"strings"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/collector/store"
)

// Each notifier keeps two entries among the store's cursors:
//
//	notifier/<name>             Seq of the last event it has finished
//	notifier/<name>/registered  a flag: the notifier has been seen before
//
// The flag exists because Cursor returns 0 both for "never seen" and for
// "seen while the log was empty, nothing finished yet"; only a notifier
// that is really new may start at the head of the log. Its value is the
// largest seq so that it never holds back pruning, which keeps every event
// above the lowest cursor. Names hold no '/', so entries of different
// notifiers never collide. Both entries of a notifier that is no longer
// configured are deleted when the Dispatcher starts (forgetRemoved).
func cursorName(notifier string) string { return cursorPrefix + notifier }

func registeredName(notifier string) string { return cursorPrefix + notifier + registeredSuffix }

// windowName holds, for a grouping notifier, the close time (unix ns) of
// the last window it delivered, committed with its cursor.
func windowName(notifier string) string { return cursorPrefix + notifier + windowSuffix }

const (
	cursorPrefix     = "notifier/"
	registeredSuffix = "/registered"
	windowSuffix     = "/window"
)

// notifierOf returns the notifier that owns the cursor entry name, or ""
// for an entry that is not a notifier's.
func notifierOf(name string) string {
	n, ok := strings.CutPrefix(name, cursorPrefix)
	if !ok {
		return ""
	}
	n = strings.TrimSuffix(strings.TrimSuffix(n, registeredSuffix), windowSuffix)
	if strings.Contains(n, "/") {
		return ""
	}
	return n
}

const registeredFlag = ^uint64(0)

// startCursor returns where the notifier resumes. A notifier seen before
// resumes at its stored cursor, however far behind the log it is: those
// events were committed while it was configured and on-call must get them.
// A notifier never seen before starts at the newest event: adding a
// webhook must not replay the collector's whole history into it. The
// cursor and the flag are written in the same transaction as the check,
// so a restart right after cannot skip the events appended in between.
//
// guard runs first in each transaction that writes the notifier's cursors
// (the lease check); its error aborts the transaction.
func startCursor(ctx context.Context, st store.Store, notifier string, guard func(store.Tx) error) (cursor uint64, windowEnd int64, added bool, err error) {
	err = st.Update(ctx, func(tx store.Tx) error {
		if err := guard(tx); err != nil {
			return err
		}
		flag, err := tx.Cursor(registeredName(notifier))
		if err != nil {
			return fmt.Errorf("read cursor %s: %w", registeredName(notifier), err)
		}
		if flag != 0 {
			cursor, err = tx.Cursor(cursorName(notifier))
			if err != nil {
				return fmt.Errorf("read cursor %s: %w", cursorName(notifier), err)
			}
			end, err := tx.Cursor(windowName(notifier))
			if err != nil {
				return fmt.Errorf("read cursor %s: %w", windowName(notifier), err)
			}
			windowEnd, added = int64(min(end, 1<<63-1)), false
			return nil
		}
		last, err := tx.LastEventSeq()
		if err != nil {
			return fmt.Errorf("read last event seq: %w", err)
		}
		if err := tx.SetCursor(cursorName(notifier), last); err != nil {
			return fmt.Errorf("set cursor %s: %w", cursorName(notifier), err)
		}
		if err := tx.SetCursor(registeredName(notifier), registeredFlag); err != nil {
			return fmt.Errorf("set cursor %s: %w", registeredName(notifier), err)
		}
		cursor, added = last, true
		return nil
	})
	return cursor, windowEnd, added, err
}

// removedNotifier is a notifier whose cursor entries forgetRemoved deleted.
type removedNotifier struct {
	name    string
	cursor  uint64
	pending uint64 // events after its cursor it will never get
}

// forgetRemoved deletes the cursor entries of every notifier not in
// configured. A removed notifier's cursor would otherwise hold back pruning
// forever, since Prune keeps every event some cursor has not passed. Its
// registered flag goes too: added back later, the notifier is new again and
// starts at the newest event instead of replaying what happened while it
// was gone. Entries that are not a notifier's are left alone.
//
// A notifier whose lease another collector holds is still configured
// there (collectors sharing a database mid-way through a configuration
// change): its entries stay.
func forgetRemoved(ctx context.Context, st store.Store, configured map[string]bool, instance string, now int64) (removed []removedNotifier, err error) {
	err = st.Update(ctx, func(tx store.Tx) error {
		removed = nil
		last, err := tx.LastEventSeq()
		if err != nil {
			return fmt.Errorf("read last event seq: %w", err)
		}
		leased, err := leasedElsewhere(tx, instance, now, configured)
		if err != nil {
			return err
		}
		// Collect first: Cursors' callback must not write.
		var entries []string
		index := map[string]int{} // notifier name -> its place in removed
		err = tx.Cursors(func(entry string, seq uint64) error {
			n := notifierOf(entry)
			if n == "" || configured[n] || leased[n] {
				return nil
			}
			entries = append(entries, entry)
			i, ok := index[n]
			if !ok {
				i = len(removed)
				index[n] = i
				removed = append(removed, removedNotifier{name: n})
			}
			if entry == cursorName(n) {
				removed[i].cursor = seq
				removed[i].pending = last - min(seq, last)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("list cursors: %w", err)
		}
		for _, entry := range entries {
			if err := tx.DeleteCursor(entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// readEvents returns up to limit events after cursor, and the newest seq.
func readEvents(ctx context.Context, st store.Store, cursor uint64, limit int) (events []*plumbv1.DriftEvent, last uint64, err error) {
	err = st.View(ctx, func(tx store.ReadTx) error {
		if last, err = tx.LastEventSeq(); err != nil {
			return fmt.Errorf("read last event seq: %w", err)
		}
		if last <= cursor {
			return nil
		}
		if events, err = tx.EventsAfter(cursor, limit); err != nil {
			return fmt.Errorf("read events after %d: %w", cursor, err)
		}
		return nil
	})
	return events, last, err
}

// saveCursor records that the notifier has finished every event <= seq
// and, for a grouping notifier (windowEnd > 0), the close time of the last
// window it delivered, in one transaction.
func saveCursor(ctx context.Context, st store.Store, notifier string, seq uint64, windowEnd int64, guard func(store.Tx) error) error {
	return st.Update(ctx, func(tx store.Tx) error {
		if err := guard(tx); err != nil {
			return err
		}
		if err := tx.SetCursor(cursorName(notifier), seq); err != nil {
			return fmt.Errorf("set cursor %s: %w", cursorName(notifier), err)
		}
		if windowEnd > 0 {
			if err := tx.SetCursor(windowName(notifier), uint64(windowEnd)); err != nil {
				return fmt.Errorf("set cursor %s: %w", windowName(notifier), err)
			}
		}
		return nil
	})
}

// leasedElsewhere returns the notifiers, other than configured ones, whose
// lease a collector other than instance holds unexpired at now.
func leasedElsewhere(tx store.ReadTx, instance string, now int64, configured map[string]bool) (map[string]bool, error) {
	var names []string
	err := tx.Cursors(func(entry string, _ uint64) error {
		if n := notifierOf(entry); n != "" && !configured[n] && entry == cursorName(n) {
			names = append(names, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cursors: %w", err)
	}
	leased := map[string]bool{}
	for _, n := range names {
		l, err := tx.Lease(leaseName(n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("read lease %s: %w", leaseName(n), err)
		}
		leased[n] = l.Holder != instance && l.Until > now
	}
	return leased, nil
}
