package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteLogs(t *testing.T) {
	ptr := func(n int64) *int64 { return &n }
	exited := make(chan struct{})
	close(exited)
	for _, tc := range []struct {
		name, content string
		opts          v1.PodLogOptions
		want          string
	}{
		{"all", "a\nb\nc\n", v1.PodLogOptions{}, "a\nb\nc\n"},
		{"tail 2", "a\nb\nc\n", v1.PodLogOptions{TailLines: ptr(2)}, "b\nc\n"},
		{"tail 2, last line unterminated", "a\nb\nc", v1.PodLogOptions{TailLines: ptr(2)}, "b\nc"},
		{"tail more than there is", "a\nb\n", v1.PodLogOptions{TailLines: ptr(10)}, "a\nb\n"},
		{"tail 0", "a\nb\n", v1.PodLogOptions{TailLines: ptr(0)}, ""},
		{"limit bytes", "hello\nworld\n", v1.PodLogOptions{LimitBytes: ptr(8)}, "hello\nwo"},
		{"tail then limit", "a\nbb\ncc\n", v1.PodLogOptions{TailLines: ptr(2), LimitBytes: ptr(4)}, "bb\nc"},
		{"follow an exited instance ends", "x\n", v1.PodLogOptions{Follow: true}, "x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeLogs(context.Background(), writeFile(t, tc.content), &tc.opts, &out, exited); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestWriteLogsTailAcrossBlocks(t *testing.T) {
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	n := int64(1500)
	var out bytes.Buffer
	if err := writeLogs(context.Background(), writeFile(t, b.String()), &v1.PodLogOptions{TailLines: &n}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "line 500\n") || strings.Count(out.String(), "\n") != 1500 {
		t.Errorf("tail 1500 of 2000 lines starts %q and has %d lines", out.String()[:20], strings.Count(out.String(), "\n"))
	}
}

func TestWriteLogsRefusesTimestamps(t *testing.T) {
	err := writeLogs(context.Background(), writeFile(t, "x\n"), &v1.PodLogOptions{Timestamps: true}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "timestamps") {
		t.Errorf("err = %v, want one naming timestamps", err)
	}
}

func TestTerminationMessage(t *testing.T) {
	var longLog strings.Builder
	for i := range 200 {
		fmt.Fprintf(&longLog, "log line %03d of the crashing container\n", i)
	}
	fallback, file := v1.TerminationMessageFallbackToLogsOnError, v1.TerminationMessageReadFile
	for _, tc := range []struct {
		name, msg, log string
		noMsgFile      bool
		policy         v1.TerminationMessagePolicy
		exitCode       int32
		want           string
	}{
		{name: "the file", msg: "boom\n", log: "out\n", policy: file, exitCode: 3, want: "boom\n"},
		{name: "the file, also with fallback", msg: "boom", log: "out\n", policy: fallback, exitCode: 3, want: "boom"},
		{name: "empty file, File policy", log: "out\n", policy: file, exitCode: 3, want: ""},
		{name: "empty file, fallback, failed", log: "one\ntwo\n", policy: fallback, exitCode: 1, want: "one\ntwo\n"},
		{name: "empty file, fallback, succeeded", log: "one\n", policy: fallback, exitCode: 0, want: ""},
		{name: "no file, fallback, failed", noMsgFile: true, log: "one\n", policy: fallback, exitCode: 1, want: "one\n"},
		{name: "the end of a long file", msg: strings.Repeat("x", 5000) + "END", policy: file, exitCode: 1,
			want: strings.Repeat("x", 4093) + "END"},
		{name: "the last 2048 bytes of the last 80 lines", log: longLog.String(), policy: fallback, exitCode: 1,
			want: longLog.String()[len(longLog.String())-2048:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "0.log")
			if err := os.WriteFile(logFile, []byte(tc.log), 0o644); err != nil {
				t.Fatal(err)
			}
			msgFile := filepath.Join(dir, "termination-log")
			if tc.noMsgFile {
				msgFile = ""
			} else if err := os.WriteFile(msgFile, []byte(tc.msg), 0o666); err != nil {
				t.Fatal(err)
			}
			if got := terminationMessage(msgFile, tc.policy, tc.exitCode, logFile); got != tc.want {
				t.Errorf("got %q (%d bytes), want %q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
		})
	}
}

func TestTerminationMessageFallbackTakesTheLast80Lines(t *testing.T) {
	var log strings.Builder
	for i := range 100 {
		fmt.Fprintf(&log, "%d\n", i)
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "0.log")
	if err := os.WriteFile(logFile, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := terminationMessage("", v1.TerminationMessageFallbackToLogsOnError, 2, logFile)
	if !strings.HasPrefix(got, "20\n") || !strings.HasSuffix(got, "99\n") || strings.Count(got, "\n") != 80 {
		t.Errorf("got %q, want lines 20 to 99", got)
	}
}
