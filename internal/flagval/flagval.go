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
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

// Bind splits SRC[:DST] (DST defaults to SRC) at the first colon that is
// not escaped. A path may hold any byte but NUL: a colon in it is written
// `\:` and a backslash `\\` (EscapePath does it); a backslash before
// anything else stands for itself.
func Bind(flag, val string) (sandbox.Mount, error) {
	src, dst, colons := splitEscaped(val)
	if colons == 0 {
		dst = src
	}
	if src == "" || dst == "" || colons > 1 {
		return sandbox.Mount{}, fmt.Errorf("--%s %q: want SRC[:DST] (write a colon in a path as \\:)", flag, val)
	}
	return sandbox.Mount{Type: flag, Source: src, Dest: dst}, nil
}

// EscapePath writes p so that Bind reads it back as one path.
func EscapePath(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(p)
}

// splitEscaped unescapes val up to its first unescaped colon, and the rest
// after it, and counts the unescaped colons (a second one is kept free for
// mount options).
func splitEscaped(val string) (before, after string, colons int) {
	var parts [2]strings.Builder
	i := 0
	for k := 0; k < len(val); k++ {
		c := val[k]
		switch {
		case c == '\\' && k+1 < len(val) && (val[k+1] == '\\' || val[k+1] == ':'):
			k++
			parts[i].WriteByte(val[k])
		case c == ':':
			colons++
			i = 1
		default:
			parts[i].WriteByte(c)
		}
	}
	return parts[0].String(), parts[1].String(), colons
}

// Duration reads a wall or CPU time: a bare number is seconds, as for
// timeout(1) ("10", "1.5"); otherwise a Go duration ("500ms", "2m").
// "0" means no limit.
func Duration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if v, err := strconv.ParseFloat(t, 64); err == nil {
		if !(v >= 0) || v > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%q is not a duration (e.g. 10, 1.5, 500ms, 2m)", s)
		}
		d := time.Duration(v * float64(time.Second))
		if v > 0 && d == 0 {
			// It would round to 0, which means "no limit".
			return 0, fmt.Errorf("%q is not a duration (e.g. 10, 1.5, 500ms, 2m)", s)
		}
		return d, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 10, 1.5, 500ms, 2m)", s)
	}
	return d, nil
}

// Tmpfs reads the value of --tmpfs: DST, or DST:size=SIZE to set the
// tmpfs's cap (SIZE as Size reads it). Without a size the box's default cap
// applies (sandbox.DefaultTmpfsSize). A colon in DST is escaped as in Bind.
func Tmpfs(val string) (sandbox.Mount, error) {
	dst, opt, colons := splitEscaped(val)
	hasOpt := colons > 0
	if dst == "" || colons > 1 {
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
