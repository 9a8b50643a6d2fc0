package flagval

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1024": 1024, "1K": 1024, "64M": 64 << 20, "64m": 64 << 20, "2G": 2 << 30,
		"1.5K": 1536, "256MiB": 256 << 20, "10MB": 10 << 20, " 3k ": 3072,
	} {
		if got, err := Size(in); err != nil || got != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1M", "0", "1Q", "K", "NaN", "Inf", "1e400", "9999999999T"} {
		if _, err := Size(bad); err == nil || !strings.Contains(err.Error(), "not a size") {
			t.Errorf("Size(%q): want an error, got %v", bad, err)
		}
	}
}

func TestRlimit(t *testing.T) {
	r, err := Rlimit("nofile=17")
	if err != nil || r.Name != "nofile" || r.Soft != 17 || r.Hard != 17 {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = Rlimit("CORE=0:unlimited")
	if err != nil || r.Name != "core" || r.Soft != 0 || r.Hard != math.MaxUint64 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"nofile", "=5", "nofile=x", "nofile=1:y", "nofile=-1"} {
		if _, err := Rlimit(bad); err == nil {
			t.Errorf("Rlimit(%q): want an error", bad)
		}
	}
}

func TestBind(t *testing.T) {
	m, err := Bind("bind", "/a:/b")
	if err != nil || m.Source != "/a" || m.Dest != "/b" || m.Type != "bind" {
		t.Fatalf("%+v %v", m, err)
	}
	if m, _ := Bind("ro-bind", "/a"); m.Dest != "/a" {
		t.Fatalf("default destination: %+v", m)
	}
	for _, bad := range []string{"", ":/b", "/a:", "/a:/b:/c"} {
		if _, err := Bind("bind", bad); err == nil {
			t.Errorf("Bind(%q): want an error", bad)
		}
	}
	// Commas and colons in paths, taken as written.
	for in, want := range map[string][2]string{
		`/a,b:/x`:        {"/a,b", "/x"},
		`/a\:b:/x\:y`:    {"/a:b", "/x:y"},
		`/a\\:/b`:        {`/a\`, "/b"},
		`/a\b`:           {`/a\b`, `/a\b`},
		`/a\\\::/c,d\:e`: {`/a\:`, "/c,d:e"},
	} {
		m, err := Bind("bind", in)
		if err != nil || m.Source != want[0] || m.Dest != want[1] {
			t.Errorf("Bind(%q) = %q, %q, %v; want %q, %q", in, m.Source, m.Dest, err, want[0], want[1])
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10": 10 * time.Second, "1.5": 1500 * time.Millisecond, "0": 0, "500ms": 500 * time.Millisecond,
		"2m": 2 * time.Minute, " 3 ": 3 * time.Second, "1e-3": time.Millisecond,
	} {
		if got, err := Duration(in); err != nil || got != want {
			t.Errorf("Duration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "-1s", "NaN", "Inf", "1e300", "1e-12", "10 s"} {
		if _, err := Duration(bad); err == nil {
			t.Errorf("Duration(%q): want an error", bad)
		}
	}
}

func TestTmpfs(t *testing.T) {
	for in, want := range map[string]sandbox.Mount{
		"/tmp":               {Type: "tmpfs", Dest: "/tmp"},
		"/tmp:size=2G":       {Type: "tmpfs", Dest: "/tmp", Size: 2 << 30},
		"/dev/shm:size=256M": {Type: "tmpfs", Dest: "/dev/shm", Size: 256 << 20},
		"/w:size=1.5k":       {Type: "tmpfs", Dest: "/w", Size: 1536},
		"rel:size=1K":        {Type: "tmpfs", Dest: "rel", Size: 1024}, // Validate refuses it
	} {
		if got, err := Tmpfs(in); err != nil || got != want {
			t.Errorf("Tmpfs(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":size=1M", "/tmp:", "/tmp:size=", "/tmp:size=0", "/tmp:size=-1M",
		"/tmp:mode=0700", "/tmp:size=1M,mode=0700", "/tmp:SIZE=1M", "/tmp:size=1M:size=2M"} {
		if m, err := Tmpfs(bad); err == nil {
			t.Errorf("Tmpfs(%q) = %+v: want an error", bad, m)
		}
	}
}

// FuzzFlags feeds arbitrary flag values through the parsers and, when they
// parse, through the Spec's validation: nothing may panic, and what parses
// must be within range.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{"64M", "nofile=17", "/a:/b", "1.5G", "core=0:unlimited", "::", "\x00", "/tmp:size=2G", "/x:size=1e3K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := Size(s); err == nil && n <= 0 {
			t.Fatalf("Size(%q) = %d", s, n)
		}
		if r, err := Rlimit(s); err == nil && r.Name == "" {
			t.Fatalf("Rlimit(%q) has no name", s)
		}
		if m, err := Tmpfs(s); err == nil {
			if m.Dest == "" || m.Size < 0 || m.Type != "tmpfs" {
				t.Fatalf("Tmpfs(%q) = %+v", s, m)
			}
			_ = specWith(m).Validate()
		}
		if m, err := Bind("bind", s); err == nil {
			spec := specWith(m)
			_ = spec.Validate()
		}
		if d, err := Duration(s); err == nil && d < 0 {
			t.Fatalf("Duration(%q) = %v", s, d)
		}
		// Any two paths round-trip byte for byte through SRC:DST.
		src, dst, _ := strings.Cut(s, "\x00")
		if src != "" && dst != "" {
			m, err := Bind("bind", EscapePath(src)+":"+EscapePath(dst))
			if err != nil || m.Source != src || m.Dest != dst {
				t.Fatalf("Bind(Escape(%q):Escape(%q)) = %q, %q, %v", src, dst, m.Source, m.Dest, err)
			}
		}
	})
}

func specWith(m sandbox.Mount) *sandbox.Spec {
	return &sandbox.Spec{Args: []string{"true"}, Mounts: []sandbox.Mount{m}}
}
