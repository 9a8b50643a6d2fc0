module github.com/sandbox-dev/sandbox

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/containerd/cgroups/v3 v3.1.3
	github.com/seccomp/libseccomp-golang v0.11.1
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require github.com/moby/sys/userns v0.1.0 // indirect
