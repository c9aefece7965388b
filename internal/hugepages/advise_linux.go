package hugepages

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of an x86-64 and arm64 transparent huge page.
const hugePage = 2 << 20

// advise madvises the whole huge pages inside the size bytes at p: the
// kernel backs only aligned 2 MiB ranges with huge pages. The error is
// ignored: a kernel without transparent huge pages refuses the hint, and
// the buffer works as before.
func advise(p unsafe.Pointer, size uintptr) {
	start := uintptr(p)
	first := (start + hugePage - 1) &^ (hugePage - 1)
	end := (start + size) &^ (hugePage - 1)
	if end <= first {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, first-start)), end-first)
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
}
