package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	plumbv1 "github.com/plumb-dev/plumb/proto/plumb/v1"

	"github.com/plumb-dev/plumb/pkg/fact"
)

var update = flag.Bool("update", false, "rewrite cmp golden sections of testdata/script/*.txtar")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"plumbctl": func() { os.Exit(realMain()) },
	})
}

// fakeValue and stopValue key a script's fake collector and the function
// that stops it in testscript's Env.Values.
type (
	fakeValue struct{}
	stopValue struct{}
)

// TestScripts runs testdata/script/*.txtar. Each script gets its own fake
// collector, reachable at $FAKE_COLLECTOR (its SilenceService is the real
// one, on a temporary store, its clock at the fake's base time, every
// call made by the token named ops-token), and these commands:
//
//	status N cmd args...   run cmd; its exit status must be N
//	fake lastaccept        print the last AcceptDrift request as received
//	fake lastlist          print the last ListHosts, ListFacts or ListDrift
//	                       request's filters as received
//	fake watchers N        wait until N watch streams are open
//	fake push TYPE HOST KIND KEY CHANGE
//	                       send a drift event (KEY in display form)
//	fake advance DURATION  move the silence service's clock
//	fake endwatch          end every watch stream cleanly
//	fake stop              stop the server at once, dropping streams
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			f, addr, stop, err := serveFake()
			if err != nil {
				return err
			}
			env.Defer(stop)
			env.Setenv("FAKE_COLLECTOR", addr)
			env.Values[fakeValue{}] = f
			env.Values[stopValue{}] = stop
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"status": cmdStatus,
			"fake":   cmdFake,
		},
	})
}

func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N cmd [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

func cmdFake(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: fake lastaccept|watchers|push|endwatch|stop ...")
	}
	f := ts.Value(fakeValue{}).(*fakeCollector)
	switch args[0] {
	case "lastaccept":
		req := f.lastAccept()
		if req == nil {
			ts.Fatalf("no AcceptDrift request received")
		}
		fmt.Fprintf(ts.Stdout(), "host=%s kind=%s key_hex=%x key=%q by=%s reason=%q\n",
			req.GetHostId(), fact.KindName(req.GetKind()), req.GetKey(), req.GetKey(),
			req.GetAcceptedBy(), req.GetReason())
	case "lastlist":
		f.mu.Lock()
		last := f.lastList
		f.mu.Unlock()
		if last == "" {
			ts.Fatalf("no list request received")
		}
		fmt.Fprintln(ts.Stdout(), last)
	case "watchers":
		if len(args) != 2 {
			ts.Fatalf("usage: fake watchers N")
		}
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		ts.Check(f.waitWatchers(n, 10*time.Second))
	case "push":
		if len(args) != 6 {
			ts.Fatalf("usage: fake push TYPE HOST KIND KEY CHANGE")
		}
		typ, ok := plumbv1.DriftEventType_value["DRIFT_EVENT_TYPE_"+strings.ToUpper(args[1])]
		if !ok {
			ts.Fatalf("unknown event type %q", args[1])
		}
		kind, err := fact.ParseKind(args[3])
		ts.Check(err)
		key, err := fact.ParseDisplay(args[4])
		ts.Check(err)
		change, ok := plumbv1.DriftChange_value["DRIFT_CHANGE_"+strings.ToUpper(args[5])]
		if !ok {
			ts.Fatalf("unknown change %q", args[5])
		}
		f.push(plumbv1.DriftEventType(typ), args[2], kind, key, plumbv1.DriftChange(change))
	case "advance":
		if len(args) != 2 {
			ts.Fatalf("usage: fake advance DURATION")
		}
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		f.silenceClock.advance(d)
	case "endwatch":
		f.endWatches()
	case "stop":
		ts.Value(stopValue{}).(func())()
	default:
		ts.Fatalf("unknown fake command %q", args[0])
	}
}
