package hugepages

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseBacksWithHugePages checks, in /proc/self/smaps, that an advised
// buffer is backed by huge pages once written, and that it holds what was
// written.
func TestAdviseBacksWithHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skipf("transparent huge pages are off on this kernel (%q, %v): nothing to ask for", mode, err)
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
	// the buffer stays in a mapping of small pages.
	if kb := anonHugeKB(t, uintptr(unsafe.Pointer(&buf[len(buf)/2]))); kb < 2048 {
		t.Fatalf("the mapping holding the buffer has %d kB in huge pages, want at least one 2 MiB page (mode %q)", kb, mode)
	}
}

// anonHugeKB is AnonHugePages of the mapping that holds addr.
func anonHugeKB(t *testing.T, addr uintptr) int {
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
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= l && uint64(addr) < h
				continue
			}
		}
		if in && fields[0] == "AnonHugePages:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb
		}
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	return 0
}
