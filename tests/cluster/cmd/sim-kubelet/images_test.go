package main

import (
	"slices"
	"testing"
)

func TestEscapeImage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hashfoundry/devicepool-agent:bad-exit", "hashfoundry_devicepool-agent_bad-exit"},
		{"registry.example.com:5000/hf/agent:v2", "registry.example.com_5000_hf_agent_v2"},
		{"hf/agent@sha256:0123abcd", "hf_agent_sha256_0123abcd"},
		{"busybox", "busybox"},
	} {
		if got := escapeImage(tc.in); got != tc.want {
			t.Errorf("escapeImage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestImageBinary(t *testing.T) {
	const dir = "/images"
	executables := map[string]bool{
		"/images/devicepool-agent": true,
		"/images/by-image/hashfoundry_devicepool-agent_bad-exit/devicepool-agent": true,
		"/images/by-image/hashfoundry_devicepool-agent_v2/devicepool-agent":       true,
		"/images/by-image/hf_other_v1/other":                                      true,
		"/devicepool-agent":                                                       true,
	}
	isExecutable := func(p string) bool { return executables[p] }
	for _, tc := range []struct {
		name, image, command string
		want                 string
		tried                []string
	}{
		{"the image's own executable", "hashfoundry/devicepool-agent:bad-exit", "/usr/bin/devicepool-agent",
			"/images/by-image/hashfoundry_devicepool-agent_bad-exit/devicepool-agent", nil},
		{"another image's own", "hashfoundry/devicepool-agent:v2", "/usr/bin/devicepool-agent",
			"/images/by-image/hashfoundry_devicepool-agent_v2/devicepool-agent", nil},
		{"an image without its own falls back to DIR/NAME", "hashfoundry/devicepool-agent:v1", "/usr/bin/devicepool-agent",
			"/images/devicepool-agent", nil},
		{"the command's base name decides, not its directory", "hashfoundry/devicepool-agent:v2", "devicepool-agent",
			"/images/by-image/hashfoundry_devicepool-agent_v2/devicepool-agent", nil},
		{"no image", "", "/usr/bin/devicepool-agent", "/images/devicepool-agent", nil},
		{"an image that would escape by-image/", "..", "/usr/bin/devicepool-agent", "/images/devicepool-agent", nil},
		{"neither exists", "hf/other:v2", "/bin/other", "",
			[]string{"/images/by-image/hf_other_v2/other", "/images/other"}},
		{"the image has it but under another name", "hf/other:v1", "/bin/devicepool-agent", "/images/devicepool-agent", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, tried := imageBinary(dir, tc.image, tc.command, isExecutable)
			if got != tc.want || !slices.Equal(tried, tc.tried) {
				t.Errorf("imageBinary(%q, %q) = %q, tried %q; want %q, tried %q", tc.image, tc.command, got, tried, tc.want, tc.tried)
			}
		})
	}
}
