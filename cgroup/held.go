package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// heldV1 and heldV2 are the memory.stat keys whose sum is what a box's
// processes hold (hierarchical totals: the processes sit in the box's
// inner child): anonymous memory, shmem (tmpfs, /dev/shm, shared anonymous
// mappings) and, on v2, the kernel memory charged for them that reclaim
// cannot take back. Page cache is left out: a file another process read
// first is not charged to the box at all, one it read itself is, so a
// figure with it changes from run to run. On v1 the kernel's part comes
// from memory.kmem.usage_in_bytes, which v1's memory.stat does not break
// down.
var (
	heldV1 = []string{"total_rss", "total_shmem"}
	heldV2 = []string{"anon", "shmem", "kernel_stack", "pagetables", "percpu", "sock", "vmalloc", "slab_unreclaimable"}
)

// HeldMemory returns what the box's processes hold now, in bytes (see
// heldV2), or an error where the box has no memory accounting. It reads one
// or two small files, so it is cheap enough to sample every few
// milliseconds: the kernel keeps a peak only of the whole charge, page cache
// included.
func (b *Box) HeldMemory() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v2 != nil {
		return sumStat(filepath.Join(b.v2Dir, "memory.stat"), heldV2)
	}
	lf := b.leafOf("memory")
	if lf == nil {
		return 0, fmt.Errorf("cgroup: no memory accounting for this box: %w", ErrNoAccounting)
	}
	n, err := sumStat(filepath.Join(lf.dir, "memory.stat"), heldV1)
	if err != nil {
		return 0, err
	}
	if k, err := os.ReadFile(filepath.Join(lf.dir, "memory.kmem.usage_in_bytes")); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(k)), 10, 64); err == nil {
			n += v
		}
	}
	return n, nil
}

// CanMeasureMemory reports whether HeldMemory can work for this box: it has
// a v1 memory leaf, or its v2 cgroup has the memory controller. A stat, not
// a first HeldMemory: v1's memory.stat is computed by the kernel on each
// read, and before the box runs it holds nothing to sample.
func (b *Box) CanMeasureMemory() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v2 != nil {
		_, err := os.Stat(filepath.Join(b.v2Dir, "memory.stat"))
		return err == nil
	}
	return b.leafOf("memory") != nil
}

// sumStat adds up the values of keys in a flat keyed file ("key value"
// lines, cgroup's memory.stat); a key the file lacks counts as 0.
func sumStat(path string, keys []string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cgroup: %w", err)
	}
	return parseStatSum(data, keys)
}

func parseStatSum(data []byte, keys []string) (int64, error) {
	var sum int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !contains(keys, k) {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cgroup: memory.stat: %s: %w", k, err)
		}
		sum += n
	}
	return sum, sc.Err()
}
