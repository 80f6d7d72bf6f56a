package main

import (
	"os"
	"path/filepath"
	"strings"
)

// byImageDir is the directory of --image-bin-dir that gives an image its own
// executables: by-image/<escaped image>/NAME. Tests put a build of a program
// under one image name (e.g. a broken agent as hashfoundry/devicepool-agent:bad)
// while every other image keeps running DIR/NAME.
const byImageDir = "by-image"

var imageEscaper = strings.NewReplacer("/", "_", ":", "_", "@", "_")

// escapeImage is an image reference as one path element: every '/', ':'
// and '@' becomes '_' ("hashfoundry/devicepool-agent:v2" ->
// "hashfoundry_devicepool-agent_v2").
func escapeImage(image string) string { return imageEscaper.Replace(image) }

// imageBinary is the host executable that a container of `image` whose
// command is `command` runs: binDir/by-image/<escaped image>/<base of
// command> if that is an executable, else binDir/<base of command>. It
// returns the paths it tried, in order, when neither is executable.
// isExecutable is injected so the choice is a pure function.
func imageBinary(binDir, image, command string, isExecutable func(path string) bool) (string, []string) {
	name := filepath.Base(command)
	var tried []string
	// An image that escapes to "." or ".." would leave by-image/.
	if dir := escapeImage(image); dir != "" && dir != "." && dir != ".." {
		own := filepath.Join(binDir, byImageDir, dir, name)
		if isExecutable(own) {
			return own, nil
		}
		tried = append(tried, own)
	}
	shared := filepath.Join(binDir, name)
	if isExecutable(shared) {
		return shared, nil
	}
	return "", append(tried, shared)
}

// isExecutableFile: a file (after symlinks) with an execute bit.
func isExecutableFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
