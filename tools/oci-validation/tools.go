//go:build tools

// Package tools pins the OCI runtime-tools validation suite (its validation/
// programs and cmd/runtimetest) in a module of its own: v0.9.0 builds only
// with runtime-spec v1.0.2 and selinux v1.3.0, which the product's go.mod
// must not be held to. run.sh builds and runs it (make ocitest).
package tools

import (
	_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"
	_ "github.com/opencontainers/runtime-tools/validation/util"
)
