package file

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/agent/source"
)

func TestRegistered(t *testing.T) {
	found := false
	for _, n := range source.Names() {
		found = found || n == "file"
	}
	if !found || !source.DefaultEnabled("file") {
		t.Fatalf("file source not registered as enabled by default: %v", source.Names())
	}
}

func TestOptionsDefaults(t *testing.T) {
	s, err := newSource(nil, source.Options{HostRoot: "/"})
	if err != nil {
		t.Fatal(err)
	}
	want := settings{
		roots:        []string{"/etc"},
		debounce:     4 * time.Millisecond,
		workers:      runtime.GOMAXPROCS(0),
		pollInterval: 60 * time.Second,
	}
	if !equalStrings(s.set.roots, want.roots) || s.set.debounce != want.debounce ||
		s.set.workers != want.workers || s.set.pollInterval != want.pollInterval || s.set.hostRoot != "" {
		t.Errorf("defaults = %+v, want %+v", s.set, want)
	}
}

func TestOptionsDecode(t *testing.T) {
	s, err := newSource(nil, source.Options{HostRoot: "/host/", Raw: map[string]any{
		"paths":         []any{"/etc/", "/srv//app"},
		"exclude":       []any{"/etc/**/*.swp"},
		"debounce":      "25ms",
		"workers":       "3",
		"poll_interval": "2m",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/host/etc", "/host/srv/app"}; !equalStrings(s.set.roots, want) {
		t.Errorf("roots = %q, want %q", s.set.roots, want)
	}
	if s.set.debounce != 25*time.Millisecond || s.set.workers != 3 || s.set.pollInterval != 2*time.Minute {
		t.Errorf("settings = %+v", s.set)
	}
	for p, want := range map[string]string{"/host/etc/x": "/etc/x", "/host": "/"} {
		if got := s.set.key(p); got != want {
			t.Errorf("key(%q) = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]bool{"/host/etc/a/b.swp": true, "/host/etc/b.swp": true, "/host/etc/b.swpx": false} {
		if got := s.set.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hostRoot string
		raw      map[string]any
		want     string
	}{
		{"relative path", "", map[string]any{"paths": []any{"etc"}}, `"etc" is not absolute`},
		{"empty list", "", map[string]any{"paths": []any{}}, "paths: empty"},
		{"empty path", "", map[string]any{"paths": []any{""}}, "empty path"},
		{"nested", "", map[string]any{"paths": []any{"/etc", "/etc/ssh"}}, `"/etc/ssh" is inside "/etc"`},
		{"nested reversed", "", map[string]any{"paths": []any{"/etc/ssh/", "/etc"}}, `"/etc/ssh" is inside "/etc"`},
		{"root and more", "", map[string]any{"paths": []any{"/", "/etc"}}, `"/etc" is inside "/"`},
		{"duplicate", "", map[string]any{"paths": []any{"/etc", "/etc/"}}, "listed twice"},
		{"bad glob", "", map[string]any{"exclude": []any{"/etc/[x"}}, "not a valid glob"},
		{"negative debounce", "", map[string]any{"debounce": "-1s"}, "negative"},
		{"no workers", "", map[string]any{"workers": 0}, "workers: 0"},
		{"zero poll", "", map[string]any{"poll_interval": "0s"}, "poll_interval"},
		{"bad duration", "", map[string]any{"debounce": "soon"}, "debounce"},
		{"unknown key", "", map[string]any{"path": []any{"/etc"}}, "path"},
		{"relative host root", "host", nil, "host root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(nil, source.Options{HostRoot: tc.hostRoot, Raw: tc.raw})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/etc/x", "/etc", true},
		{"/etc", "/etc", false},
		{"/etcx", "/etc", false},
		{"/etc", "/", true},
		{"/", "/", false},
	} {
		if got := within(tc.p, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v", tc.p, tc.dir, got)
		}
	}
}
