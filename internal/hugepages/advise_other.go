//go:build !linux

package hugepages

import "unsafe"

// advise does nothing: only Linux has transparent huge pages to ask for.
func advise(p unsafe.Pointer, size uintptr) {}
