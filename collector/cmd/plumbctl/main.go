// Command plumbctl is the operator's command line for a Plumb collector. It
// speaks only to the collector's gRPC QueryService: it lists hosts, facts
// and drift, watches drift as it happens and accepts drift with a reason.
// It prints tables for people and JSON (-o json) for scripts; keys are
// always shown in fact.Display form, which `accept --key` parses back.
// Text from the collector or an agent (host ids, reasons, OS strings,
// error messages) is escaped by pkg/termsafe before it is printed, so it
// cannot drive the terminal or forge table rows; JSON output escapes DEL,
// C1 controls and bidi and invisible runes as \uNNNN.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(realMain())
}

// realMain runs plumbctl on the process's arguments until it finishes or
// SIGINT/SIGTERM cancels it.
func realMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}
