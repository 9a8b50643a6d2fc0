package idmap

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"syscall"
)

// Mode selects how ids are mapped (the CLI's --map).
type Mode string

const (
	// ModeSelf maps the caller's own uid and gid alone. It needs no setup on
	// the host; only one uid and one gid exist inside.
	ModeSelf Mode = "self"
	// ModeAuto maps the caller to 0 and the caller's subordinate ranges to
	// 1..N, written by newuidmap/newgidmap.
	ModeAuto Mode = "auto"
)

// NobodyID is the host id a root caller's box runs as when no range is
// configured and root has no subordinate range: "nobody" and "nogroup".
const NobodyID = 65534

// maxMapLines is the kernel's limit on lines in uid_map/gid_map since Linux
// 4.15 (user_namespaces(7)); older kernels allowed 5.
const maxMapLines = 340

// Sentinel errors, wrapped by Plan and WriteFromParent so the CLI can tell
// setup errors the user can fix (exit 125) with errors.Is.
var (
	// ErrNoSubordinateRange: --map auto, but the caller has no range in
	// /etc/subuid or /etc/subgid.
	ErrNoSubordinateRange = errors.New("no subordinate id range")
	// ErrIDOutOfRange: --uid or --gid is not an id the mapping contains.
	ErrIDOutOfRange = errors.New("id outside the mapped range")
	// ErrBadRange: a range would map host root, overlaps another mapped id,
	// or the map has more lines or ids than the kernel accepts.
	ErrBadRange = errors.New("unusable id range")
	// ErrHelperMissing: newuidmap or newgidmap is not installed.
	ErrHelperMissing = errors.New("id map helper missing")
	// ErrHelperNotPrivileged: newuidmap or newgidmap is installed without
	// the setuid bit (or file capabilities), so it cannot write the maps.
	ErrHelperNotPrivileged = errors.New("id map helper not setuid root")
	// ErrHelperFailed: newuidmap or newgidmap ran and refused.
	ErrHelperFailed = errors.New("id map helper failed")
)

// Request is what Plan needs to choose a mapping. Everything is already
// read from the host, so Plan does no I/O.
type Request struct {
	// Mode is ModeSelf or ModeAuto.
	Mode Mode
	// UID and GID are the identity inside the box (--uid, --gid; default 0).
	UID, GID int
	// CallerUID and CallerGID are the supervisor's own real ids.
	CallerUID, CallerGID int
	// CallerName is the caller's user name, used in the fix of messages.
	CallerName string
	// SubUIDs and SubGIDs are the caller's subordinate ranges (see SubIDs).
	SubUIDs, SubGIDs []Range
	// RootRange is a range configured for root callers (uids and gids
	// alike). When nil, root's subordinate ranges are used, else nobody.
	RootRange *Range
}

// Mapping is the chosen id mapping, ready for the supervisor.
type Mapping struct {
	// UIDs and GIDs are the map lines, for SysProcAttr.UidMappings/
	// GidMappings (when !Helpers) or for newuidmap/newgidmap (when Helpers).
	UIDs, GIDs []syscall.SysProcIDMap
	// Helpers is true when the maps must be written by the setuid helpers
	// via WriteFromParent after the child is started without mappings.
	Helpers bool
	// SetgroupsAllowed maps to SysProcAttr.GidMappingsEnableSetgroups. It is
	// false for an unprivileged single-id map (the kernel requires "deny"
	// there) and true whenever InitGID is set, because Go's Credential calls
	// setgroups(2) to empty the group list.
	SetgroupsAllowed bool
	// InitUID and InitGID are -1 when Go must not switch ids before exec.
	// Otherwise the supervisor sets SysProcAttr.Credential{Uid: InitUID,
	// Gid: InitGID, Groups: []uint32{}} (ApplyTo does), which makes the child
	// switch to them before exec. Both are -1 or both are set.
	//
	// They are set only when Go writes the maps (Helpers false): Go applies
	// Credential right after clone and waits for the maps first only when
	// SysProcAttr.UidMappings is set (syscall/exec_linux.go), so with helpers
	// the switch would run before WriteFromParent and fail.
	InitUID, InitGID int
	// UID and GID are the identity the payload must have inside. When it
	// differs from the child's identity after the maps are written and
	// InitUID is -1 (auto with --uid/--gid other than 0), the init stage
	// must switch to it itself (setgroups, setresgid, setresuid) after the
	// child is released.
	UID, GID int
}

// Plan chooses the id mapping for req. It is a pure function.
//
//   - self, caller not root: UID -> CallerUID and GID -> CallerGID, one id
//     each, setgroups denied, written by Go.
//   - auto, caller not root: 0 -> caller, then 1.. -> the subordinate ranges
//     in order, written by newuidmap/newgidmap; the UID and GID must fall
//     inside, and the init stage switches to them. Without ranges:
//     ErrNoSubordinateRange, naming the fix.
//   - caller root, either mode: host 0 is never mapped. self maps UID (GID)
//     alone to the first id of RootRange, else of root's subordinate range,
//     else nobody (65534); auto maps 0..Count-1 to the whole RootRange or
//     subordinate range (or, with neither, UID alone to nobody). Root may
//     write any map, so Go writes it; the child, host uid 0, is not in the
//     map, so InitUID/InitGID make it switch to the mapped id.
func Plan(req Request) (Mapping, error) {
	if req.UID < 0 || req.UID >= math.MaxUint32 {
		return Mapping{}, fmt.Errorf("--uid %d: want 0..%d: %w", req.UID, uint32(math.MaxUint32-1), ErrIDOutOfRange)
	}
	if req.GID < 0 || req.GID >= math.MaxUint32 {
		return Mapping{}, fmt.Errorf("--gid %d: want 0..%d: %w", req.GID, uint32(math.MaxUint32-1), ErrIDOutOfRange)
	}
	if req.Mode != ModeSelf && req.Mode != ModeAuto {
		return Mapping{}, fmt.Errorf("--map %q: want %q or %q", req.Mode, ModeSelf, ModeAuto)
	}
	if req.CallerUID == 0 {
		return planRoot(req)
	}
	if req.Mode == ModeSelf {
		return Mapping{
			UIDs:    []syscall.SysProcIDMap{{ContainerID: req.UID, HostID: req.CallerUID, Size: 1}},
			GIDs:    []syscall.SysProcIDMap{{ContainerID: req.GID, HostID: req.CallerGID, Size: 1}},
			InitUID: -1, InitGID: -1,
			UID: req.UID, GID: req.GID,
		}, nil
	}

	who := req.CallerName
	if who == "" {
		who = strconv.Itoa(req.CallerUID)
	}
	uids, err := autoMap("uid", req.UID, req.CallerUID, req.SubUIDs, who)
	if err != nil {
		return Mapping{}, err
	}
	gids, err := autoMap("gid", req.GID, req.CallerGID, req.SubGIDs, who)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{
		UIDs: uids, GIDs: gids,
		Helpers: true,
		// newgidmap leaves setgroups "allow" when it maps ranges beyond the
		// caller's own gid, so the init stage may empty the group list.
		SetgroupsAllowed: true,
		// The child is inside 0 once the maps are written; a switch to
		// another --uid is the init stage's job (see Mapping.InitUID).
		InitUID: -1, InitGID: -1,
		UID: req.UID, GID: req.GID,
	}, nil
}

// autoMap builds the auto map of one kind for an unprivileged caller.
func autoMap(kind string, inside, caller int, ranges []Range, who string) ([]syscall.SysProcIDMap, error) {
	file := "/etc/sub" + kind
	if len(ranges) == 0 {
		return nil, fmt.Errorf("--map auto needs a subordinate %s range for %s in %s: %w; "+
			"fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s "+
			"(or use --map self, which needs no range)", kind, who, file, ErrNoSubordinateRange, who)
	}
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: caller, Size: 1}}
	next := uint64(1)
	for _, r := range ranges {
		if r.Count == 0 || uint64(r.Start)+uint64(r.Count) > math.MaxUint32 {
			return nil, fmt.Errorf("subordinate %s range %d+%d in %s: %w", kind, r.Start, r.Count, file, ErrBadRange)
		}
		m = append(m, syscall.SysProcIDMap{ContainerID: int(next), HostID: int(r.Start), Size: int(r.Count)})
		next += uint64(r.Count)
		if next > math.MaxUint32 {
			return nil, fmt.Errorf("subordinate %s ranges in %s add up to more ids than exist inside (%d): %w",
				kind, file, uint32(math.MaxUint32), ErrBadRange)
		}
	}
	if err := checkMap(kind, m, file); err != nil {
		return nil, err
	}
	if uint64(inside) >= next {
		return nil, fmt.Errorf("--%s %d is outside the mapped range 0..%d (1 + the ranges in %s): %w",
			kind, inside, next-1, file, ErrIDOutOfRange)
	}
	return m, nil
}

// planRoot plans for a root caller: never map host 0, always switch the child.
func planRoot(req Request) (Mapping, error) {
	uids, err := rootMap(req.Mode, "uid", req.UID, req.RootRange, req.SubUIDs)
	if err != nil {
		return Mapping{}, err
	}
	gids, err := rootMap(req.Mode, "gid", req.GID, req.RootRange, req.SubGIDs)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{
		UIDs: uids, GIDs: gids,
		// Root may write any map itself (CAP_SETUID/CAP_SETGID in the parent
		// namespace), so Go writes it and no helper is needed.
		Helpers: false,
		// Credential empties the groups with setgroups(2), so root's host
		// groups do not leak into the box; that needs "allow".
		SetgroupsAllowed: true,
		InitUID:          req.UID, InitGID: req.GID,
		UID: req.UID, GID: req.GID,
	}, nil
}

func rootMap(mode Mode, kind string, inside int, configured *Range, sub []Range) ([]syscall.SysProcIDMap, error) {
	src := "the configured root range"
	var r *Range
	switch {
	case configured != nil:
		r = configured
	case len(sub) > 0:
		r, src = &sub[0], "root's range in /etc/sub"+kind
	}
	var m []syscall.SysProcIDMap
	switch {
	case r == nil:
		// No range at all: the box runs as nobody, one id.
		m = []syscall.SysProcIDMap{{ContainerID: inside, HostID: NobodyID, Size: 1}}
	case r.Count == 0 || uint64(r.Start)+uint64(r.Count) > math.MaxUint32:
		return nil, fmt.Errorf("%s %d+%d: %w", src, r.Start, r.Count, ErrBadRange)
	case mode == ModeSelf:
		m = []syscall.SysProcIDMap{{ContainerID: inside, HostID: int(r.Start), Size: 1}}
	default:
		if uint64(inside) >= uint64(r.Count) {
			return nil, fmt.Errorf("--%s %d is outside the mapped range 0..%d (%s %s): %w",
				kind, inside, r.Count-1, src, r, ErrIDOutOfRange)
		}
		m = []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.Start), Size: int(r.Count)}}
	}
	if err := checkMap(kind, m, src); err != nil {
		return nil, err
	}
	return m, nil
}

// checkMap enforces what the kernel would reject later with a bare EINVAL
// (overlapping host ids, too many lines) and the one rule of this package:
// host id 0 is never mapped.
func checkMap(kind string, m []syscall.SysProcIDMap, src string) error {
	if len(m) > maxMapLines {
		return fmt.Errorf("%s map from %s has %d lines, the kernel takes at most %d: merge the ranges: %w",
			kind, src, len(m), maxMapLines, ErrBadRange)
	}
	for i, a := range m {
		if a.HostID == 0 {
			return fmt.Errorf("%s map from %s would map host %s 0 (root) into the box: use a range that does not start at 0: %w",
				kind, src, kind, ErrBadRange)
		}
		for _, b := range m[:i] {
			if a.HostID < b.HostID+b.Size && b.HostID < a.HostID+a.Size {
				return fmt.Errorf("%s map from %s: host %ss %d-%d overlap %d-%d (the caller's own id must not lie in its subordinate range): %w",
					kind, src, kind, a.HostID, a.HostID+a.Size-1, b.HostID, b.HostID+b.Size-1, ErrBadRange)
			}
		}
	}
	return nil
}

// ApplyTo sets the id fields of attr for this mapping: for Go-written maps
// (Helpers false) UidMappings, GidMappings, GidMappingsEnableSetgroups and,
// when InitUID is set, Credential with an empty group list, so the caller's
// host groups do not leak into the box. With Helpers it sets nothing: the
// child must start without mappings and WriteFromParent writes them. The
// caller sets Cloneflags (CLONE_NEWUSER and the rest) itself.
func (m Mapping) ApplyTo(attr *syscall.SysProcAttr) {
	if m.Helpers {
		return
	}
	attr.UidMappings = m.UIDs
	attr.GidMappings = m.GIDs
	attr.GidMappingsEnableSetgroups = m.SetgroupsAllowed
	if m.InitUID >= 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(m.InitUID), Gid: uint32(m.InitGID), Groups: []uint32{}}
	}
}
