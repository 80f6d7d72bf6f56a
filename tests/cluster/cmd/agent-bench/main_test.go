package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		smoke   bool
		wantErr string
		wantN   int
	}{
		{args: []string{"footprint", "1000"}, wantN: 1000},
		{args: []string{"footprint", "1000"}, smoke: true, wantN: 20},
		{args: []string{"restart", "20"}, smoke: true, wantN: 2},
		{args: []string{"health", "5"}, smoke: true, wantN: 5},
		{args: []string{"footprint"}, wantErr: "want a mode and a count"},
		{args: []string{"allocate", "10"}, wantErr: `unknown mode "allocate"`},
		{args: []string{"health", "0"}, wantErr: "want a number from 1 to 100000"},
		{args: []string{"health", "x"}, wantErr: "want a number from 1 to 100000"},
	} {
		c := config{agentBin: bin, sampleBin: bin, smoke: tc.smoke}
		err := c.parseArgs(tc.args)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one with %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.wantErr == "" && c.n != tc.wantN:
			t.Errorf("%v (smoke %v): n = %d, want %d", tc.args, tc.smoke, c.n, tc.wantN)
		}
	}
	c := config{sampleBin: bin}
	if err := c.parseArgs([]string{"health", "1"}); err == nil || !strings.Contains(err.Error(), "--agent") {
		t.Errorf("no agent binary: %v, want an error naming --agent", err)
	}
	c = config{agentBin: bin, sampleBin: bin + ".missing"}
	if err := c.parseArgs([]string{"health", "1"}); err == nil {
		t.Error("a missing sample plugin binary is not an error")
	}
}
