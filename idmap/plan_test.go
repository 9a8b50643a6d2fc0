package idmap

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

type idm = syscall.SysProcIDMap

func TestPlan(t *testing.T) {
	sub := []Range{{100000, 65536}}
	tests := []struct {
		name    string
		req     Request
		want    Mapping
		wantErr error
		errHas  []string
	}{
		{
			name: "self",
			req:  Request{Mode: ModeSelf, CallerUID: 1000, CallerGID: 1000},
			want: Mapping{
				UIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}},
				GIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}},
				InitUID: -1, InitGID: -1,
			},
		},
		{
			name: "self with --uid 1000 --gid 50",
			req:  Request{Mode: ModeSelf, UID: 1000, GID: 50, CallerUID: 1001, CallerGID: 1002},
			want: Mapping{
				UIDs:    []idm{{ContainerID: 1000, HostID: 1001, Size: 1}},
				GIDs:    []idm{{ContainerID: 50, HostID: 1002, Size: 1}},
				InitUID: -1, InitGID: -1,
				UID: 1000, GID: 50,
			},
		},
		{
			name: "self ignores ranges",
			req:  Request{Mode: ModeSelf, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub},
			want: Mapping{
				UIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}},
				GIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}},
				InitUID: -1, InitGID: -1,
			},
		},
		{
			name: "auto",
			req:  Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub},
			want: Mapping{
				UIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
				GIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
				Helpers: true, SetgroupsAllowed: true,
				InitUID: -1, InitGID: -1,
			},
		},
		{
			name: "auto with two ranges and --uid 1000",
			req: Request{Mode: ModeAuto, UID: 1000, CallerUID: 1000, CallerGID: 1000,
				SubUIDs: []Range{{100000, 10}, {200000, 5000}}, SubGIDs: sub},
			want: Mapping{
				UIDs: []idm{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 10},
					{ContainerID: 11, HostID: 200000, Size: 5000}},
				GIDs:    []idm{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
				Helpers: true, SetgroupsAllowed: true,
				InitUID: -1, InitGID: -1,
				UID: 1000, GID: 0,
			},
		},
		{
			name:    "auto with --uid at the edge",
			req:     Request{Mode: ModeAuto, UID: 65537, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub},
			wantErr: ErrIDOutOfRange,
			errHas:  []string{"--uid 65537 is outside the mapped range 0..65536"},
		},
		{
			name:    "auto with --gid out of range",
			req:     Request{Mode: ModeAuto, GID: 70000, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub},
			wantErr: ErrIDOutOfRange,
			errHas:  []string{"--gid 70000 is outside the mapped range 0..65536"},
		},
		{
			name:    "auto without subuid",
			req:     Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, CallerName: "alice", SubGIDs: sub},
			wantErr: ErrNoSubordinateRange,
			errHas:  []string{"/etc/subuid", "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice", "--map self"},
		},
		{
			name:    "auto without subgid",
			req:     Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, CallerName: "alice", SubUIDs: sub},
			wantErr: ErrNoSubordinateRange,
			errHas:  []string{"/etc/subgid", "--map self"},
		},
		{
			name:    "auto, caller's uid inside its own range",
			req:     Request{Mode: ModeAuto, CallerUID: 100005, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub},
			wantErr: ErrBadRange,
			errHas:  []string{"overlap"},
		},
		{
			name:    "auto, range containing host 0",
			req:     Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, SubUIDs: []Range{{0, 10}}, SubGIDs: sub},
			wantErr: ErrBadRange,
			errHas:  []string{"root"},
		},
		{
			name:   "unknown mode",
			req:    Request{Mode: "host", CallerUID: 1000},
			errHas: []string{"--map \"host\""},
		},
		{
			name:    "negative uid",
			req:     Request{Mode: ModeSelf, UID: -1, CallerUID: 1000},
			wantErr: ErrIDOutOfRange,
		},
		{
			name: "root self without ranges maps to nobody, never 0->0",
			req:  Request{Mode: ModeSelf, CallerUID: 0, CallerGID: 0},
			want: Mapping{
				UIDs:             []idm{{ContainerID: 0, HostID: NobodyID, Size: 1}},
				GIDs:             []idm{{ContainerID: 0, HostID: NobodyID, Size: 1}},
				SetgroupsAllowed: true,
				InitUID:          0, InitGID: 0,
			},
		},
		{
			name: "root self with a subordinate range uses its first id",
			req:  Request{Mode: ModeSelf, UID: 1000, GID: 1000, SubUIDs: sub, SubGIDs: []Range{{300000, 10}}},
			want: Mapping{
				UIDs:             []idm{{ContainerID: 1000, HostID: 100000, Size: 1}},
				GIDs:             []idm{{ContainerID: 1000, HostID: 300000, Size: 1}},
				SetgroupsAllowed: true,
				InitUID:          1000, InitGID: 1000,
				UID: 1000, GID: 1000,
			},
		},
		{
			name: "root auto with a subordinate range",
			req:  Request{Mode: ModeAuto, UID: 1000, SubUIDs: sub, SubGIDs: sub},
			want: Mapping{
				UIDs:             []idm{{ContainerID: 0, HostID: 100000, Size: 65536}},
				GIDs:             []idm{{ContainerID: 0, HostID: 100000, Size: 65536}},
				SetgroupsAllowed: true,
				InitUID:          1000, InitGID: 0,
				UID: 1000,
			},
		},
		{
			name: "root auto with a configured range, which wins over subuid",
			req:  Request{Mode: ModeAuto, SubUIDs: sub, SubGIDs: sub, RootRange: &Range{500000, 1000}},
			want: Mapping{
				UIDs:             []idm{{ContainerID: 0, HostID: 500000, Size: 1000}},
				GIDs:             []idm{{ContainerID: 0, HostID: 500000, Size: 1000}},
				SetgroupsAllowed: true,
				InitUID:          0, InitGID: 0,
			},
		},
		{
			name: "root auto without ranges maps to nobody",
			req:  Request{Mode: ModeAuto, UID: 5},
			want: Mapping{
				UIDs:             []idm{{ContainerID: 5, HostID: NobodyID, Size: 1}},
				GIDs:             []idm{{ContainerID: 0, HostID: NobodyID, Size: 1}},
				SetgroupsAllowed: true,
				InitUID:          5, InitGID: 0,
				UID: 5,
			},
		},
		{
			name:    "root auto, --uid does not fit the configured range",
			req:     Request{Mode: ModeAuto, UID: 1000, RootRange: &Range{500000, 1000}},
			wantErr: ErrIDOutOfRange,
			errHas:  []string{"--uid 1000 is outside the mapped range 0..999"},
		},
		{
			name:    "root, configured range starting at host 0",
			req:     Request{Mode: ModeSelf, RootRange: &Range{0, 65536}},
			wantErr: ErrBadRange,
			errHas:  []string{"root"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plan(tt.req)
			if tt.wantErr != nil || len(tt.errHas) > 0 {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err = %q, want it to contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestPlanRootNeverMapsHostRoot checks the invariant over many requests: a
// root caller's plan never contains host id 0 and always switches the child.
func TestPlanRootNeverMapsHostRoot(t *testing.T) {
	ranges := [][]Range{nil, {{100000, 65536}}, {{1, 1}}}
	roots := []*Range{nil, {200000, 10}}
	for _, mode := range []Mode{ModeSelf, ModeAuto} {
		for _, sub := range ranges {
			for _, rr := range roots {
				for _, id := range []int{0, 1, 5} {
					m, err := Plan(Request{Mode: mode, UID: id, GID: id, SubUIDs: sub, SubGIDs: sub, RootRange: rr})
					if err != nil {
						continue
					}
					for _, l := range append(append([]idm{}, m.UIDs...), m.GIDs...) {
						if l.HostID <= 0 {
							t.Errorf("%s sub=%v root=%v id=%d: maps host %d", mode, sub, rr, id, l.HostID)
						}
					}
					if m.InitUID != id || m.InitGID != id || !m.SetgroupsAllowed || m.Helpers {
						t.Errorf("%s sub=%v root=%v id=%d: %+v, want a Credential switch to %d with setgroups allowed, no helpers", mode, sub, rr, id, m, id)
					}
				}
			}
		}
	}
}

func TestPlanTooManyRanges(t *testing.T) {
	var sub []Range
	for i := 0; i < maxMapLines; i++ {
		sub = append(sub, Range{Start: uint32(100000 + 10*i), Count: 1})
	}
	_, err := Plan(Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub, SubGIDs: sub[:1]})
	if !errors.Is(err, ErrBadRange) {
		t.Fatalf("err = %v, want ErrBadRange for %d lines", err, maxMapLines+1)
	}
	_, err = Plan(Request{Mode: ModeAuto, CallerUID: 1000, CallerGID: 1000, SubUIDs: sub[:maxMapLines-1], SubGIDs: sub[:1]})
	if err != nil {
		t.Fatalf("%d lines: %v", maxMapLines, err)
	}
}

func TestHelperArgs(t *testing.T) {
	got := HelperArgs(42, []idm{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}})
	want := []string{"42", "0", "1000", "1", "1", "100000", "65536"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestApplyTo(t *testing.T) {
	self, err := Plan(Request{Mode: ModeSelf, CallerUID: 1000, CallerGID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var a syscall.SysProcAttr
	self.ApplyTo(&a)
	if !reflect.DeepEqual(a.UidMappings, self.UIDs) || !reflect.DeepEqual(a.GidMappings, self.GIDs) ||
		a.GidMappingsEnableSetgroups || a.Credential != nil {
		t.Errorf("self: %+v", a)
	}

	root, err := Plan(Request{Mode: ModeAuto, UID: 5, GID: 6, RootRange: &Range{200000, 100}})
	if err != nil {
		t.Fatal(err)
	}
	a = syscall.SysProcAttr{}
	root.ApplyTo(&a)
	if a.Credential == nil || a.Credential.Uid != 5 || a.Credential.Gid != 6 || a.Credential.Groups == nil ||
		len(a.Credential.Groups) != 0 || a.Credential.NoSetGroups || !a.GidMappingsEnableSetgroups {
		t.Errorf("root: credential %+v, setgroups %v; want uid 5 gid 6, empty groups, setgroups allowed", a.Credential, a.GidMappingsEnableSetgroups)
	}

	auto, err := Plan(Request{Mode: ModeAuto, UID: 5, CallerUID: 1000, CallerGID: 1000,
		SubUIDs: []Range{{100000, 10}}, SubGIDs: []Range{{100000, 10}}})
	if err != nil {
		t.Fatal(err)
	}
	a = syscall.SysProcAttr{}
	auto.ApplyTo(&a)
	// Go would apply a Credential before the helpers write the maps.
	if a.UidMappings != nil || a.GidMappings != nil || a.Credential != nil {
		t.Errorf("auto: %+v, want no mappings and no credential (helpers write the maps)", a)
	}
}
