package outfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	os.Symlink(victim, filepath.Join(dir, "link"))
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling"))
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	os.Mkdir(filepath.Join(dir, "dir"), 0o755)
	for _, name := range []string{"link", "dangling", "fifo", "dir"} {
		done := make(chan error, 1)
		go func() {
			f, err := Open(filepath.Join(dir, name))
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: opened; want it refused", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Open hangs", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("a dangling symlink created its target")
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target changed: %q", b)
	}
	// A regular file, new or old, opens untruncated and writable.
	f, err := Open(victim)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("P"), 0)
	f.Close()
	if b, _ := os.ReadFile(victim); string(b) != "Precious" {
		t.Errorf("want the file written in place, not truncated: %q", b)
	}
	f, err = Open(filepath.Join(dir, "new"))
	if err != nil || !strings.HasSuffix(f.Name(), "new") {
		t.Fatalf("a new file: %v", err)
	}
	f.Close()
}
