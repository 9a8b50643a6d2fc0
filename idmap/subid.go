// Package idmap plans and writes the uid/gid mappings of a box's user namespace.
//
// There are two paths, chosen by one pure function, Plan:
//
//   - self: the caller's own uid and gid alone, mapped to one id inside. The
//     kernel lets any process write such a one-line map for a child it created
//     (user_namespaces(7)), so the supervisor hands the result to Go's
//     SysProcAttr.UidMappings/GidMappings and Go writes it before the child execs.
//     setgroups is denied, because an unprivileged writer may only write a gid map
//     after "deny" has been written to /proc/PID/setgroups.
//   - auto: inside 0 is the caller, inside 1..N are the caller's subordinate
//     ranges from /etc/subuid and /etc/subgid. Only the setuid helpers
//     newuidmap(1)/newgidmap(1) may write such maps, so the supervisor starts the
//     child without mappings and calls Mapping.WriteFromParent with its pid.
//
// A root caller never gets a box that runs as host root: Plan maps the inside
// ids to an unprivileged range (a configured range, root's subordinate range, or
// nobody) and asks for a Credential switch, because the child starts as host
// uid 0, which that map does not contain.
//
// Parsing (ParseSubID) is kept apart from I/O (ParseSubIDFile, SubIDs) so it can
// be table-tested and fuzzed.
package idmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Range is one subordinate id range, as in a line "name:start:count" of
// /etc/subuid or /etc/subgid (subuid(5)): host ids Start..Start+Count-1.
type Range struct {
	Start, Count uint32
}

// End returns the last host id of the range.
func (r Range) End() uint32 { return r.Start + r.Count - 1 }

// String formats the range as "start-end", the form usermod(8) accepts.
func (r Range) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End()) }

// Files read by SubIDs. Variables, not constants, so tests can point them at
// fixtures.
var (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
	// getsubidsPath is shadow's getsubids(1). It asks libsubid, which honours
	// a "subid:" line in nsswitch.conf(5), so it also sees ranges served by an
	// NSS module (e.g. FreeIPA/SSSD) that are not in the files.
	getsubidsPath = "/usr/bin/getsubids"
	nsswitchFile  = "/etc/nsswitch.conf"
)

// ParseSubID returns the ranges in r (in subuid(5) format) that belong to the
// user named user or to the numeric uid, in file order. shadow's helpers accept
// both forms of owner, so an entry "1000:100000:65536" counts for uid 1000.
// Pass uid -1 to match by name only.
//
// Blank lines and lines starting with '#' are skipped. A malformed line, a
// count of 0, or a range that would wrap past the largest uid is an error that
// names the line number, even when it belongs to another user: newuidmap would
// stumble over it too, and a silent skip hides the typo from the admin.
func ParseSubID(r io.Reader, user string, uid int) ([]Range, error) {
	var ranges []Range
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		owner, rg, err := parseSubIDLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %w", line, text, err)
		}
		if ownerMatches(owner, user, uid) {
			ranges = append(ranges, rg)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return ranges, nil
}

func parseSubIDLine(text string) (string, Range, error) {
	fields := strings.Split(text, ":")
	if len(fields) != 3 {
		return "", Range{}, fmt.Errorf("want name:start:count, found %d field(s)", len(fields))
	}
	owner := fields[0]
	if owner == "" {
		return "", Range{}, errors.New("empty owner")
	}
	start, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return "", Range{}, fmt.Errorf("start %q: want a number 0..%d", fields[1], uint32(math.MaxUint32))
	}
	count, err := strconv.ParseUint(fields[2], 10, 32)
	if err != nil {
		return "", Range{}, fmt.Errorf("count %q: want a number 1..%d", fields[2], uint32(math.MaxUint32))
	}
	if count == 0 {
		return "", Range{}, errors.New("count is 0")
	}
	// The last id must stay below 2^32-1: (uid_t)-1 is not a valid id
	// (it means "unchanged" to setresuid(2)) and start+count must not wrap.
	if start+count > math.MaxUint32 {
		return "", Range{}, fmt.Errorf("start %d + count %d passes the largest uid %d", start, count, uint32(math.MaxUint32-1))
	}
	return owner, Range{Start: uint32(start), Count: uint32(count)}, nil
}

func ownerMatches(owner, user string, uid int) bool {
	if user != "" && owner == user {
		return true
	}
	if uid < 0 {
		return false
	}
	n, err := strconv.ParseUint(owner, 10, 32)
	return err == nil && int64(n) == int64(uid)
}

// ParseSubIDFile is ParseSubID on the file at path. A missing file is not an
// error: it means no ranges, which Plan reports with the fix.
func ParseSubIDFile(path, user string, uid int) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subordinate ids: %w", err)
	}
	defer f.Close()
	ranges, err := ParseSubID(f, user, uid)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w (fix the line or remove it)", path, err)
	}
	return ranges, nil
}

// ParseGetsubids parses the output of getsubids(1), one range a line:
// "0: alice 100000 65536" (index, owner, start, count).
func ParseGetsubids(r io.Reader) ([]Range, error) {
	var ranges []Range
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 || !strings.HasSuffix(fields[0], ":") {
			return nil, fmt.Errorf("getsubids line %d: %q: want \"N: owner start count\"", line, sc.Text())
		}
		_, rg, err := parseSubIDLine(fields[1] + ":" + fields[2] + ":" + fields[3])
		if err != nil {
			return nil, fmt.Errorf("getsubids line %d: %w", line, err)
		}
		ranges = append(ranges, rg)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("getsubids output: %w", err)
	}
	return ranges, nil
}

// NSSwitchSubID returns the sources of the "subid:" line of nsswitch.conf(5)
// content, or nil when there is none (then libsubid reads the files).
func NSSwitchSubID(content string) []string {
	for _, l := range strings.Split(content, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		key, rest, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(key) == "subid" {
			return strings.Fields(rest)
		}
	}
	return nil
}

// SubIDs returns the subordinate ranges of kind "uid" or "gid" for the user
// (matched by name or uid) and names where they came from, for messages.
//
// newuidmap/newgidmap read /etc/subuid and /etc/subgid unless nsswitch.conf
// has a "subid:" line naming another source, in which case they ask that NSS
// module instead. SubIDs follows the same rule: with such a line it asks
// getsubids(1), which goes through the same libsubid; otherwise it reads the
// file, and asks getsubids only when the file has nothing for the user.
// No ranges is not an error: Plan decides whether the mode needs them.
func SubIDs(kind string, user string, uid int) ([]Range, string, error) {
	var file string
	var args []string
	switch kind {
	case "uid":
		file, args = subUIDFile, []string{user}
	case "gid":
		file, args = subGIDFile, []string{"-g", user}
	default:
		return nil, "", fmt.Errorf("subordinate ids: kind %q: want \"uid\" or \"gid\"", kind)
	}
	nss := []string(nil)
	if b, err := os.ReadFile(nsswitchFile); err == nil {
		nss = NSSwitchSubID(string(b))
	}
	viaNSS := len(nss) > 0 && !(len(nss) == 1 && nss[0] == "files")
	if !viaNSS {
		ranges, err := ParseSubIDFile(file, user, uid)
		if err != nil || len(ranges) > 0 {
			return ranges, file, err
		}
	}
	src := fmt.Sprintf("%s %s", getsubidsPath, strings.Join(args, " "))
	if user == "" {
		// getsubids looks owners up by name only.
		return nil, file, nil
	}
	if _, err := os.Stat(getsubidsPath); err != nil {
		if viaNSS {
			return nil, src, fmt.Errorf("subordinate ids: nsswitch.conf says \"subid: %s\" but %s is missing: install the Debian package uidmap: %w",
				strings.Join(nss, " "), getsubidsPath, err)
		}
		return nil, file, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(getsubidsPath, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// getsubids exits 1 with "Error fetching ranges" when the user
		// simply has none; that is the common case, not a failure.
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if viaNSS {
				return nil, src, nil
			}
			return nil, file, nil
		}
		return nil, src, fmt.Errorf("subordinate ids: run %s: %w", src, err)
	}
	ranges, err := ParseGetsubids(&stdout)
	if err != nil {
		return nil, src, fmt.Errorf("subordinate ids: %w", err)
	}
	return ranges, src, nil
}
