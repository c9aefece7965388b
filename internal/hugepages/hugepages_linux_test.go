package hugepages

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseMarksTheBuffer checks in /proc/self/smaps that the mapping
// holding an advised buffer carries the kernel's huge page advice ("hg"),
// whatever huge pages the host can spare, and that the buffer holds what
// was written.
func TestAdviseMarksTheBuffer(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: nothing to ask for (%v)", err)
	}
	buf := make([]uint64, 64<<20/8)
	Advise(buf)
	for i := range buf {
		buf[i] = uint64(i)
	}
	for i := range buf {
		if buf[i] != uint64(i) {
			t.Fatalf("buf[%d] = %d after Advise", i, buf[i])
		}
	}
	// The middle: madvise splits the mapping, and the unaligned head of
	// the buffer stays in a mapping without the advice.
	if flags := vmFlags(t, uintptr(unsafe.Pointer(&buf[len(buf)/2]))); !slices.Contains(flags, "hg") {
		t.Fatalf("the mapping holding the buffer has VmFlags %v, want hg", flags)
	}
}

// vmFlags are the VmFlags of the mapping that holds addr.
func vmFlags(t *testing.T, addr uintptr) []string {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= l && uint64(addr) < h
				continue
			}
		}
		if in && fields[0] == "VmFlags:" {
			return fields[1:]
		}
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	return nil
}
