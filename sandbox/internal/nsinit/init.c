// The init stage of a box, run before the Go runtime starts.
//
// The supervisor starts its own binary (/proc/self/exe) with vfork semantics,
// in its own namespaces, with _SANDBOX_INIT=<fd> in an otherwise empty
// environment. This constructor runs before the Go runtime (as runc's nsexec
// does), so the box costs one Go runtime start (the supervisor's), not two,
// and pid 1 of a box is a small C reaper rather than a parked Go runtime.
// The namespaces are made here, in the design card's order: the user
// namespace first (unshare: a clone with CLONE_NEWUSER could not share the
// supervisor's memory, and copying a Go process costs more than the box),
// its maps, then the rest, then pid 1.
//
// It only executes: the supervisor has decided everything and sends a Plan, a
// flat list of ops (sandbox/plan.go documents the encoding). Ops run in order;
// the first that fails is reported back as {index, errno} and the supervisor
// names it. The protocol on the socket <fd>:
//
//   supervisor                    first process        pid 1              payload
//   -- {plan length u32, hold u32}, plan bytes -->  (before the start)
//                                 OpUserns: unshare,
//                                 maps if its own
//              <-- MSG_USERNS     (only with hold)
//   maps (root, newuidmap), v1 cgroup move
//   -- release byte -->           (only with hold)
//                                 OpUnshare
//              <-- MSG_NET        OpNetHold (--net user only)
//   egress policy (a helper in the
//   box's namespaces: enter_namespaces),
//   pasta on them
//   -- release byte -->
//                                 OpSpawn: clone ------> (CLONE_PARENT)
//              <-- MSG_PID {pid}  exits
//              <-- MSG_PID {0} ------------------------ (its pid in the
//                                                        credentials)
//                                                        runs ops up to OpFork
//              <-- MSG_OP_ERROR {index, errno}  (on any failure; exit)
//   reaps the first process
//   -- one byte ----------------------------------------> (read at OpFork)
//                                                        fork() ---------> runs the rest
//              <-- MSG_OP_ERROR {index, errno} ---------------------------- (on failure)
//                                                                          execve: the fd is
//                                                                          close-on-exec, so
//                                                                          success is silence
//                                                        reaps; payload exits
//              <-- MSG_EXIT {wait status}
//              EOF (pid 1 exits)
//
// An OCI container's hooks in the box (OP_HOOK): before OP_PIVOT pid 1 may
// say MSG_HOOK_HOLD (OP_HOOK_HOLD) and wait for a release byte while the
// runtime runs its own prestart and createRuntime hooks, then runs the
// createContainer hooks; the startContainer hooks come after OP_READY, and
// the first of them reads the start byte that OP_FORK reads otherwise.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// Op codes and flags: the same numbers as sandbox/plan.go.
enum {
	OP_BIND = 1, OP_TMPFS, OP_PROC, OP_DEVPTS, OP_SYMLINK, OP_MKDIR, OP_MASK,
	OP_READONLY, OP_PIVOT, OP_HOSTNAME, OP_LOOPBACK, OP_SESSION,
	OP_NOT_DUMPABLE, OP_FORK, OP_CHDIR, OP_RLIMIT, OP_CREDS, OP_NO_NEW_PRIVS,
	OP_SECCOMP, OP_EXEC, OP_SETCTTY, OP_TTY,
	OP_LANDLOCK = 40, OP_MQUEUE = 41,
	OP_SYSCTL = 35,
	OP_USERNS = 23, OP_UNSHARE = 24, OP_SPAWN = 25, OP_NETHOLD = 26,
	OP_READY = 27, OP_SETNS = 28, OP_OPEN_TREE = 29,
	OP_HOOK = 60, OP_HOOK_HOLD = 61,
};
#define F_READONLY (1u << 0)
#define F_NODEV (1u << 1)
#define F_NOSUID (1u << 2)
#define F_NOEXEC (1u << 3)
#define F_RECURSIVE (1u << 4)
#define F_SELFBIND (1u << 5)
#define F_TRY (1u << 6)
#define F_SETGROUPS (1u << 7)
#define F_KEYRING (1u << 8)
#define F_SWITCHID (1u << 15)
#define F_TOP_WRITABLE (1u << 9)
#define F_DETACH (1u << 10)
#define F_TREE (1u << 11)
#define F_STRICT (1u << 12)
#define F_START_HOOK (1u << 13)

// glibc's <unistd.h> has it, musl's not (close_range(2)).
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define PLAN_MAGIC 0x31584253u
#define MAX_STR 4
#define MAX_PLAN (64u << 20)

// Messages to the supervisor: sandbox/parent.go reads the same layout.
enum { MSG_OP_ERROR = 1, MSG_EXIT = 2, MSG_TTY = 3, MSG_USERNS = 4, MSG_PID = 5, MSG_NET = 6, MSG_READY = 7,
	MSG_HOOK_HOLD = 61 };
struct msg {
	uint32_t type;
	int32_t index;
	int32_t err;
	int32_t status;
};

struct op {
	uint32_t code, nstr;
	uint64_t flags, arg, arg2, arg3;
	const char *str[MAX_STR];
	uint32_t len[MAX_STR];
};

// Paths while the new root is built. The first pivot_root moves the host's
// root to OLDROOT under a private tmpfs, so host paths (bind sources) are
// resolved under OLDROOT and box paths under NEWROOT, each with
// RESOLVE_IN_ROOT: a symlink planted in a rootfs cannot lead a mount out of
// it, and a host symlink resolves as it does on the host.
#define BASE "/tmp"
#define OLDROOT "/oldroot"
#define NEWROOT "/newroot"

// The sanitizer build's report log (sanitize.c, build tag sanitize); absent,
// so NULL, in the product's build.
void sandbox_sanitizer_log(int reopen) __attribute__((weak));

static int sync_fd = -1;
// OP_OPEN_TREE's detached mount trees, by slot, for OP_BIND with F_TREE:
// opened by the first process as the caller, inherited by pid 1 (cloned
// without CLONE_FILES), each closed once attached and all at OP_PIVOT.
#define MAX_TREES 256
static int trees[MAX_TREES];
static int hold; // the Plan header asks OP_USERNS to wait for the release byte
static int tty_slave = -1; // --tty: the payload's terminal, from the box's own devpts
static volatile pid_t payload_pid;
static int detached; // F_DETACH: pid 1's own exit status is the payload's
static int started; // pid 1 has read the start byte (a startContainer hook did)
static int pivoted; // OP_PIVOT is done: "/" is the box's root
static char host_pid[24]; // pid 1's pid as the caller sees it ("": unknown)
static int op_status; // a failed hook's wait status, reported with its error
// The top of the --rootfs bind (F_TOP_WRITABLE) was read-only at its source:
// OP_READONLY's RO_AS_SOURCE makes a writable root read-only only then.
static int rootfs_src_ro;
#define RO_AS_SOURCE 1

static void report(uint32_t type, int index, int err, int status)
{
	struct msg m = {type, index, err, status};
	ssize_t n;
	do
		n = write(sync_fd, &m, sizeof m);
	while (n < 0 && errno == EINTR);
}

// send_tty passes the master side of the box's terminal to the supervisor,
// which relays it to the caller's terminal.
static int send_tty(int master)
{
	struct msg m = {MSG_TTY, 0, 0, 0};
	struct iovec iov = {&m, sizeof m};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sync_fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof m ? 0 : -1;
}

// open_tty makes a terminal in the box's devpts (so that ttyname(3) works
// inside) and sends its master to the supervisor; the payload gets the slave.
static int open_tty(void)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -1;
	int unlock = 0;
	int r = ioctl(master, TIOCSPTLCK, &unlock);
	if (r == 0)
		r = tty_slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r >= 0)
		r = send_tty(master);
	int e = errno;
	close(master);
	errno = e;
	return r < 0 ? -1 : 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

// decode parses the plan in place; strings point into buf (each is followed by
// its NUL in the encoding). Returns the number of ops or -1.
static long decode(unsigned char *buf, size_t len, struct op **out)
{
	if (len < 8 || get32(buf) != PLAN_MAGIC)
		return -1;
	uint32_t count = get32(buf + 4);
	if (count > len / 40)
		return -1;
	struct op *ops = calloc(count ? count : 1, sizeof *ops);
	if (!ops)
		return -1;
	size_t off = 8;
	// Failures past here free ops: the fuzz test decodes millions of plans.
	for (uint32_t i = 0; i < count; i++) {
		if (len - off < 40)
			goto bad;
		struct op *o = &ops[i];
		o->code = get32(buf + off);
		o->nstr = get32(buf + off + 4);
		o->flags = get64(buf + off + 8);
		o->arg = get64(buf + off + 16);
		o->arg2 = get64(buf + off + 24);
		o->arg3 = get64(buf + off + 32);
		off += 40;
		if (o->nstr > MAX_STR)
			goto bad;
		for (uint32_t j = 0; j < o->nstr; j++) {
			if (len - off < 4)
				goto bad;
			uint32_t l = get32(buf + off);
			off += 4;
			if (len - off < (size_t)l + 1 || buf[off + l] != 0)
				goto bad;
			o->str[j] = (const char *)buf + off;
			o->len[j] = l;
			off += (size_t)l + 1;
		}
		for (uint32_t j = o->nstr; j < MAX_STR; j++)
			o->str[j] = "";
	}
	if (off != len)
		goto bad;
	*out = ops;
	return count;
bad:
	free(ops);
	return -1;
}

static int xopenat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// open_in resolves path inside root as if root were "/": absolute symlinks and
// ".." stay inside it, and magic links (/proc/PID/fd/N, /proc/self/cwd) are
// refused, so nothing planted in a rootfs leads outside it.
// The roots are opened once, not once per op. A mount on the new root
// itself (its tmpfs, the --rootfs bind, or any target that resolves to the
// root: "/.", a planted symlink to "/") covers the directory the cached fd
// points to: covers_root tells, from the target's descriptor, and
// root_covered drops the cached one.
// do_pivot closes them all: none may outlive the old root (an fd to it is
// a way out of the box).
static int root_fds[3] = {-1, -1, -1};

static int root_fd(const char *root)
{
	int *fd = &root_fds[strcmp(root, NEWROOT) == 0 ? 0 : strcmp(root, OLDROOT) == 0 ? 1 : 2];
	if (*fd < 0)
		*fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return *fd;
}

static void root_covered(void)
{
	if (root_fds[0] >= 0)
		close(root_fds[0]);
	root_fds[0] = -1;
}

// covers_root tells whether a mount on the resolved target fd would cover
// the new root: the target is the root directory itself, whatever its path
// spelled.
static int covers_root(int fd)
{
	struct stat a, b;
	int rfd = root_fds[0];
	if (rfd < 0)
		return 0; // nothing cached, nothing stale
	return fstat(fd, &a) == 0 && fstat(rfd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int open_in(const char *root, const char *path, int flags)
{
	int rfd = root_fd(root);
	if (rfd < 0)
		return -1;
	while (*path == '/')
		path++;
	return xopenat2(rfd, *path ? path : ".", O_PATH | flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

// make_in creates path inside root, a directory or (file != 0) an empty file,
// creating missing parents; each component is resolved inside root.
static int make_in(const char *root, const char *path, int file)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	// Most targets exist already (a rootfs's /proc, a host view's /usr):
	// one lookup, not one per component.
	int fd = open_in(root, path, 0);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	memcpy(buf, path, n + 1);
	char *p = buf;
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		int last = slash == NULL;
		if (slash)
			*slash = 0;
		if (*p) {
			int fd = open_in(root, buf, 0);
			if (fd >= 0) {
				close(fd);
			} else if (errno == ENOENT) {
				// Create the component in its (already resolved) parent.
				char *base = strrchr(buf, '/');
				int pfd;
				if (base && base != buf) {
					*base = 0;
					pfd = open_in(root, buf, O_DIRECTORY);
					*base = '/';
				} else {
					pfd = open_in(root, "/", O_DIRECTORY);
				}
				if (pfd < 0)
					return -1;
				const char *name = base ? base + 1 : buf;
				int r;
				if (last && file) {
					r = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
					if (r >= 0)
						close(r);
				} else {
					r = mkdirat(pfd, name, 0755);
				}
				int e = errno;
				close(pfd);
				if (r < 0 && e != EEXIST) {
					errno = e;
					return -1;
				}
			} else {
				return -1;
			}
		}
		if (last)
			return 0;
		*slash = '/';
		p = slash + 1;
	}
}

// open_made opens path inside root (flags as open_in's), first creating it
// as make_in does if it is missing: one lookup, not two, for the common
// target that exists already.
static int open_made(const char *root, const char *path, int file, int flags)
{
	int fd = open_in(root, path, flags);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (make_in(root, path, file) < 0)
		return -1;
	return open_in(root, path, flags);
}

static void fdpath(char *buf, size_t len, int fd)
{
	// The host's procfs is still reachable under OLDROOT while the box is
	// built; the fd's magic link lets mount(2) act on the object resolved
	// above instead of resolving a path again.
	snprintf(buf, len, OLDROOT "/proc/self/fd/%d", fd);
}

// setattr changes mount attributes of the mount at box path.
static int setattr(const char *path, uint64_t set, int recursive)
{
	int fd = open_in(NEWROOT, path, 0);
	if (fd < 0)
		return -1;
	struct mount_attr attr = {.attr_set = set};
	int r = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
			     &attr, sizeof attr);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

// make_point makes a missing mount point (file: an empty file) at box path
// in rootfs as the caller, for do_open_tree; empty names: nothing to make.
static int make_point(const char *rootfs, const char *path, int file)
{
	if (!*rootfs || !*path)
		return 0;
	int r = make_in(rootfs, path, file);
	// make_in cached the rootfs's descriptor in a slot pid 1 and the
	// payload use later (OP_CHDIR's "/"): drop it.
	int e = errno;
	for (int i = 0; i < 3; i++) {
		if (root_fds[i] >= 0)
			close(root_fds[i]);
		root_fds[i] = -1;
	}
	errno = e;
	return r;
}

// do_open_tree (OP_OPEN_TREE, in the first process, before OP_USERNS:
// still the caller's credentials and mount namespace) opens host path
// str[0] as a detached copy of its mount tree for the OP_BIND of slot arg,
// so that pid 1, which runs as ids the box maps (a root caller's: nobody,
// or root's range), need not reach the source itself: an OCI root engine's
// per-container files are in directories only host root may enter. The
// path is resolved as OP_BIND resolves it (in the host's root, no magic
// links). The copy is made private at once: a clone of a shared mount is
// in its peer group, and the box's mounts must neither reach the host nor
// receive the host's. With str[1] and str[2] (a --rootfs and a box path in
// it), a missing mount point is made there too, resolved inside the rootfs
// (RESOLVE_IN_ROOT), as the caller: pid 1 could not make it in a rootfs
// the caller owns. Without a source (str[0] empty) only that mount point
// is made: one of the box's own mounts (a tmpfs such as containerd's /run)
// in a rootfs without it.
static int do_open_tree(const struct op *o)
{
	if (o->arg >= MAX_TREES) {
		errno = E2BIG;
		return -1;
	}
	if (!*o->str[0])
		return make_point(o->str[1], o->str[2], 0);
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	const char *p = o->str[0];
	while (*p == '/')
		p++;
	int fd = xopenat2(root, *p ? p : ".", O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	int e = errno;
	close(root);
	if (fd < 0) {
		errno = e;
		return (o->flags & F_TRY) && e == ENOENT ? 0 : -1;
	}
	int t = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	e = errno;
	close(fd);
	if (t < 0) {
		errno = e;
		return -1;
	}
	struct mount_attr a = {.propagation = MS_PRIVATE};
	struct stat st;
	int r = (int)syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a);
	if (r == 0)
		r = fstat(t, &st);
	if (r == 0)
		r = make_point(o->str[1], o->str[2], !S_ISDIR(st.st_mode));
	if (r < 0) {
		e = errno;
		close(t);
		errno = e;
		return -1;
	}
	if (trees[o->arg] >= 0)
		close(trees[o->arg]);
	trees[o->arg] = t;
	return 0;
}

static int do_bind(const struct op *o)
{
	int tree = (o->flags & F_TREE) != 0;
	int src;
	if (tree) {
		// The source was opened by the first process as the caller
		// (OP_OPEN_TREE): a detached copy of its mounts, attached here.
		if (o->arg >= MAX_TREES) {
			errno = EINVAL;
			return -1;
		}
		src = trees[o->arg];
		trees[o->arg] = -1;
		if (src < 0) {
			if (o->flags & F_TRY)
				return 0; // the source did not exist (ENOENT there)
			errno = EBADF;
			return -1;
		}
	} else {
		src = open_in(OLDROOT, o->str[0], 0);
		if (src < 0)
			return (o->flags & F_TRY) && errno == ENOENT ? 0 : -1;
	}
	struct stat st;
	if (fstat(src, &st) < 0)
		goto fail;
	if (o->flags & F_TOP_WRITABLE) {
		// Before the box's own flags: what the host's mount is.
		struct statvfs sv;
		if (fstatvfs(src, &sv) < 0)
			goto fail;
		rootfs_src_ro = (sv.f_flag & ST_RDONLY) != 0;
	}
	int dst = open_made(NEWROOT, o->str[1], !S_ISDIR(st.st_mode), 0);
	if (dst < 0)
		goto fail;
	char s[64], d[64];
	fdpath(s, sizeof s, src);
	fdpath(d, sizeof d, dst);
	int covered = covers_root(dst);
	int r = tree ? (int)syscall(SYS_move_mount, src, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
		     : mount(s, d, NULL, MS_BIND | MS_REC, NULL);
	int e = errno;
	close(dst);
	close(src);
	errno = e;
	if (r < 0)
		return -1;
	if (covered)
		root_covered();
	uint64_t attr = 0;
	if (o->flags & F_READONLY)
		attr |= MOUNT_ATTR_RDONLY;
	if (o->flags & F_NODEV)
		attr |= MOUNT_ATTR_NODEV;
	if (o->flags & F_NOSUID)
		attr |= MOUNT_ATTR_NOSUID;
	// Recursive (AT_RECURSIVE), so every mount the host had below the
	// source comes in with the bind's flags, not its own: a submount under
	// a read-only bind is read-only, and none keeps dev or suid.
	if (attr && setattr(o->str[1], attr, 1) < 0)
		return -1;
	// --rootfs: its submounts are read-only from here on, but its top stays
	// writable until the plan's read-only op on "/", so that the box's mount
	// points can still be made in it. A top the host locked read-only
	// cannot be made writable: then it stays read-only (EPERM is expected).
	if ((o->flags & F_TOP_WRITABLE) && (o->flags & F_READONLY)) {
		int fd = open_in(NEWROOT, o->str[1], 0);
		if (fd < 0)
			return -1;
		struct mount_attr a = {.attr_clr = MOUNT_ATTR_RDONLY};
		r = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a);
		e = errno;
		close(fd);
		if (r < 0 && e != EPERM) {
			errno = e;
			return -1;
		}
	}
	return 0;
fail:
	e = errno;
	close(src);
	errno = e;
	return -1;
}

// mount_src mounts a new file system named src (what mountinfo shows as its
// source) of type fstype on box path path.
static int mount_src(const char *src, const char *fstype, const char *path, unsigned long flags, const char *data)
{
	int fd = open_made(NEWROOT, path, 0, O_DIRECTORY);
	if (fd < 0)
		return -1;
	char d[64];
	fdpath(d, sizeof d, fd);
	int covered = covers_root(fd);
	int r = mount(src, d, fstype, flags, data && *data ? data : NULL);
	int e = errno;
	close(fd);
	errno = e;
	if (r == 0 && covered)
		root_covered();
	return r;
}

static int mount_fs(const char *fstype, const char *path, unsigned long flags, const char *data)
{
	return mount_src(fstype, fstype, path, flags, data);
}

static int do_symlink(const struct op *o)
{
	const char *link = o->str[1];
	const char *base = strrchr(link, '/');
	char parent[4096];
	size_t n = base ? (size_t)(base - link) : 0;
	if (n >= sizeof parent) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(parent, link, n);
	parent[n] = 0;
	int pfd = open_made(NEWROOT, parent, 0, O_DIRECTORY);
	if (pfd < 0)
		return -1;
	int r = symlinkat(o->str[0], pfd, base ? base + 1 : link);
	int e = errno;
	close(pfd);
	errno = e;
	return r < 0 && e == EEXIST ? 0 : r;
}

static int do_mask(const struct op *o)
{
	int fd = open_in(NEWROOT, o->str[0], 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	int r = fstat(fd, &st);
	char d[64];
	fdpath(d, sizeof d, fd);
	int covered = covers_root(fd);
	if (r == 0 && S_ISDIR(st.st_mode))
		r = mount("tmpfs", d, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
	else if (r == 0)
		r = mount(OLDROOT "/dev/null", d, NULL, MS_BIND, NULL);
	int e = errno;
	close(fd);
	errno = e;
	if (r == 0 && covered)
		root_covered();
	if (r == 0 && !S_ISDIR(st.st_mode))
		r = setattr(o->str[0], MOUNT_ATTR_RDONLY, 0);
	return r;
}

// do_sysctl writes "name=value" entries (str[1], NUL-separated) to the files
// of the box directory str[0]: /proc/sys/user of the box's new /proc, the
// limits of its own user namespace, written while pid 1 still holds
// CAP_SYS_RESOURCE there and before /proc/sys is made read-only.
static int do_sysctl(const struct op *o)
{
	int dir = open_in(NEWROOT, o->str[0], O_DIRECTORY);
	if (dir < 0)
		return -1;
	const char *p = o->str[1], *end = o->str[1] + o->len[1];
	int r = 0;
	while (p < end && r == 0) {
		size_t l = strlen(p);
		const char *eq = memchr(p, '=', l);
		char name[64];
		size_t nl = eq ? (size_t)(eq - p) : 0;
		if (!eq || nl == 0 || nl >= sizeof name || memchr(p, '/', nl)) {
			errno = EINVAL;
			r = -1;
			break;
		}
		memcpy(name, p, nl);
		name[nl] = 0;
		int fd = openat(dir, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			// ENOENT: a limit this kernel lacks. EACCES with F_TRY: the
			// IPC sysctls are writable only by uid 0 of the box's user
			// namespace, which --uid N under --map self leaves unmapped.
			// F_STRICT: a sysctl the caller asked for (an OCI
			// config's) is set or the box fails.
			if ((errno != ENOENT || (o->flags & F_STRICT)) && !((o->flags & F_TRY) && errno == EACCES))
				r = -1;
		} else {
			ssize_t w = write(fd, eq + 1, l - nl - 1);
			int e = errno;
			close(fd);
			errno = e;
			if (w < 0)
				r = -1;
		}
		p += l + 1;
	}
	int e = errno;
	close(dir);
	errno = e;
	return r;
}

static int do_readonly(const struct op *o)
{
	// A writable root (root.readonly false): read-only only where the
	// host's mount of the rootfs is.
	if (o->arg == RO_AS_SOURCE && !rootfs_src_ro)
		return 0;
	if (o->flags & F_SELFBIND) {
		int fd = open_in(NEWROOT, o->str[0], 0);
		if (fd < 0)
			return errno == ENOENT ? 0 : -1;
		char d[64];
		fdpath(d, sizeof d, fd);
		int covered = covers_root(fd);
		int r = mount(d, d, NULL, MS_BIND | MS_REC, NULL);
		int e = errno;
		close(fd);
		errno = e;
		if (r < 0)
			return -1;
		if (covered)
			root_covered();
	}
	return setattr(o->str[0], MOUNT_ATTR_RDONLY, (o->flags & F_RECURSIVE) != 0);
}

// pivot enters the new root and detaches everything else: the base tmpfs and,
// under it, the host's root. pivot_root(".", ".") stacks the old root on top
// of the new one; unmounting "." then removes it (pivot_root(2), NOTES).
static int do_pivot(void)
{
	for (int i = 0; i < 3; i++) {
		if (root_fds[i] >= 0)
			close(root_fds[i]);
		root_fds[i] = -1;
	}
	// A tree not attached (its bind skipped) is a piece of the host's
	// mounts: none crosses the pivot.
	for (int i = 0; i < MAX_TREES; i++) {
		if (trees[i] >= 0)
			close(trees[i]);
		trees[i] = -1;
	}
	if (chdir(NEWROOT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return -1;
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	pivoted = 1;
	return 0;
}

static int do_loopback(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	errno = e;
	return r;
}

// set_groups gives the payload the supplementary groups of str[0] (decimal
// gids, NUL-separated; none when empty), all mapped in the box's user
// namespace (the Plan checked): an OCI config's additionalGids.
static int set_groups(const struct op *o)
{
	size_t n = 0;
	for (uint32_t i = 0; i < o->len[0]; i++)
		n += o->str[0][i] == 0;
	gid_t *g = calloc(n ? n : 1, sizeof *g);
	if (!g)
		return -1;
	size_t k = 0;
	for (const char *p = o->str[0]; k < n; p += strlen(p) + 1) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (errno || *end || end == p || v > UINT32_MAX - 1) {
			free(g);
			errno = EINVAL;
			return -1;
		}
		g[k++] = (gid_t)v;
	}
	int r = setgroups(n, g);
	int e = errno;
	free(g);
	errno = e;
	return r;
}

// do_creds leaves the payload with exactly the kept capabilities under its
// final uid and gid. The order matters: the bounding set can only be dropped
// while CAP_SETPCAP is held, and setresuid away from 0 clears the permitted
// set unless PR_SET_KEEPCAPS is on (capabilities(7)).
static int do_creds(const struct op *o)
{
	uint64_t keep = o->arg;
	uid_t uid = (uid_t)o->arg2;
	gid_t gid = (gid_t)o->arg3;
	for (int cap = 0; cap <= 63; cap++) {
		if (keep & (1ull << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -1;
	if ((o->flags & F_SETGROUPS) && set_groups(o) < 0)
		return -1;
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -1;
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
		{(uint32_t)keep, (uint32_t)keep, (uint32_t)keep},
		{(uint32_t)(keep >> 32), (uint32_t)(keep >> 32), (uint32_t)(keep >> 32)},
	};
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -1;
	// A kept capability survives execve for a non-root uid only as ambient.
	for (int cap = 0; cap <= 63; cap++)
		if ((keep & (1ull << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return -1;
	return 0;
}

static int do_seccomp(const struct op *o)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(o->len[0] / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(uintptr_t)o->str[0],
	};
	if (o->len[0] % sizeof(struct sock_filter) != 0 || prog.len == 0) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
}

// The Landlock ruleset attribute as of ABI 6 (landlock(7)): the installed
// <linux/landlock.h> may predate its scoped field. The scope bits come from
// the Plan (Go's golang.org/x/sys/unix LANDLOCK_SCOPE_*), so none are
// spelled here.
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

// do_landlock puts the payload in a Landlock domain that handles no access
// right, only the scopes in arg: abstract unix sockets and signals outside
// the domain are out of reach, files and the network are untouched.
static int do_landlock(const struct op *o)
{
	struct ll_ruleset_attr attr = {.scoped = o->arg};
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (fd < 0)
		return -1;
	int r = (int)syscall(SYS_landlock_restrict_self, fd, 0);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

// split turns a NUL-separated list into a NULL-terminated vector.
static char **split(const char *s, uint32_t len)
{
	size_t n = 0;
	for (uint32_t i = 0; i < len; i++)
		n += s[i] == 0;
	char **v = calloc(n + 2, sizeof *v);
	if (!v)
		return NULL;
	size_t k = 0;
	for (uint32_t i = 0; i < len; i += (uint32_t)strlen(s + i) + 1)
		v[k++] = (char *)s + i;
	v[k] = NULL;
	return v;
}

// do_exec searches path (the box's PATH, not this process's empty
// environment) as execvp(3) does; it only returns on failure.
static int do_exec(const struct op *o)
{
	char **argv = split(o->str[0], o->len[0]);
	char **envp = split(o->str[1], o->len[1]);
	if (!argv || !envp || !argv[0]) {
		errno = EINVAL;
		return -1;
	}
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return -1;
	}
	int saw_eacces = 0;
	const char *p = o->str[2];
	char full[4096];
	for (;;) {
		const char *end = strchrnul(p, ':');
		size_t dl = (size_t)(end - p);
		if (dl == 0)
			dl = 1, p = ".";
		if (dl + strlen(argv[0]) + 2 <= sizeof full) {
			memcpy(full, p, dl);
			full[dl] = '/';
			strcpy(full + dl + 1, argv[0]);
			execve(full, argv, envp);
			if (errno == EACCES)
				saw_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG)
				return -1;
		}
		if (!*end)
			break;
		p = end + 1;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return -1;
}

// write_file writes text to a /proc file in one write(2), as the id map
// files require.
static int write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, len);
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)len ? 0 : -1;
}

// do_userns makes the box's user namespace. unshare(2) gives this process
// every capability in it at once (user_namespaces(7)); its ids are unmapped
// until the maps are written: by itself when the Plan carries them (the
// caller's own ids alone, setgroups denied first, as the kernel requires of
// an unprivileged writer), else by the supervisor or newuidmap, for which
// it says it is ready and waits. A v1 cgroup move happens in that wait too,
// before any other namespace (the cgroup namespace is rooted where the
// process is when it is made).
static int do_userns(const struct op *o)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	if (o->len[0] > 0) {
		if (write_file("/proc/self/setgroups", "deny", 4) < 0 ||
		    write_file("/proc/self/gid_map", o->str[1], o->len[1]) < 0 ||
		    write_file("/proc/self/uid_map", o->str[0], o->len[0]) < 0)
			return -1;
	}
	if (hold) {
		unsigned char b;
		report(MSG_USERNS, 0, 0, 0);
		if (read_full(sync_fd, &b, 1) < 0) {
			errno = EPIPE; // the supervisor is gone
			return -1;
		}
	}
	if (o->flags & F_SWITCHID) {
		// A root caller's process is host root, which is mapped to
		// nothing here: become the mapped id (host nobody, or root's
		// range) before anything else, and drop root's groups.
		if ((o->flags & F_SETGROUPS) && setgroups(0, NULL) < 0)
			return -1;
		if (setresgid((gid_t)o->arg3, (gid_t)o->arg3, (gid_t)o->arg3) < 0 ||
		    setresuid((uid_t)o->arg2, (uid_t)o->arg2, (uid_t)o->arg2) < 0)
			return -1;
	}
	return 0;
}

// prologue prepares pid 1's mount namespace: a private propagation for
// everything below, then a tmpfs base holding the host root (OLDROOT) and the
// new root (NEWROOT) side by side. MS_PRIVATE, not bubblewrap's MS_SLAVE: a
// mount the host makes later under a --ro-bind source would otherwise appear
// in the box with its own (writable) flags. The price: a host unmount does
// not reach a running box either.
static int prologue(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
	    mkdir(BASE OLDROOT, 0755) < 0 || mkdir(BASE NEWROOT, 0755) < 0 ||
	    syscall(SYS_pivot_root, BASE, BASE OLDROOT) < 0 || chdir("/") < 0)
		return -1;
	return 0;
}

// spawn starts pid 1 of the new pid namespace with CLONE_PARENT, so that the
// supervisor is its parent: it waits for it, and its death kills it
// (PR_SET_PDEATHSIG, set again here since clone clears it). This process
// reports pid 1's host pid and exits; the child returns 0 and goes on.
static int spawn(long index, uint64_t flags)
{
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return -1;
	if (pid > 0) {
		report(MSG_PID, (int)index, 0, pid);
		_exit(0);
	}
	// F_DETACH (an OCI container, sandbox.Create): pid 1 outlives the
	// process that created it and is re-parented to the engine's
	// subreaper (conmon, a containerd shim), which waits for it.
	detached = (flags & F_DETACH) != 0;
	if (!detached && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -1;
	// The supervisor may have died before the line above: then its end of
	// the sync socket is closed and reads as EOF (the release byte, if
	// any, was read before the clone; the next byte, the first process's
	// end, may already be there and is no sign of that).
	unsigned char b;
	if (recv(sync_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		_exit(125);
	// pid 1 says it exists itself too: the supervisor reads its host pid
	// from the message's credentials (SO_PASSCRED). The first process's
	// MSG_PID alone is not enough: a SIGKILL between its clone and its
	// report (the supervisor's own timeout, or any process of the caller)
	// would leave a pid 1 the supervisor cannot name, kill or wait for.
	report(MSG_PID, (int)index, 0, 0);
	if (sandbox_sanitizer_log)
		sandbox_sanitizer_log(0); // the log's descriptor, in this new process
	prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
	if (prologue() < 0)
		return -1;
	// Its pid in the caller's pid namespace, for the hooks' state: the
	// caller's /proc is still there, under the old root.
	ssize_t n = readlink(OLDROOT "/proc/self", host_pid, sizeof host_pid - 1);
	host_pid[n > 0 ? n : 0] = 0;
	return 0;
}

// do_setns joins existing namespaces: Str[0] lists their paths, Str[1]
// their CLONE_NEW* types in decimal, NUL-separated, in the order to join
// them. All are opened first: once the first is joined, a path may no
// longer be reachable (a mount namespace's /proc) or openable (a box's
// pid 1 is not dumpable, and only the namespace its memory belongs to may
// open its /proc files). Used before OpUserns (a config's network
// namespace) and by a process joining a running box (OCI exec).
#define MAX_JOIN 8
static int do_setns(const struct op *o)
{
	int fds[MAX_JOIN], types[MAX_JOIN], n = 0, r = 0;
	const char *p = o->str[0], *t = o->str[1];
	const char *pend = o->str[0] + o->len[0], *tend = o->str[1] + o->len[1];
	while (p < pend && t < tend && n < MAX_JOIN) {
		types[n] = atoi(t);
		fds[n] = open(p, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			r = -1;
			break;
		}
		n++;
		p += strlen(p) + 1;
		t += strlen(t) + 1;
	}
	if (r == 0 && p < pend) { // more than MAX_JOIN: never join only some
		errno = E2BIG;
		r = -1;
	}
	for (int i = 0; r == 0 && i < n; i++)
		r = setns(fds[i], types[i]);
	int e = errno;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	errno = e;
	return r;
}

static int run_op(const struct op *o)
{
	switch (o->code) {
	case OP_BIND:
		return do_bind(o);
	case OP_TMPFS:
		return mount_src(*o->str[2] ? o->str[2] : "tmpfs", "tmpfs", o->str[0],
				MS_NOSUID | MS_NODEV | ((o->flags & F_NOEXEC) ? MS_NOEXEC : 0), o->str[1]);
	case OP_PROC:
		return mount_fs("proc", o->str[0], MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	case OP_MQUEUE:
		return mount_fs("mqueue", o->str[0], MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	case OP_DEVPTS:
		return mount_fs("devpts", o->str[0], MS_NOSUID | MS_NOEXEC,
				*o->str[1] ? o->str[1] : "newinstance,ptmxmode=0666,mode=0620");
	case OP_SYMLINK:
		return do_symlink(o);
	case OP_MKDIR:
		return make_in(NEWROOT, o->str[0], 0);
	case OP_MASK:
		return do_mask(o);
	case OP_READONLY:
		return do_readonly(o);
	case OP_PIVOT:
		return do_pivot();
	case OP_HOSTNAME:
		return sethostname(o->str[0], o->len[0]);
	case OP_LOOPBACK:
		return do_loopback();
	case OP_SESSION:
		if (setsid() < 0 && errno != EPERM)
			return -1;
		// A fresh anonymous session keyring: the caller's keys stay out.
		if ((o->flags & F_KEYRING) && syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL) < 0)
			return -1;
		return 0;
	case OP_NOT_DUMPABLE:
		return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	case OP_CHDIR: {
		int fd = open_in("/", o->str[0], O_DIRECTORY);
		if (fd < 0)
			return -1;
		// A working directory in procfs is how runc's CVE-2024-21626
		// reached a host fd. The Spec refuses paths under /proc, but an
		// ordinary symlink (/dev/fd -> /proc/self/fd) gets there by
		// another name: judge the directory opened, not the string.
		struct statfs sf;
		int r = fstatfs(fd, &sf);
		if (r == 0 && sf.f_type == PROC_SUPER_MAGIC) {
			errno = EACCES;
			r = -1;
		}
		if (r == 0)
			r = fchdir(fd);
		int e = errno;
		close(fd);
		errno = e;
		return r;
	}
	case OP_RLIMIT: {
		struct rlimit rl = {(rlim_t)o->arg2, (rlim_t)o->arg3};
		return setrlimit((int)o->arg, &rl);
	}
	case OP_CREDS:
		return do_creds(o);
	case OP_NO_NEW_PRIVS:
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	case OP_SECCOMP:
		return do_seccomp(o);
	case OP_LANDLOCK:
		return do_landlock(o);
	case OP_TTY:
		return open_tty();
	case OP_SYSCTL:
		return do_sysctl(o);
	case OP_USERNS:
		return do_userns(o);
	case OP_UNSHARE:
		return unshare((int)o->arg);
	case OP_NETHOLD: {
		// --net user: the box's network namespace exists; the supervisor
		// installs its egress policy and starts the network stack on it
		// (through /proc/<this pid>/ns), then sends the release byte.
		// Nothing of the box runs before that.
		unsigned char b;
		report(MSG_NET, 0, 0, 0);
		if (read_full(sync_fd, &b, 1) < 0) {
			errno = EPIPE; // the supervisor is gone, or gave up
			return -1;
		}
		return 0;
	}
	case OP_SETCTTY:
		// --tty: the box's own pseudo-terminal (never the caller's)
		// becomes the payload's stdio and controlling terminal.
		if (tty_slave < 0 || dup2(tty_slave, 0) < 0 || dup2(tty_slave, 1) < 0 || dup2(tty_slave, 2) < 0)
			return -1;
		close(tty_slave);
		tty_slave = -1;
		return ioctl(0, TIOCSCTTY, 0);
	case OP_EXEC:
		return do_exec(o);
	case OP_SETNS:
		return do_setns(o);
	case OP_OPEN_TREE:
		return do_open_tree(o);
	case OP_HOOK_HOLD: {
		// The box's mounts are made: the runtime runs its prestart and
		// createRuntime hooks, which come before the createContainer
		// hooks that follow, and sends the release byte.
		unsigned char b;
		report(MSG_HOOK_HOLD, 0, 0, 0);
		if (read_full(sync_fd, &b, 1) < 0) {
			errno = EPIPE; // the runtime is gone, or a hook failed
			return -1;
		}
		return 0;
	}
	case OP_READY:
		// Setup is done: the supervisor may hand the box over (OCI
		// create) while pid 1 waits at OP_FORK for its byte.
		report(MSG_READY, 0, 0, 0);
		return 0;
	}
	errno = ENOSYS;
	return -1;
}

static void forward(int sig)
{
	if (payload_pid > 0)
		kill(payload_pid, sig);
}

// reap is pid 1's life after the payload starts: forward the signals a user
// sends to the supervisor, reap orphans, and once the payload is gone kill
// whatever it left behind, so nothing outlives the run.
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void reap(const sigset_t *unblock)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, unblock, NULL);
	int status = 0, done = 0;
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; // ECHILD: the box is empty
		}
		if (p == payload_pid && !done) {
			status = st;
			done = 1;
			payload_pid = 0;
			// kill(-1) from a pid namespace's init reaches every
			// other process in the namespace, and nothing outside.
			kill(-1, SIGKILL);
		}
	}
	report(MSG_EXIT, 0, 0, status);
	// A detached box's waiter is the engine's (conmon), which reads the
	// payload's status from pid 1's own: 128+N for a signal, as a shell
	// says it (a pid namespace's init cannot die of most signals).
	if (detached)
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	_exit(0);
}

// setup_signal ends the box when a signal to forward arrives before there is
// a payload to forward it to: the kernel drops a default-action signal sent
// to a pid namespace's init (pid_namespaces(7)), so without a handler the
// supervisor's SIGINT or SIGTERM would do nothing and a run stuck in setup
// would hang. The supervisor is told "killed by sig", as if the payload had
// been, and pid 1 exits.
//
// Once this is the box's pid 1, only a signal from outside the box does: the
// engine's or the supervisor's (a sender in an ancestor pid namespace, whose
// pid is 0 here), or the kernel's. A process of the box's own (an OCI hook, a process exec joined
// to it) is not one to end the box as if the engine had; nor can it pass
// for one: si_code SI_USER or SI_TKILL is the kernel's to set
// (rt_sigqueueinfo(2) refuses them from another process), and with it the
// sender's true pid.
static void setup_signal(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (info && getpid() == 1 && info->si_code != SI_KERNEL &&
	    ((info->si_code != SI_USER && info->si_code != SI_TKILL) || info->si_pid != 0))
		return;
	report(MSG_EXIT, 0, 0, sig);
	_exit(128 + sig);
}

// k_sigaction is the kernel's struct for rt_sigaction(2), used directly so
// that every signal is reset, glibc's reserved ones (32, 33) included.
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

// reset_signals undoes what the caller's process left: a Go program that
// ignores SIGCHLD (signal.Ignore) hands SIG_IGN through fork and execve, and
// a pid 1 that ignores SIGCHLD has its children reaped by the kernel, the
// payload's status lost; a blocked signal would never arrive. Every
// disposition goes back to SIG_DFL (the payload inherits them so), the mask
// is emptied, and the signals the supervisor forwards end the box until the
// payload exists.
static void reset_signals(void)
{
	struct k_sigaction dfl = {.handler = SIG_DFL};
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = setup_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
		sigaction(forwarded[i], &sa, NULL);
}

// read_start waits for the byte that starts the payload (an OCI start);
// EOF: the box is being deleted, and pid 1 ends quietly.
static void read_start(void)
{
	unsigned char b;
	if (!started && read_full(sync_fd, &b, 1) < 0)
		_exit(125);
	started = 1;
}

// kill_children kills every child of pid 1 and reaps it, until none is
// left: a hook, and whatever it started and left behind (an orphan in the
// box is re-parented to pid 1, its reaper), so that nothing of a hook
// outlives it into the box's life. Only pid 1's children: a process an
// OCI exec joined to the box has its parent outside and is not one. The
// list is the box's own procfs's (at NEWROOT before the pivot); a kernel
// without it (CONFIG_PROC_CHILDREN) gets kill(-1), which also ends such
// joined processes.
//
// The list is a snapshot, and the hook may have made it (a createContainer
// hook is the box's root: it can leave its chroot and mount over the new
// root's /proc; a startContainer hook with CAP_SYS_ADMIN can over /proc): so
// it is opened without blocking (not a FIFO's open) and believed only from a
// procfs, and no round waits for a child that is not dying. A process that
// forks and exits, its children doing the same, is re-parented to pid 1 only
// as each parent exits and can stay ahead of the rounds for as long as it
// likes, and one the list hides is never killed: so the rounds are bounded
// (KILL_CHASE_NS, a second). Past it, kill(-1), which the kernel sends to
// every process of the namespace at once (a process it reaches cannot
// fork), ends them, joined processes too.
#define KILL_CHASE_NS (1000 * 1000 * 1000)
static void kill_children(void)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "%s/proc/self/task/1/children", pivoted ? "" : NEWROOT);
	struct timespec start, now, tick = {0, 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int all = 0;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((int64_t)(now.tv_sec - start.tv_sec) * 1000000000 + (now.tv_nsec - start.tv_nsec) >= KILL_CHASE_NS)
			all = 1;
		int fd = all ? -1 : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		struct statfs sf;
		if (fd >= 0 && (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC)) {
			close(fd);
			fd = -1;
			all = 1;
		}
		if (fd < 0) {
			kill(-1, SIGKILL);
		} else {
			ssize_t n = read(fd, buf, sizeof buf - 1);
			close(fd);
			// Only whole numbers: one cut at the buffer's end is
			// read in the next round.
			while (n > 0 && buf[n - 1] != ' ')
				n--;
			buf[n > 0 ? n : 0] = 0;
			for (char *p = buf, *end; *p; p = end) {
				long pid = strtol(p, &end, 10);
				if (end == p)
					break;
				if (pid > 1)
					kill((pid_t)pid, SIGKILL);
			}
		}
		pid_t r = waitpid(-1, NULL, __WALL | WNOHANG);
		if (r < 0 && errno == ECHILD)
			return; // none left
		if (r <= 0)
			nanosleep(&tick, NULL);
	}
}

// hook_child is the hook's process: its stdin the state, its stdout and
// stderr pid 1's stderr (the container's), nothing else of pid 1's
// descriptors. A createContainer hook runs before the pivot, with the
// host's tree (the old root, as the box's mount namespace has it) as its
// root: its path and its interpreter resolve as in the runtime's. A
// startContainer hook runs after the pivot, through the payload's own
// steps first (rlimits, credentials, cwd, no_new_privs, Landlock, the
// seccomp filter): what it may do is what the payload may.
static void hook_child(const struct op *ops, long i, long n, int in)
{
	const struct op *o = &ops[i];
	if (setsid() < 0 || dup2(in, 0) < 0 || dup2(2, 1) < 0)
		_exit(125);
	syscall(SYS_close_range, 3, ~0u, 0);
	sync_fd = tty_slave = -1;
	for (int k = 0; k < 3; k++)
		root_fds[k] = -1;
	for (int k = 0; k < MAX_TREES; k++)
		trees[k] = -1;
	if (!pivoted && (chdir(OLDROOT) < 0 || chroot(".") < 0 || chdir("/") < 0))
		_exit(125);
	if (o->flags & F_START_HOOK) {
		long k = i + 1;
		while (k < n && ops[k].code != OP_FORK)
			k++;
		for (k++; k < n && ops[k].code != OP_EXEC; k++)
			if (ops[k].code != OP_SETCTTY && run_op(&ops[k]) < 0)
				_exit(125);
	}
	char **argv = split(o->str[0], o->len[0]); // its path, then its argv
	char **envp = split(o->str[1], o->len[1]);
	if (!argv || !envp || !argv[0] || !argv[1])
		_exit(125);
	execve(argv[0], argv + 1, envp);
	_exit(errno == ENOENT ? 127 : 126);
}

// hook_state is an OpHook's state for its stdin (malloc'd, *len bytes):
// Str[2] with pid 1's pid put before its last byte (the closing brace).
static char *hook_state(const struct op *o, size_t *len)
{
	char tail[48];
	snprintf(tail, sizeof tail, *host_pid ? ",\"pid\":%s}" : "}", host_pid);
	size_t body = o->len[2] > 0 ? o->len[2] - 1 : 0;
	*len = body + strlen(tail);
	char *in = malloc(*len);
	if (in) {
		memcpy(in, o->str[2], body);
		memcpy(in + body, tail, *len - body);
	}
	return in;
}

// do_hook runs an OCI createContainer or startContainer hook (OP_HOOK,
// sandbox.HookOp): in the box's namespaces, as pid 1's child, given the
// state on its stdin, killed when its timeout (Arg seconds, 0: none)
// passes. Whatever it leaves running is killed when it ends. A failure
// is ETIMEDOUT, or ECHILD, with its wait status in op_status (never 0:
// the supervisor tells a hook's failure by it).
static int do_hook(const struct op *ops, long i, long n)
{
	const struct op *o = &ops[i];
	if (o->flags & F_START_HOOK)
		read_start();
	// A hook runs with pid 1's ids and capabilities in the box's user
	// namespace: non-dumpable (as OP_NOT_DUMPABLE makes it after the
	// pivot), pid 1 cannot be ptraced by it, nor its descriptors (the
	// sync socket, the trees opened as the caller) reopened through
	// /proc/1/fd.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -1;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]), close(p[1]);
		return -1;
	}
	if (pid == 0)
		hook_child(ops, i, n, p[0]);
	close(p[0]);
	// The state, Go's JSON with the pid added before its closing brace,
	// written as the hook reads it (the pipe does not block: a hook that
	// never reads its stdin still meets its timeout). A hook that does
	// not read it costs nothing: EPIPE, not SIGPIPE (ignored only here:
	// the payload inherits the default).
	size_t left;
	char *in = hook_state(o, &left);
	if (!in) {
		left = 0;
		close(p[1]), p[1] = -1; // no memory: an empty stdin
	}
	const char *next = in;
	if (p[1] >= 0)
		fcntl(p[1], F_SETFL, O_NONBLOCK);
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);

	struct timespec start, now, tick = {0, 10 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	int st = 0, timed_out = 0;
	for (;;) {
		if (left > 0) {
			ssize_t w = write(p[1], next, left);
			if (w > 0)
				next += w, left -= (size_t)w;
			else if (errno != EAGAIN && errno != EINTR)
				left = 0; // EPIPE: it closed its stdin
			if (left == 0)
				close(p[1]), p[1] = -1;
		}
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ns = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000 + (now.tv_nsec - start.tv_nsec);
		// In seconds: Arg (the config's) times 10^9 may not fit.
		if (o->arg > 0 && ns >= 0 && (uint64_t)ns / 1000000000 >= o->arg) {
			timed_out = 1;
			break;
		}
		nanosleep(&tick, NULL);
	}
	if (p[1] >= 0)
		close(p[1]);
	sigaction(SIGPIPE, &old, NULL);
	free(in);
	kill_children(); // the hook too, when it timed out
	if (timed_out) {
		op_status = SIGKILL; // as killed: a hook's failure is never status 0
		errno = ETIMEDOUT;
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		op_status = st;
		errno = ECHILD;
		return -1;
	}
	return 0;
}

static void run_init(int fd)
{
	sync_fd = fd;
	for (int i = 0; i < MAX_TREES; i++)
		trees[i] = -1;
	reset_signals();
	// Nothing but the sync socket and stdio crosses into the box. The
	// caller's other descriptors are closed, not only marked close-on-exec:
	// this process never execs, and a payload given CAP_SYS_PTRACE
	// (--cap-add) could reopen what pid 1 holds through /proc/1/fd, the
	// leak of runc's CVE-2024-21626. The sync socket itself is
	// close-on-exec so that the payload's exec closes it.
	syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC);
	if (fd > 3)
		syscall(SYS_close_range, 3, (unsigned)fd - 1, 0);
	syscall(SYS_close_range, (unsigned)fd + 1, ~0u, 0);
	if (sandbox_sanitizer_log)
		sandbox_sanitizer_log(1); // closed just now
	// {plan length u32, hold u32}, the plan, and with hold, one release
	// byte once the supervisor has mapped our ids or moved us into our
	// cgroup.
	unsigned char hdr[8];
	if (read_full(fd, hdr, sizeof hdr) < 0)
		_exit(125);
	uint32_t len = get32(hdr);
	if (len > MAX_PLAN)
		_exit(125);
	unsigned char *buf = malloc(len ? len : 1);
	if (!buf || read_full(fd, buf, len) < 0)
		_exit(125);
	hold = get32(hdr + 4) != 0;
	struct op *ops;
	long n = decode(buf, len, &ops);
	if (n < 0) {
		report(MSG_OP_ERROR, -1, EINVAL, 0);
		_exit(125);
	}

	for (long i = 0; i < n; i++) {
		if (ops[i].code == OP_SPAWN) {
			if (spawn(i, ops[i].flags) < 0) {
				report(MSG_OP_ERROR, (int)i, errno, 0);
				_exit(125);
			}
			continue;
		}
		if (ops[i].code == OP_HOOK) {
			if (do_hook(ops, i, n) < 0) {
				report(MSG_OP_ERROR, (int)i, errno, op_status);
				_exit(125);
			}
			continue;
		}
		if (ops[i].code == OP_FORK) {
			// The first process, until the supervisor has reaped it,
			// is charged to the box's user and user namespace like
			// any of its processes: the payload's RLIMIT_NPROC would
			// be one short while it lingers (a slow exit, or a zombie
			// not yet waited for). The supervisor sends one byte once
			// it is reaped; by the end of pid 1's setup it has
			// almost always come. EOF: the supervisor is gone. (In a
			// box of Create's the byte is the start, which a
			// startContainer hook has read already.)
			read_start();
			// The signals to forward stay blocked from before the fork
			// until the reaper's handlers are in place, so that none
			// finds pid 1 without them (and kills the box) or the
			// payload with them.
			sigset_t block, old;
			sigemptyset(&block);
			for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
				sigaddset(&block, forwarded[k]);
			sigprocmask(SIG_BLOCK, &block, &old);
			pid_t pid = fork();
			if (pid < 0) {
				report(MSG_OP_ERROR, (int)i, errno, 0);
				_exit(125);
			}
			if (pid > 0 && (ops[i].flags & F_DETACH)) {
				// A process joining a running box (OCI exec): the
				// runtime learns the new process's host pid, and the
				// process is re-parented to the engine's subreaper.
				report(MSG_PID, (int)i, 0, pid);
				_exit(0);
			}
			if (pid > 0) {
				payload_pid = pid;
				close(0), close(1), close(2);
				// Only the payload holds the terminal: when it and its
				// children are gone, the supervisor reads EOF.
				if (tty_slave >= 0)
					close(tty_slave);
				reap(&old);
			}
			// The payload takes the default dispositions, not pid 1's
			// setup handlers, before the signals are let in.
			struct sigaction dfl;
			memset(&dfl, 0, sizeof dfl);
			dfl.sa_handler = SIG_DFL;
			for (size_t k = 0; k < sizeof forwarded / sizeof *forwarded; k++)
				sigaction(forwarded[k], &dfl, NULL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (sandbox_sanitizer_log)
				sandbox_sanitizer_log(0); // the log's descriptor, in this new process
			continue;
		}
		if (run_op(&ops[i]) < 0) {
			int err = errno;
			report(MSG_OP_ERROR, (int)i, err, 0);
			_exit(ops[i].code == OP_EXEC ? (err == ENOENT ? 127 : 126) : 125);
		}
	}
	report(MSG_OP_ERROR, (int)n, EINVAL, 0); // a plan must end in exec
	_exit(125);
}

// enter_namespaces joins the user namespace on descriptor u, then the
// network namespace on descriptor n, before the Go runtime starts: the
// --net user helper (sandbox/netuser.go) installs a box's egress policy
// from inside its namespaces, which a multi-threaded Go process cannot
// join (setns(2): CLONE_NEWUSER needs a single-threaded caller).
static void enter_namespaces(const char *v)
{
	char *end;
	long u = strtol(v, &end, 10);
	long n = *end == ',' ? strtol(end + 1, &end, 10) : -1;
	if (*end != 0 || u < 0 || n < 0 || setns((int)u, CLONE_NEWUSER) < 0 || setns((int)n, CLONE_NEWNET) < 0) {
		dprintf(2, "sandbox: join the box's namespaces: %s\n", strerror(errno ? errno : EINVAL));
		_exit(125);
	}
	close((int)u);
	close((int)n);
}

__attribute__((constructor)) static void sandbox_init(void)
{
	const char *v = getenv("_SANDBOX_INIT");
	if (v)
		run_init(atoi(v));
	v = getenv("_SANDBOX_NSENTER");
	if (v)
		enter_namespaces(v);
}

#ifdef SANDBOX_INIT_MAIN
// The small init binary (make's sandbox-init: this file alone, static, with
// musl), which the supervisor embeds and executes from a sealed memfd
// (nsinit.Path). The constructor above has run the box and never returns;
// started any other way, there is nothing to do.
int main(void)
{
	return 125;
}
#endif
