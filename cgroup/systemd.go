package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// The systemd user manager as a source of delegated cgroups: on a v2 host
// where the caller's own cgroup is not theirs (a login session's scope is
// root's), New asks the caller's systemd manager, over its D-Bus bus, for a
// transient scope with Delegate=yes holding this process, as podman and
// crun do (systemd.resource-control(5), "Delegate="), and makes the box's
// cgroups in it. The scope ends, and systemd removes it, when its last
// process has exited.

// scopeWait bounds how long New waits for systemd to start the scope.
const scopeWait = 10 * time.Second

// userBusAddress is the address of the caller's user bus:
// DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus, else
// /run/user/UID/bus (where systemd's dbus.socket, or dbus-broker, listens
// for a lingering user or one with a login session). It never starts a bus
// (godbus's default would run dbus-launch).
func userBusAddress(uid int) string {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = fmt.Sprintf("/run/user/%d", uid)
	}
	return "unix:path=" + filepath.Join(dir, "bus")
}

// ErrNoUserManager means no systemd user manager answered on the caller's
// user bus.
var ErrNoUserManager = errors.New("no systemd user manager reachable")

// dialUserManager connects to the caller's systemd manager on its user bus.
func dialUserManager(uid int) (*sddbus.Conn, string, error) {
	addr := userBusAddress(uid)
	if p, ok := strings.CutPrefix(addr, "unix:path="); ok && !strings.Contains(p, ",") {
		if _, err := os.Stat(p); err != nil {
			return nil, addr, fmt.Errorf("%w at %s: %w", ErrNoUserManager, addr, err)
		}
	}
	conn, err := sddbus.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial(addr)
		if err != nil {
			return nil, err
		}
		if err := c.Auth(nil); err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Hello(); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		return nil, addr, fmt.Errorf("%w at %s: %w", ErrNoUserManager, addr, err)
	}
	return conn, addr, nil
}

// startUserScope asks the caller's systemd user manager for a transient
// scope named unit, with Delegate=yes, holding this process, and returns
// once this process is in it.
func startUserScope(uid int, unit string) error {
	conn, addr, err := dialUserManager(uid)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), scopeWait)
	defer cancel()
	props := []sddbus.Property{
		sddbus.PropDescription("sandbox supervisor (box cgroups delegated)"),
		sddbus.PropPids(uint32(os.Getpid())),
		{Name: "Delegate", Value: dbus.MakeVariant(true)},
		{Name: "DefaultDependencies", Value: dbus.MakeVariant(false)},
		// Collected once empty, even if a box made it fail.
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, unit, "fail", props, done); err != nil {
		return fmt.Errorf("systemd user manager at %s: start %s with Delegate=yes: %w", addr, unit, err)
	}
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("systemd user manager at %s: start %s: job %s", addr, unit, r)
		}
	case <-ctx.Done():
		return fmt.Errorf("systemd user manager at %s: start %s: no answer in %v", addr, unit, scopeWait)
	}
	return nil
}

// UserManager describes the caller's systemd user manager for `sandbox
// doctor`: whether it answers, and the v2 controllers a scope it makes
// would get (those its own cgroup has).
type UserManager struct {
	// Address is the bus tried.
	Address string
	// Err is why it could not be used, nil if it answers.
	Err error
	// Cgroup is the manager's own cgroup (v2 path), e.g.
	// /user.slice/user-1000.slice/user@1000.service.
	Cgroup string
	// Controllers are the controllers delegated to it (cgroup.controllers
	// of its cgroup).
	Controllers []string
}

// ProbeUserManager connects to the caller's systemd user manager and reads
// what it was delegated; it changes nothing.
func ProbeUserManager() UserManager {
	uid := os.Getuid()
	conn, addr, err := dialUserManager(uid)
	um := UserManager{Address: addr, Err: err}
	if err != nil {
		return um
	}
	defer conn.Close()
	v, err := conn.GetManagerProperty("ControlGroup")
	if err != nil {
		um.Err = fmt.Errorf("systemd user manager at %s: read ControlGroup: %w", addr, err)
		return um
	}
	// GetManagerProperty returns the variant's text: "\"/user.slice/...\"".
	um.Cgroup = strings.Trim(v, `"`)
	b, err := os.ReadFile(filepath.Join(unifiedPoint, um.Cgroup, "cgroup.controllers"))
	if err != nil {
		um.Err = fmt.Errorf("read the controllers of %s: %w", um.Cgroup, err)
		return um
	}
	um.Controllers = strings.Fields(string(b))
	return um
}

// scopeName is the transient unit that holds one supervisor.
func scopeName(leaf string) string { return leaf + ".scope" }
