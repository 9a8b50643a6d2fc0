package cgroup

import "testing"

func TestParseStatSum(t *testing.T) {
	v2 := []byte("anon 1000\nfile 900000\nkernel 77\nkernel_stack 16\npagetables 8\nshmem 200\nslab_reclaimable 5000\nslab_unreclaimable 4\n")
	if n, err := parseStatSum(v2, heldV2); err != nil || n != 1000+16+8+200+4 {
		t.Fatalf("v2: %d, %v", n, err)
	}
	v1 := []byte("cache 900000\nrss 5\nrss_huge 0\nshmem 7\nmapped_file 300\ntotal_rss 1000\ntotal_shmem 200\n")
	if n, err := parseStatSum(v1, heldV1); err != nil || n != 1200 {
		t.Fatalf("v1: %d, %v", n, err)
	}
	if _, err := parseStatSum([]byte("total_rss x\n"), heldV1); err == nil {
		t.Fatal("want an error for a bad value")
	}
}
