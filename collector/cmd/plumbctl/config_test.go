package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoadOptions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("full.yaml", "collector: file:1\ninsecure: true\noutput: json\ntimeout: 3s\n")
	defaults := options{Collector: "127.0.0.1:7700", Output: "table", Timeout: 10 * time.Second}

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "defaults", want: defaults},
		{
			name: "file",
			args: []string{"--config", full},
			want: options{Collector: "file:1", Insecure: true, Output: "json", Timeout: 3 * time.Second},
		},
		{
			name: "env beats file",
			args: []string{"--config", full},
			env:  map[string]string{envCollector: "env:1"},
			want: options{Collector: "env:1", Insecure: true, Output: "json", Timeout: 3 * time.Second},
		},
		{
			name: "flags beat env and file",
			args: []string{"--config", full, "--collector", "flag:1", "-o", "table", "--timeout", "1m"},
			env:  map[string]string{envCollector: "env:1"},
			want: options{Collector: "flag:1", Insecure: true, Output: "table", Timeout: time.Minute},
		},
		{
			name: "env without file",
			env:  map[string]string{envCollector: "env:1"},
			want: options{Collector: "env:1", Output: "table", Timeout: 10 * time.Second},
		},
		{
			name:    "unknown key",
			args:    []string{"--config", write("typo.yaml", "output: json\ntimout: 3s\n")},
			wantErr: `unknown key "timout"`,
		},
		{
			name:    "nested value",
			args:    []string{"--config", write("nested.yaml", "collector:\n  host: a\n")},
			wantErr: "collector",
		},
		{
			name:    "bare number timeout",
			args:    []string{"--config", write("num.yaml", "timeout: 5\n")},
			wantErr: "timeout 5ns: too short",
		},
		{
			name:    "bad output",
			args:    []string{"-o", "xml"},
			wantErr: `output "xml": want table or json`,
		},
		{
			name:    "not yaml",
			args:    []string{"--config", write("bad.yaml", "collector: [\n")},
			wantErr: "bad.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var configFile string
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addGlobalFlags(fs, &configFile)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			got, err := loadOptions(fs, configFile, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.CAFile == "" {
				tt.want.CAFile = defaultCAFile
			}
			if tt.want.TokenFile == "" {
				tt.want.TokenFile = defaultTokenFile
			}
			if got != tt.want {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
}
