//go:build linux

package wrapper

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// newChunkBuf returns a zeroed buffer of size bytes from the Go heap. One
// of two huge pages or more starts at a huge page boundary (a huge page
// more is allocated for that) and its memory is advised to be backed by
// transparent huge pages (MADV_HUGEPAGE: the system's default, "madvise",
// gives them only to memory that asks) before anything touches it: a
// 50 MiB chunk then spans 25 pages rather than 12,800, which spares the
// page faults of its first filling and the TLB misses of every pass over
// it (the pipe's copy into it, SHA-256, the request's copy out of it). On a
// virtual machine with costly TLB misses that nearly halves the CPU time of
// reading a stream. It is advice only: the memory stays the Go heap's,
// freed by the garbage collector like any other, and where transparent
// huge pages are off it is memory of ordinary pages.
func newChunkBuf(size int) []byte {
	if size < 2*hugePage {
		return make([]byte, size)
	}
	raw := make([]byte, size+hugePage)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (hugePage - 1))
	b := raw[skip : skip+size : skip+size]
	// Refused (a kernel without transparent huge pages), the advice
	// leaves ordinary pages.
	_ = unix.Madvise(b[:size&^(hugePage-1)], unix.MADV_HUGEPAGE)
	return b
}
