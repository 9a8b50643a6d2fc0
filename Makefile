# sandbox: build, demo, tests, benchmark.
#
#   make demo    build, then run a shell command in a sandbox (host view, no rootfs needed)
#   make test    vet, unit tests, integration tests as an unprivileged user, a short fuzz run
#   make sanitize  the integration tests against a build whose C code (the init
#                stage) has AddressSanitizer and UndefinedBehaviorSanitizer
#   make bench   launch cost and throughput side by side with bubblewrap and unshare(1)
#   make vmtest  the cgroup and limit tests in a cgroup v2 guest with systemd
#                (Debian's kernel under qemu; see vm/run.sh)
#   make ocitest the OCI engine tests (podman, containerd) and the OCI
#                runtime-tools validation suite against bin/sandbox-oci (root)
#
# Run as root, `make deps` (a prerequisite of every target) installs the Debian
# packages it needs, and `make test` creates the unprivileged test user.

GO       ?= go
BIN      := bin/sandbox
TESTUSER ?= sandbox-test
# Build: cgo for libseccomp; run: libseccomp2. Tests: busybox-static for the
# rootfs fixture, uidmap for --map auto, passt (pasta) for --net user and
# iproute2 for its test lab; musl-tools: the small init binary (see INITBIN).
# Bench: bubblewrap, hyperfine. The OCI stage: podman and containerd (its ctr
# and runc shim), real engines driving bin/sandbox-oci (the containerd test
# starts a private containerd, never the system's).
DEBS      := gcc libc6-dev libseccomp-dev pkg-config musl-tools busybox-static uidmap python3 passt iproute2
OCIDEBS   := podman containerd
BENCHDEBS := bubblewrap hyperfine python3 linux-perf
# The VM stage: qemu, cpio for the initramfs, and what the guest boots from
# this host's own tree: systemd, D-Bus and a user bus for the user manager.
VMDEBS    := qemu-system-x86 cpio systemd dbus dbus-user-session libpam-systemd

.PHONY: all build initbin demo deps test unit integration fuzz bench clean testuser sanitize vmtest ocitest

all: build

deps:
	@missing=$$(for p in $(DEBS) $(EXTRADEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:" $$missing; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages: $$missing (run: sudo apt-get install $$missing)" >&2; exit 1; \
		fi; \
	fi

# The small init binary: init.c alone, static, with musl (about 60 kB), which
# the Go binary embeds and runs from a sealed memfd as the box's init stage
# (sandbox/internal/nsinit/embed.go); without it, a plain go build runs the
# same init.c from its own 9.6 MB binary. musl's headers lack the kernel's:
# a directory of links to linux-libc-dev's comes after them.
INITBIN  := sandbox/internal/nsinit/initbin/sandbox-init
MUSLINC  := bin/musl-include

# Static: no dynamic loader on the launch path of the supervisor (nor of the
# box's init stage where it is this same binary, re-executed, in a build
# without INITBIN). osusergo/netgo keep glibc's NSS out of a static link.
VERSION       := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -tags osusergo,netgo -ldflags '-s -w -extldflags "-static" -X main.version=$(VERSION)'

build: deps $(INITBIN)
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/sandbox
	ln -sf sandbox bin/sandbox-oci

initbin: $(INITBIN)
$(INITBIN): sandbox/internal/nsinit/init.c | deps
	@mkdir -p $(MUSLINC)
	@for d in linux asm-generic; do ln -sfn /usr/include/$$d $(MUSLINC)/$$d; done
	@ln -sfn /usr/include/$$(gcc -print-multiarch)/asm $(MUSLINC)/asm
	musl-gcc -static -Os -Wall -Wextra -Wno-unused-parameter -Werror -DSANDBOX_INIT_MAIN \
		-idirafter $(MUSLINC) -Wl,--gc-sections -ffunction-sections -fdata-sections -s \
		-o $@ sandbox/internal/nsinit/init.c
	sha256sum < sandbox/internal/nsinit/init.c | cut -d' ' -f1 > $@.sha256

demo: build
	./$(BIN) exec -- /bin/sh -c 'echo "hello from $$(hostname): pid $$$$, uid $$(id -u)"; echo "I see:" $$(ls /); touch /usr/x 2>/dev/null || echo "and /usr is read-only"'

# The integration tests run the box as an unprivileged user; as root, make
# one (with a subordinate id range for --map auto), and one without a range
# for the error path.
testuser:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(TESTUSER) >/dev/null 2>&1; then \
		useradd --create-home --shell /bin/sh $(TESTUSER); \
	fi
	@if [ "$$(id -u)" = 0 ] && ! grep -q "^$(TESTUSER):" /etc/subuid 2>/dev/null; then \
		usermod --add-subuids 300000-365535 --add-subgids 300000-365535 $(TESTUSER); \
	fi
	@if [ "$$(id -u)" = 0 ] && ! id -u $(TESTUSER)-nosub >/dev/null 2>&1; then \
		useradd -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 --shell /bin/sh $(TESTUSER)-nosub; \
	fi

# The tests of the cgroup v2 paths (a systemd user manager's scope, the v2
# cgroup-setup) need a v2-only host: on any other host they are left out here
# by name, and `make vmtest` runs them in its v2 guest. Left out, not skipped:
# in CI (CI=true) a skip fails, so that none hides a missing feature.
V2ONLY   := ^(TestSystemdUser|TestCgroupV2)
HOSTSKIP := $(if $(wildcard /sys/fs/cgroup/cgroup.controllers),,$(V2ONLY))

# The tests that drive bin/sandbox-oci through a real engine (podman,
# containerd) are the OCI stage's (make ocitest): left out of make test and
# make sanitize by name, as the v2-only ones are.
OCIENGINE := ^(TestOCIPodman|TestOCIContainerd)
TESTSKIP  := $(OCIENGINE)$(if $(HOSTSKIP),|$(HOSTSKIP))

# The library soak (TestSoak: 5,000 runs, about a minute) has its own line,
# without the race detector, which would make it take many minutes.
test: deps testuser $(INITBIN)
	$(GO) vet ./...
	SANDBOX_TEST_USER=$(TESTUSER) $(GO) test -race -count=1 -skip '^TestSoak$$|$(TESTSKIP)' ./...
	SANDBOX_TEST_USER=$(TESTUSER) $(GO) test -count=1 -run '^TestSoak$$' ./sandbox/
	$(MAKE) fuzz

# The sanitizer build: the C code (init.c, run before the Go runtime in the
# box's pid 1, and libseccomp's bindings) with ASan and UBSan (in trap mode:
# see sandbox/internal/nsinit/sanitize.c), the Go code as usual. Not static:
# ASan's runtime is a shared library. Its reports go to SANITIZE_LOG, made
# here writable by the box's host uid; the suite fails if it is not empty.
SANITIZE_LOG   ?= /tmp/sandbox-sanitizer.log
SANITIZE_BIN   := bin/sandbox-sanitize
SANITIZE_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fsanitize-undefined-trap-on-error -fno-sanitize-recover=all
SANITIZE_RUN   ?= .

sanitize: deps testuser
	CGO_CFLAGS='$(SANITIZE_FLAGS) -DSANDBOX_SANITIZER_LOG="$(SANITIZE_LOG)"' CGO_LDFLAGS='-fsanitize=address' \
		$(GO) build -tags sanitize,osusergo,netgo -o $(SANITIZE_BIN) ./cmd/sandbox
	rm -f $(SANITIZE_LOG) && install -m 0666 /dev/null $(SANITIZE_LOG)
	SANDBOX_TEST_BIN=$(CURDIR)/$(SANITIZE_BIN) SANDBOX_SANITIZER_LOG=$(SANITIZE_LOG) SANDBOX_TEST_USER=$(TESTUSER) \
		$(GO) test -count=1 -run '$(SANITIZE_RUN)' -skip '$(TESTSKIP)' ./cmd/sandbox/
	@if [ -s $(SANITIZE_LOG) ]; then cat $(SANITIZE_LOG); echo "sanitizer reports in $(SANITIZE_LOG)" >&2; exit 1; fi

# A short run of every fuzz target (go test -fuzz takes one target at a time).
# A run that ends in a bare "context deadline exceeded" with no failing input
# is Go's own fuzzing coordinator racing -fuzztime's deadline (golang/go#75804,
# fixed in Go 1.27; this is Go 1.26): it is run once more, any other failure
# fails.
FUZZTIME ?= 10s
fuzz:
	@for f in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go')); do \
		dir=./$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$dir $$t"; \
			log=$$(mktemp); \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir >$$log 2>&1; rc=$$?; \
			cat $$log; \
			if [ $$rc != 0 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input' $$log; then \
				echo "fuzz $$dir $$t: the fuzzer's own deadline race (a worker busy at -fuzztime's end, no failing input): again"; \
				$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir || { rm -f $$log; exit 1; }; \
			elif [ $$rc != 0 ]; then rm -f $$log; exit 1; fi; \
			rm -f $$log; \
		done; \
	done

# The guest's result decides: vm/run.sh fails if its tests fail or it does
# not finish within VM_TIMEOUT seconds.
vmtest: EXTRADEBS = $(VMDEBS)
vmtest: deps testuser $(INITBIN)
	SANDBOX_TEST_USER=$(TESTUSER) ./vm/run.sh

# The OCI stage, as root: the engine tests (as the unprivileged test user
# and as root; CI=true makes a skip fail), then the runtime-tools validation
# suite (tools/oci-validation: its own module, v0.9.0 pinned with the
# runtime-spec and selinux versions it builds with), which fails on a check
# not in tools/oci-validation/expected-failures or on a listed one that
# passes. See docs/oci.md.
ocitest: EXTRADEBS = $(OCIDEBS)
ocitest: build testuser
	SANDBOX_TEST_USER=$(TESTUSER) $(GO) test -count=1 -run '$(OCIENGINE)' ./cmd/sandbox/
	./tools/oci-validation/run.sh

bench: EXTRADEBS = $(BENCHDEBS)
bench: build testuser
	./bench/run.sh

clean:
	rm -rf bin $(INITBIN) $(INITBIN).sha256
