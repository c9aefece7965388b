// Package hugepages asks the kernel to back a large, freshly allocated
// buffer with transparent huge pages before it is first written.
//
// Why: filling a buffer of megabytes page by page costs a page fault per
// 4 KiB. On the virtual machines mqctl was measured on, a fault cost about
// 7 µs, and the 16 MB of rows of a 50,000-partition lag took 4,000 of them:
// a seventh of the whole command. Where the system's transparent huge page
// mode is "madvise" (the common default), advising the buffer turns those
// into a handful of 2 MiB faults; with "always" it changes nothing, with
// "never" it does nothing. It only hints: the contents and the garbage
// collector's view of the buffer are untouched.
//
// The advice stays on the address range after the buffer is freed, and
// the Go runtime reuses the range. In a long-running process (lag --watch)
// that range may then stay in huge pages, up to the size once advised,
// rather than be returned to the system 4 KiB at a time; Go's runtime
// stopped advising its whole heap for that reason, and this advises only
// buffers of several megabytes that a command fills at once.
package hugepages

import "unsafe"

// Threshold is the smallest buffer worth advising: below a few huge pages
// the system call costs more than the faults it saves.
const Threshold = 8 << 20

// Advise hints that the memory of s be backed by huge pages. Call it on a
// slice just made, before writing to it; a smaller slice is left alone.
func Advise[T any](s []T) {
	if len(s) == 0 {
		return
	}
	size := uintptr(len(s)) * unsafe.Sizeof(s[0])
	if size < Threshold {
		return
	}
	advise(unsafe.Pointer(&s[0]), size)
}
