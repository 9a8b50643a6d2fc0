package idmap

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSubID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		user    string
		uid     int
		want    []Range
		wantErr string // substring; "" means no error
	}{
		{
			name: "name match",
			in:   "alice:100000:65536\nbob:165536:65536\n",
			user: "alice", uid: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name: "uid match",
			in:   "bob:165536:65536\n1000:200000:1000\n",
			user: "alice", uid: 1000,
			want: []Range{{200000, 1000}},
		},
		{
			name: "uid -1 matches by name only",
			in:   "1000:200000:1000\n",
			user: "alice", uid: -1,
			want: nil,
		},
		{
			name: "numeric prefix is not a uid match",
			in:   "1000x:200000:1000\n",
			user: "alice", uid: 1000,
			want: nil,
		},
		{
			name: "comments and blank lines",
			in:   "# ranges\n\n   \nalice:100000:10\n  # indented comment\n",
			user: "alice", uid: 1000,
			want: []Range{{100000, 10}},
		},
		{
			name: "multiple ranges in file order",
			in:   "alice:300000:5\nbob:1:1\nalice:100000:10\n1000:500000:2\n",
			user: "alice", uid: 1000,
			want: []Range{{300000, 5}, {100000, 10}, {500000, 2}},
		},
		{
			name: "no entry",
			in:   "bob:100000:65536\n",
			user: "alice", uid: 1000,
			want: nil,
		},
		{
			name: "largest valid range end",
			in:   "alice:4294967294:1\n",
			user: "alice", uid: 1000,
			want: []Range{{4294967294, 1}},
		},
		{name: "too few fields", in: "alice:1:1\nalice:100000\n", user: "alice", wantErr: "line 2"},
		{name: "too many fields", in: "alice:1:2:3\n", user: "alice", wantErr: "line 1"},
		{name: "empty owner", in: ":1:2\n", user: "alice", wantErr: "empty owner"},
		{name: "start not a number", in: "alice:x:2\n", user: "alice", wantErr: "start"},
		{name: "negative count", in: "alice:1:-2\n", user: "alice", wantErr: "count"},
		{name: "count zero", in: "alice:100000:0\n", user: "alice", wantErr: "count is 0"},
		{name: "start too big", in: "alice:4294967296:1\n", user: "alice", wantErr: "start"},
		{name: "overflow wraps uint32", in: "alice:4294967295:2\n", user: "alice", wantErr: "largest uid"},
		{name: "end is (uid_t)-1", in: "alice:4294967295:1\n", user: "alice", wantErr: "largest uid"},
		{name: "malformed line of another user", in: "alice:1:1\n\n# c\nbob:oops\n", user: "alice", wantErr: "line 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubID(strings.NewReader(tt.in), tt.user, tt.uid)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseSubID(f *testing.F) {
	f.Add("alice:100000:65536\n", "alice", 1000)
	f.Add("# c\n1000:1:1\nbob:2:3\n", "alice", 1000)
	f.Add("alice:4294967295:1\n", "alice", -1)
	f.Add("a:b:c:d", "", 0)
	f.Fuzz(func(t *testing.T, in, user string, uid int) {
		ranges, err := ParseSubID(strings.NewReader(in), user, uid)
		if err != nil {
			if len(ranges) != 0 {
				t.Fatalf("ranges %v returned with error %v", ranges, err)
			}
			return
		}
		for _, r := range ranges {
			if r.Count == 0 {
				t.Fatalf("range with count 0 accepted: %v", r)
			}
			if uint64(r.Start)+uint64(r.Count) > 1<<32-1 {
				t.Fatalf("range passing the largest uid accepted: %v", r)
			}
		}
	})
}

func TestParseSubIDFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "subuid")
	if err := os.WriteFile(p, []byte("alice:100000:65536\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSubIDFile(p, "alice", 1000); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want one naming %s and line 2", err, p)
	}
	got, err := ParseSubIDFile(filepath.Join(dir, "missing"), "alice", 1000)
	if err != nil || got != nil {
		t.Fatalf("missing file: got %v, %v; want nil, nil", got, err)
	}
}

func TestParseGetsubids(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Range
		wantErr bool
	}{
		{name: "one", in: "0: alice 100000 65536\n", want: []Range{{100000, 65536}}},
		{name: "two", in: "0: alice 100000 65536\n1: alice 300000 10\n", want: []Range{{100000, 65536}, {300000, 10}}},
		{name: "empty", in: "", want: nil},
		{name: "garbage", in: "Error fetching ranges\n", wantErr: true},
		{name: "count zero", in: "0: alice 100000 0\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGetsubids(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNSSwitchSubID(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"passwd: files\ngroup: files\n", nil},
		{"passwd: files\nsubid: sss\n", []string{"sss"}},
		{"subid:   files  # local\n", []string{"files"}},
		{"# subid: sss\n", nil},
	}
	for _, tt := range tests {
		if got := NSSwitchSubID(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NSSwitchSubID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// withFiles points SubIDs at fixtures for the duration of the test.
func withFiles(t *testing.T, subuid, nsswitch, getsubids string) {
	t.Helper()
	old := [...]string{subUIDFile, subGIDFile, nsswitchFile, getsubidsPath}
	t.Cleanup(func() { subUIDFile, subGIDFile, nsswitchFile, getsubidsPath = old[0], old[1], old[2], old[3] })
	dir := t.TempDir()
	subUIDFile = filepath.Join(dir, "subuid")
	subGIDFile = filepath.Join(dir, "subgid")
	nsswitchFile = filepath.Join(dir, "nsswitch.conf")
	getsubidsPath = filepath.Join(dir, "getsubids")
	write := func(p, s string, mode os.FileMode) {
		if s == "" {
			return
		}
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(subUIDFile, subuid, 0o644)
	write(subGIDFile, subuid, 0o644)
	write(nsswitchFile, nsswitch, 0o644)
	write(getsubidsPath, getsubids, 0o755)
}

func TestSubIDs(t *testing.T) {
	// A fake getsubids that reports a range only NSS knows about.
	fake := "#!/bin/sh\necho '0: alice 700000 100'\n"
	none := "#!/bin/sh\necho 'Error fetching ranges' >&2\nexit 1\n"
	tests := []struct {
		name               string
		subuid, nss, getid string
		want               []Range
		wantSrc            string // suffix
	}{
		{name: "file wins", subuid: "alice:100000:65536\n", getid: fake, want: []Range{{100000, 65536}}, wantSrc: "subuid"},
		{name: "file empty, getsubids has it", subuid: "bob:1:1\n", getid: fake, want: []Range{{700000, 100}}, wantSrc: "getsubids alice"},
		{name: "nsswitch sss asks getsubids", subuid: "alice:100000:65536\n", nss: "subid: sss\n", getid: fake, want: []Range{{700000, 100}}, wantSrc: "getsubids alice"},
		{name: "nsswitch files reads the file", subuid: "alice:100000:65536\n", nss: "subid: files\n", getid: fake, want: []Range{{100000, 65536}}, wantSrc: "subuid"},
		{name: "none anywhere", subuid: "bob:1:1\n", getid: none, want: nil, wantSrc: "subuid"},
		{name: "no file, no getsubids", want: nil, wantSrc: "subuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withFiles(t, tt.subuid, tt.nss, tt.getid)
			got, src, err := SubIDs("uid", "alice", 1000)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) || !strings.HasSuffix(src, tt.wantSrc) {
				t.Fatalf("got %v from %q, want %v from ...%q", got, src, tt.want, tt.wantSrc)
			}
		})
	}
	if _, _, err := SubIDs("group", "alice", 1000); err == nil {
		t.Fatal("SubIDs accepted kind \"group\"")
	}
}
