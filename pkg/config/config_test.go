package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

type testConfig struct {
	Name   string            `koanf:"name"`
	Count  int               `koanf:"count"`
	Wait   time.Duration     `koanf:"wait"`
	Labels map[string]string `koanf:"labels"`
	Nested struct {
		Paths []string `koanf:"paths"`
	} `koanf:"nested"`
}

func defaults() *testConfig {
	return &testConfig{Name: "default", Count: 1, Wait: time.Second}
}

func flags(c *testConfig, args ...string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringVar(&c.Name, "name", c.Name, "")
	fs.IntVar(&c.Count, "count", c.Count, "")
	fs.StringSliceVar(&c.Nested.Paths, "path", c.Nested.Paths, "")
	if err := fs.Parse(args); err != nil {
		panic(err)
	}
	return fs
}

var keys = map[string]string{"name": "name", "count": "count", "path": "nested" + Delim + "paths"}

func TestDefaultsFileThenFlags(t *testing.T) {
	c := defaults()
	fs := flags(c, "--count", "7")
	if err := Load(c, "testdata/good.yaml", fs, keys); err != nil {
		t.Fatal(err)
	}
	want := &testConfig{Name: "from-file", Count: 7, Wait: 250 * time.Millisecond,
		Labels: map[string]string{"app.kubernetes.io/name": "web"}}
	want.Nested.Paths = []string{"/etc", "/srv"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
}

func TestDefaultsSurviveWithoutFile(t *testing.T) {
	c := defaults()
	if err := Load(c, "", flags(c), keys); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaults(), c); diff != "" {
		t.Fatalf("defaults changed (-want +got):\n%s", diff)
	}
}

func TestNestedKeyFromFlag(t *testing.T) {
	c := defaults()
	if err := Load(c, "testdata/good.yaml", flags(c, "--path", "/opt"), keys); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/opt"}, c.Nested.Paths); diff != "" {
		t.Fatalf("flag did not override nested key:\n%s", diff)
	}
}

func TestBadFiles(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/unknown-key.yaml": "colour",
		"testdata/bad-type.yaml":    "count",
		"testdata/bad-syntax.yaml":  "bad-syntax.yaml",
		"testdata/missing.yaml":     "missing.yaml",
	} {
		c := defaults()
		err := Load(c, file, flags(c), keys)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v, want an error naming %q", file, err, want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	if _, err := NewLogger(nil, "loud", "text"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(nil, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
	if _, err := NewLogger(nil, "debug", "json"); err != nil {
		t.Error(err)
	}
}
