// floor: the kernel's share of a box launch, with no sandbox tool around it.
// Each launch: clone into new user, mount, pid, net, ipc, uts and cgroup
// namespaces; the parent writes the id maps (the caller's id alone); the
// child, pid 1, builds a root as bubblewrap's benchmark command does (a tmpfs
// root, read-only binds of /usr and /etc, the merged-/usr symlinks, /proc,
// a /dev tmpfs with null, zero, full, random, urandom and tty bound in, a
// tmpfs /tmp), pivot_roots into it, detaches the old root, and execs the
// payload; pid 1 stays as the reaper (as bubblewrap's does): it forks the
// payload and waits for it. -m minimal does only clone, maps, a tmpfs root,
// /proc, the payload's file bound in, and pivot_root (the floor the issue
// quoted; the payload must then be a static binary); -n leaves out the
// network namespace.
//
//   floor [-m] [-n] [-j P] [-c N] -- CMD [ARG...]
//
// -c N launches in all, -j P at a time (P worker processes, each running
// its share one after the other): the launch rate of a batch mode that
// pays for nothing but the kernel's work and one fork per box. Without -c,
// one launch (a command to run under xargs -P, as bwrap is). Exits non-zero
// if any launch did.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int minimal, nonet;
static char **payload;

#define CHECK(x)                                                                 \
	do {                                                                     \
		if ((x) < 0) {                                                   \
			fprintf(stderr, "floor: %s: %s\n", #x, strerror(errno)); \
			_exit(125);                                              \
		}                                                                \
	} while (0)

static void bind_ro(const char *src, const char *dst, int dir)
{
	if (dir)
		CHECK(mkdir(dst, 0755));
	else
		CHECK(close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)));
	CHECK(mount(src, dst, NULL, MS_BIND | MS_REC, NULL));
	if (dir)
		CHECK(mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REC, NULL));
}

static void child(int rfd)
{
	char c;
	if (read(rfd, &c, 1) != 1)
		_exit(125);
	CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	CHECK(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
	CHECK(chdir("/tmp"));
	CHECK(mkdir("proc", 0755));
	CHECK(mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	if (minimal) {
		bind_ro(payload[0], "payload", 0);
	} else {
		bind_ro("/usr", "usr", 1);
		bind_ro("/etc", "etc", 1);
		CHECK(symlink("usr/bin", "bin"));
		CHECK(symlink("usr/lib", "lib"));
		CHECK(symlink("usr/lib64", "lib64"));
		CHECK(symlink("usr/sbin", "sbin"));
		CHECK(mkdir("dev", 0755));
		CHECK(mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755"));
		const char *devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
		for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) {
			char s[32], d[32];
			snprintf(s, sizeof s, "/dev/%s", devs[i]);
			snprintf(d, sizeof d, "dev/%s", devs[i]);
			bind_ro(s, d, 0);
		}
		CHECK(mkdir("tmp", 0755));
		CHECK(mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, NULL));
	}
	CHECK(syscall(SYS_pivot_root, ".", "."));
	CHECK(umount2(".", MNT_DETACH));
	CHECK(chdir("/"));
	pid_t pid = fork();
	CHECK(pid);
	if (pid == 0) {
		execv(minimal ? "/payload" : payload[0], payload);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			_exit(125);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return r;
}

static int launch(void)
{
	int p[2];
	CHECK(pipe2(p, O_CLOEXEC));
	int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
	if (!nonet)
		flags |= CLONE_NEWNET;
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	CHECK(pid);
	if (pid == 0) {
		close(p[1]);
		child(p[0]);
	}
	close(p[0]);
	char path[64], map[64];
	snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
	CHECK(write_file(path, "deny"));
	snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
	snprintf(map, sizeof map, "0 %d 1", getgid());
	CHECK(write_file(path, map));
	snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
	snprintf(map, sizeof map, "0 %d 1", getuid());
	CHECK(write_file(path, map));
	CHECK(write(p[1], "x", 1));
	close(p[1]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int jobs = 1, count = 0, opt;
	while ((opt = getopt(argc, argv, "mnj:c:")) != -1) {
		switch (opt) {
		case 'm': minimal = 1; break;
		case 'n': nonet = 1; break;
		case 'j': jobs = atoi(optarg); break;
		case 'c': count = atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind >= argc || jobs < 1)
		return 2;
	payload = argv + optind;
	if (count == 0)
		return launch() < 0;
	for (int w = 0; w < jobs; w++) {
		if (fork() == 0) {
			int fails = 0;
			for (int i = w; i < count; i += jobs)
				fails += launch() < 0;
			_exit(fails != 0);
		}
	}
	int bad = 0, st;
	while (wait(&st) > 0)
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	return bad;
}
