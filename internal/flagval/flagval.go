// Package flagval parses the values of the CLI's flags (sizes, resource
// limits, bind specs), apart from any I/O, so they can be table-tested and
// fuzzed.
package flagval

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Bind splits SRC[:DST] (DST defaults to SRC).
func Bind(flag, val string) (sandbox.Mount, error) {
	src, dst, ok := strings.Cut(val, ":")
	if !ok {
		dst = src
	}
	if src == "" || dst == "" {
		return sandbox.Mount{}, fmt.Errorf("--%s %q: want SRC[:DST]", flag, val)
	}
	return sandbox.Mount{Type: flag, Source: src, Dest: dst}, nil
}

// Tmpfs reads the value of --tmpfs: DST, or DST:size=SIZE to set the
// tmpfs's cap (SIZE as Size reads it). Without a size the box's default cap
// applies (sandbox.DefaultTmpfsSize).
func Tmpfs(val string) (sandbox.Mount, error) {
	dst, opt, hasOpt := strings.Cut(val, ":")
	if dst == "" {
		return sandbox.Mount{}, fmt.Errorf("--tmpfs %q: want DST[:size=SIZE]", val)
	}
	m := sandbox.Mount{Type: "tmpfs", Dest: dst}
	if !hasOpt {
		return m, nil
	}
	v, ok := strings.CutPrefix(opt, "size=")
	if !ok {
		return m, fmt.Errorf("--tmpfs %q: the only option is size=SIZE (e.g. %s:size=1G)", val, dst)
	}
	n, err := Size(v)
	if err != nil {
		return m, fmt.Errorf("--tmpfs %q: %w", val, err)
	}
	m.Size = n
	return m, nil
}

// Size reads 1024, 64K, 256M, 2G (powers of 1024; a trailing B or iB is
// allowed).
func Size(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (e.g. 512K, 64M, 2G)", s)
	}
	n := int64(v * float64(mult))
	if n < 1 {
		// 0.1 would round to 0, which means "no limit": refuse it.
		return 0, fmt.Errorf("%q is not a size (e.g. 512K, 64M, 2G)", s)
	}
	return n, nil
}

// Rlimit reads NAME=N, NAME=SOFT:HARD or NAME=unlimited.
func Rlimit(s string) (sandbox.Rlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return sandbox.Rlimit{}, errors.New("want NAME=VALUE")
	}
	num := func(v string) (uint64, error) {
		if v == "unlimited" || v == "infinity" {
			return math.MaxUint64, nil
		}
		return strconv.ParseUint(v, 10, 64)
	}
	soft, hard, two := strings.Cut(val, ":")
	r := sandbox.Rlimit{Name: strings.ToLower(name)}
	var err error
	if r.Soft, err = num(soft); err != nil {
		return r, fmt.Errorf("%q is not a number or unlimited", soft)
	}
	r.Hard = r.Soft
	if two {
		if r.Hard, err = num(hard); err != nil {
			return r, fmt.Errorf("%q is not a number or unlimited", hard)
		}
	}
	return r, nil
}
