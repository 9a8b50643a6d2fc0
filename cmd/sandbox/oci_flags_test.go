package main

import (
	"slices"
	"testing"
)

// Engines pass runc's global flags, and flags of other runtimes; none of
// them may make the command line fail.
func TestParseOCIGlobals(t *testing.T) {
	for _, tc := range []struct {
		args            []string
		root, log, form string
		rest            []string
	}{
		{[]string{"--root", "/r", "state", "x"}, "/r", "", "", []string{"state", "x"}},
		{[]string{"--root=/r", "--log=/l", "--log-format=json", "--systemd-cgroup", "create", "--bundle", "b", "x"},
			"/r", "/l", "json", []string{"create", "--bundle", "b", "x"}},
		{[]string{"--debug", "--cgroup-manager=cgroupfs", "--rootless", "true", "--root", "/r", "kill", "x", "KILL"},
			"/r", "", "", []string{"kill", "x", "KILL"}},
		{[]string{"-root", "/r", "--log", "/l", "--log-format", "text", "delete", "-f", "x"}, "/r", "/l", "text", []string{"delete", "-f", "x"}},
		{[]string{"--root", "/r", "--version"}, "/r", "", "", []string{"--version"}},
	} {
		g, rest, err := parseOCIGlobals(tc.args)
		if err != nil || g.root != tc.root || g.log != tc.log || g.logFormat != tc.form || !slices.Equal(rest, tc.rest) {
			t.Errorf("%q: %+v %q %v", tc.args, g, rest, err)
		}
	}
	if _, _, err := parseOCIGlobals([]string{"--root"}); err == nil {
		t.Error("--root without a value: no error")
	}
	if g, _, _ := parseOCIGlobals([]string{"state", "x"}); g.root == "" {
		t.Error("no default root")
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"TERM": 15, "SIGKILL": 9, "9": 9, "sigusr1": 10, "WINCH": 28} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "BOGUS"} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
