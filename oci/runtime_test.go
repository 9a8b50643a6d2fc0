package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// The box's own mount points are made in a rootfs that lacks them
// (runtime-tools' rootfs has no /tmp); a symlink at one of those names is
// left as it is, its target not made.
func TestMakeBoxMountPoints(t *testing.T) {
	rootfs, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(rootfs, "proc"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "made"), filepath.Join(rootfs, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := makeBoxMountPoints(rootfs); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(rootfs, "tmp")); err != nil || !fi.IsDir() {
		t.Errorf("tmp: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(rootfs, "proc")); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("proc changed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(elsewhere, "made")); err == nil {
		t.Error("the symlink at dev was followed")
	}
}
