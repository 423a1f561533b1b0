package pprofserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.2:0", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"[::]:6060", false},
		{"10.0.0.1:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
	} {
		if err := CheckAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

// TestServe fetches a heap profile and the index from a real listener,
// and checks that Serve returns once its context ends.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, slog.New(slog.DiscardHandler)) }()

	get := func(path string) (int, string, error) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	deadline := time.Now().Add(20 * time.Second)
	var code int
	var body string
	for {
		code, body, err = get("/debug/pprof/")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || code != http.StatusOK || !strings.Contains(body, "heap") {
		t.Fatalf("index: %d %v %.200q", code, err, body)
	}
	code, body, err = get("/debug/pprof/heap?debug=1")
	if err != nil || code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Fatalf("heap: %d %v %.200q", code, err, body)
	}
	if code, _, _ := get("/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the pprof listener: %d, want 404", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	if err := Serve(context.Background(), "0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Serve on 0.0.0.0 succeeded")
	}
}
