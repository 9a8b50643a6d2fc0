package main

// config.json fields beyond the first slice's: a writable root, masked and
// read-only paths of the config's own, supplementary groups, joined ipc
// and uts namespaces (docs/oci.md).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/idmap"
	"github.com/sandbox-dev/sandbox/internal/testenv"
)

// ociRootfs copies the busybox rootfs into a new directory and gives it to
// the host ids the caller's box runs its root as (the test user's for a
// rootless caller; nobody, or root's range, for root), as an engine's image
// belongs to the ids its containers run as.
func ociRootfs(t *testing.T, c ociCaller) string {
	t.Helper()
	needRoot(t) // to chown
	rootfs := filepath.Join(hostDir(t), "rootfs")
	if out, err := exec.Command("cp", "-a", env.rootfs, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	uid, gid := ociBoxRoot(t, c)
	if out, err := exec.Command("chown", "-hR", fmt.Sprintf("%d:%d", uid, gid), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	// The box's ids must reach it (hostDir is the test user's, 0700).
	if err := os.Chmod(filepath.Dir(rootfs), 0o755); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// ociBoxRoot is the host uid and gid the caller's box maps its root to.
func ociBoxRoot(t *testing.T, c ociCaller) (uid, gid int) {
	t.Helper()
	bundle, root := ociBundle(t, c, "/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map")
	r := c.oci(t, root, "run", "--bundle", bundle, "ids")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("the box's id maps:\n%s", r)
	}
	if _, err := fmt.Sscanf(lines[0], "%d %d", new(int), &uid); err != nil {
		t.Fatalf("uid_map %q: %v", lines[0], err)
	}
	if _, err := fmt.Sscanf(lines[1], "%d %d", new(int), &gid); err != nil {
		t.Fatalf("gid_map %q: %v", lines[1], err)
	}
	return uid, gid
}

// rootOptions is the script that prints the mount options of the box's /.
const rootOptions = `awk '$5 == "/" { print "OPTS " $6 }' /proc/self/mountinfo`

// root.readonly false: the payload writes into the rootfs as the files'
// owners and modes allow; the root stays nosuid and nodev; a file of host
// root's stays unwritable. root.readonly true: read-only. A rootfs the host
// mounts read-only stays read-only either way.
func TestOCIWritableRoot(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			rootfs := ociRootfs(t, c)
			// One file of host root's: not the box's to write.
			marker := filepath.Join(rootfs, "etc/rootfs-marker")
			if err := os.Chown(marker, 0, 0); err != nil {
				t.Fatal(err)
			}
			script := `touch /made 2>/dev/null && echo WROTE; echo x 2>/dev/null >>/etc/rootfs-marker && echo WROTE-MARKER; ` + rootOptions
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", script)
			run := func(ro bool, path string) (result, []string) {
				t.Helper()
				ociEdit(t, bundle, func(s *specs.Spec) { s.Root.Path, s.Root.Readonly = path, ro })
				r := c.oci(t, root, "run", "--bundle", bundle, "w")
				_, opts, _ := strings.Cut(r.stdout, "OPTS ")
				if r.code != 0 || opts == "" {
					t.Fatalf("run (root.readonly %v):\n%s", ro, r)
				}
				return r, strings.Split(strings.TrimSpace(opts), ",")
			}
			has := func(opts []string, want ...string) bool {
				for _, w := range want {
					found := false
					for _, o := range opts {
						found = found || o == w
					}
					if !found {
						return false
					}
				}
				return true
			}

			r, opts := run(false, rootfs)
			if !strings.Contains(r.stdout, "WROTE\n") || !has(opts, "rw", "nosuid", "nodev") {
				t.Errorf("root.readonly false: want the rootfs written, rw,nosuid,nodev\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(rootfs, "made")); err != nil {
				t.Errorf("root.readonly false: the file is not in the rootfs: %v", err)
			}
			if strings.Contains(r.stdout, "WROTE-MARKER") {
				t.Errorf("root.readonly false: the box wrote a file of host root's\n%s", r)
			}
			os.Remove(filepath.Join(rootfs, "made"))

			r, opts = run(true, rootfs)
			if strings.Contains(r.stdout, "WROTE") || !has(opts, "ro", "nosuid", "nodev") {
				t.Errorf("root.readonly true: want no write, ro,nosuid,nodev\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(rootfs, "made")); err == nil {
				t.Errorf("root.readonly true: a file was made in the rootfs")
			}

			// The host's read-only bind of the rootfs: as read-only
			// in the box with root.readonly false (a root caller's
			// copy of it is not locked; the box must not clear it).
			ro := filepath.Join(hostDir(t), "ro")
			os.Chmod(filepath.Dir(ro), 0o755)
			if err := os.Mkdir(ro, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mount(rootfs, ro, "", syscall.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Unmount(ro, syscall.MNT_DETACH) })
			if err := syscall.Mount("", ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
				t.Fatal(err)
			}
			r, opts = run(false, ro)
			if strings.Contains(r.stdout, "WROTE") || !has(opts, "ro", "nosuid", "nodev") {
				t.Errorf("root.readonly false on a read-only host mount: want no write, ro,nosuid,nodev\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(rootfs, "made")); err == nil {
				t.Errorf("root.readonly false on a read-only host mount: a file was made in the rootfs")
			}
		})
	}
}

// linux.maskedPaths and linux.readonlyPaths of the config's own: a masked
// directory is empty and read-only, a masked file reads empty (it is
// /dev/null: a write goes nowhere, the file is untouched), a mask covers a mount below it, a missing path is skipped,
// read-only paths (a directory, a file, a tmpfs of the config's) cannot be
// written, the rest of a writable root can. A symlink planted in the rootfs
// naming a host path leads the mask and the read-only path to that path in
// the box's root, never to the host's.
func TestOCIMaskedReadonlyPaths(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			rootfs := ociRootfs(t, c)
			uid, gid := ociBoxRoot(t, c)
			// The host directories the planted links name, each with a
			// file; the rootfs has a directory at the same path, with a
			// file of its own.
			hostMask, hostRO := hostDir(t), hostDir(t)
			for _, d := range []string{hostMask, hostRO} {
				if err := os.WriteFile(filepath.Join(d, "host-file"), []byte("host\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				in := filepath.Join(rootfs, d)
				if err := os.MkdirAll(in, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(in, "box-file"), []byte("box\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range []struct{ name, data string }{{"secret/a", "a"}, {"secretfile", "s"}, {"rodir/f", "f"}, {"rofile", "r"}} {
				p := filepath.Join(rootfs, f.name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(hostMask, filepath.Join(rootfs, "evil-mask")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../../../../../.."+hostRO, filepath.Join(rootfs, "evil-ro")); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("chown", "-hR", fmt.Sprintf("%d:%d", uid, gid), rootfs).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v\n%s", err, out)
			}
			data := hostDir(t)
			os.WriteFile(filepath.Join(data, "d"), []byte("d"), 0o644)
			os.Chmod(data, 0o755)
			script := `[ -z "$(ls -A /secret)" ] && echo MASKED-DIR; [ -z "$(cat /secretfile)" ] && echo MASKED-FILE; ` +
				`touch /secret/n 2>/dev/null || echo RO-MASKED-DIR; echo x 2>/dev/null >/secretfile; [ -z "$(cat /secretfile)" ] && echo STILL-MASKED-FILE; ` +
				`[ -z "$(ls -A /data)" ] && echo MASKED-MOUNT; ` +
				`touch /rodir/n 2>/dev/null || echo RO-DIR; echo x 2>/dev/null >>/rofile || echo RO-FILE; ` +
				`touch /scratch/n 2>/dev/null || echo RO-TMPFS; touch /made && echo WRITABLE; ` +
				`cat ` + hostMask + `/* 2>/dev/null | grep -q . || echo LINK-MASKED-IN-BOX; ` +
				`touch ` + hostRO + `/n 2>/dev/null || echo LINK-RO-IN-BOX`
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", script)
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Root.Path, s.Root.Readonly = rootfs, false
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind"}},
					specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"})
				s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/secret", "/secretfile", "/missing/x", "/data", "/evil-mask")
				s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/rodir", "/rofile", "/scratch", "/missing/y", "/evil-ro")
			})
			r := c.oci(t, root, "run", "--bundle", bundle, "mp")
			if r.code != 0 {
				t.Fatalf("run:\n%s", r)
			}
			for _, w := range []string{"MASKED-DIR", "MASKED-FILE", "RO-MASKED-DIR", "STILL-MASKED-FILE", "MASKED-MOUNT",
				"RO-DIR", "RO-FILE", "RO-TMPFS", "WRITABLE", "LINK-MASKED-IN-BOX", "LINK-RO-IN-BOX"} {
				if !strings.Contains(r.stdout, w+"\n") {
					t.Errorf("want %s\n%s", w, r)
				}
			}
			// A write to the masked file went to /dev/null.
			if b, err := os.ReadFile(filepath.Join(rootfs, "secretfile")); err != nil || string(b) != "s" {
				t.Errorf("the masked file in the rootfs: %q, %v", b, err)
			}
			// The host's directories are as they were.
			for _, d := range []string{hostMask, hostRO} {
				if b, err := os.ReadFile(filepath.Join(d, "host-file")); err != nil || string(b) != "host\n" {
					t.Errorf("%s/host-file: %q, %v", d, b, err)
				}
				if ents, _ := os.ReadDir(d); len(ents) != 1 {
					t.Errorf("%s: %d entries, want host-file alone", d, len(ents))
				}
			}
		})
	}
}

// process.user.additionalGids: with the caller's subordinate range mapped
// (newgidmap: setgroups allowed) the payload has them (id -G); with the
// caller's gid alone (setgroups denied), or a root caller's one gid, the
// config is refused naming the field.
func TestOCIAdditionalGids(t *testing.T) {
	for _, c := range ociCallers {
		t.Run(c.name, func(t *testing.T) {
			c.gate(t)
			bundle, root := ociBundle(t, c, "/bin/sh", "-c", "id -G")
			ociEdit(t, bundle, func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{5, 10} })
			r := c.oci(t, root, "run", "--bundle", bundle, "g1")
			if r.code == 0 || !strings.Contains(r.stderr, "process.user.additionalGids") {
				t.Errorf("additionalGids with one gid mapped: want an error naming the field\n%s", r)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left: %v", ents)
			}
			if c.root {
				return // root has no subordinate range here: one gid
			}
			subU, _, err := idmap.SubIDs("uid", testenv.UserName(), env.uid)
			subG, _, err2 := idmap.SubIDs("gid", testenv.UserName(), env.uid)
			if err != nil || err2 != nil || len(subU) == 0 || len(subG) == 0 {
				testenv.Skip(t, "the test user has no subordinate ranges (make testuser gives it some): %v %v", err, err2)
			}
			ociEdit(t, bundle, func(s *specs.Spec) {
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(env.uid), Size: 1}, {ContainerID: 1, HostID: subU[0].Start, Size: subU[0].Count}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(env.gid), Size: 1}, {ContainerID: 1, HostID: subG[0].Start, Size: subG[0].Count}}
			})
			r = c.oci(t, root, "run", "--bundle", bundle, "g2")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "0 5 10" {
				t.Errorf("additionalGids 5, 10 with the subordinate range: want id -G \"0 5 10\"\n%s", r)
			}
			ociEdit(t, bundle, func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{subG[0].Count + 1} })
			if r := c.oci(t, root, "run", "--bundle", bundle, "g3"); r.code == 0 || !strings.Contains(r.stderr, "process.user.additionalGids") {
				t.Errorf("an unmapped gid: want an error naming the field\n%s", r)
			}
		})
	}
}

// linux.namespaces with a path for ipc and uts (a CRI pod's containers join
// its pause container's): as root, a second container that joins the
// first's sees its SysV shared memory segment and its host name; one that
// does not join sees neither; a hostname with a joined uts namespace is
// refused naming it. A regular user's runtime, which cannot setns(2), is
// refused naming the path.
func TestOCIJoinIPCUTS(t *testing.T) {
	c := ociCallers[1]
	c.gate(t)
	rootfs := ociRootfs(t, c)
	uid, gid := ociBoxRoot(t, c)
	probe := filepath.Join(rootfs, "probe")
	if out, err := exec.Command("cp", env.probe, probe).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.Chown(probe, uid, gid)
	os.Chmod(probe, 0o755)
	bundle, root := ociBundle(t, c, "/bin/sh", "-c", "/probe shmget 4242 && sleep 100")
	ociEdit(t, bundle, func(s *specs.Spec) { s.Root.Path, s.Hostname = rootfs, "pod-a" })
	if r := c.oci(t, root, "create", "--bundle", bundle, "a"); r.code != 0 {
		t.Fatalf("create a:\n%s", r)
	}
	t.Cleanup(func() { c.oci(t, root, "delete", "--force", "a") })
	if r := c.oci(t, root, "start", "a"); r.code != 0 {
		t.Fatalf("start a:\n%s", r)
	}
	pid := ociState(t, c, root, "a").Pid
	// Waits for a's segment (up to 5 s), then says what it sees.
	script := `i=0; while [ $i -lt 50 ] && ! grep -qE '^ *4242 ' /proc/sysvipc/shm; do sleep 0.1; i=$((i+1)); done; ` +
		`grep -qE '^ *4242 ' /proc/sysvipc/shm && echo SHM || echo NO-SHM; echo "host $(hostname)"`
	joined, _ := ociBundle(t, c, "/bin/sh", "-c", script)
	join := func(s *specs.Spec) {
		s.Root.Path, s.Hostname = rootfs, ""
		for i, n := range s.Linux.Namespaces {
			switch n.Type {
			case specs.IPCNamespace:
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/ipc", pid)
			case specs.UTSNamespace:
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/uts", pid)
			}
		}
	}
	ociEdit(t, joined, join)
	r := c.oci(t, root, "run", "--bundle", joined, "b")
	if r.code != 0 || !strings.Contains(r.stdout, "SHM\n") || strings.Contains(r.stdout, "NO-SHM") || !strings.Contains(r.stdout, "host pod-a\n") {
		t.Errorf("a container joining a's ipc and uts namespaces: want a's segment and host name\n%s", r)
	}
	// Not joined: its own namespaces, neither a's segment nor its name.
	own, _ := ociBundle(t, c, "/bin/sh", "-c", `grep -qE '^ *4242 ' /proc/sysvipc/shm && echo SHM || echo NO-SHM; echo "host $(hostname)"`)
	ociEdit(t, own, func(s *specs.Spec) { s.Root.Path = rootfs })
	if r := c.oci(t, root, "run", "--bundle", own, "c"); r.code != 0 || !strings.Contains(r.stdout, "NO-SHM\n") || strings.Contains(r.stdout, "pod-a") {
		t.Errorf("a container of its own namespaces:\n%s", r)
	}
	ociEdit(t, joined, func(s *specs.Spec) { s.Hostname = "b" })
	if r := c.oci(t, root, "run", "--bundle", joined, "d"); r.code == 0 || !strings.Contains(r.stderr, "hostname") {
		t.Errorf("a hostname with a joined uts namespace: want an error naming it\n%s", r)
	}

	rl := ociCallers[0]
	rb, rroot := ociBundle(t, rl, "/bin/true")
	ociEdit(t, rb, func(s *specs.Spec) { s.Hostname = ""; join(s); s.Root.Path = env.rootfs })
	if r := rl.oci(t, rroot, "run", "--bundle", rb, "e"); r.code == 0 || !strings.Contains(r.stderr, "].path") || !strings.Contains(r.stderr, "CAP_SYS_ADMIN") {
		t.Errorf("a regular user's runtime joining an ipc namespace: want an error naming the path\n%s", r)
	}
}
