package sandbox

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tick := time.Second / userHZ
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime ...
	for _, tc := range []struct {
		stat       string
		ppid       int
		user, sys  time.Duration
		shouldFail bool
	}{
		{"42 (sh) S 7 42 42 0 -1 4194560 100 0 0 0 10 5 3 2 20 0 1 0 99 0", 7, 13 * tick, 7 * tick, false},
		// A command name with spaces and a ")" cannot shift the fields.
		{"43 (a b) c) R 1 43 43 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 99 0", 1, 4 * tick, 6 * tick, false},
		{"44 (x) S 1 2", 0, 0, 0, true},
		{"no name at all", 0, 0, 0, true},
		{"45 (x) S one 45 45 0 -1 0 0 0 0 0 1 2 3 4 20", 0, 0, 0, true},
	} {
		st, err := parseStat(tc.stat)
		ppid, user, sys := st.ppid, st.own.user+st.children.user, st.own.sys+st.children.sys
		if (err != nil) != tc.shouldFail {
			t.Errorf("%q: error %v, want failure %v", tc.stat, err, tc.shouldFail)
			continue
		}
		if err == nil && (ppid != tc.ppid || user != tc.user || sys != tc.sys || st.start != 99) {
			t.Errorf("%q: ppid %d user %v sys %v; want %d %v %v", tc.stat, ppid, user, sys, tc.ppid, tc.user, tc.sys)
		}
	}
}
