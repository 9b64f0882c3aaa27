package wrapper

import "context"

// hugePage is the size of a transparent huge page on amd64 and arm64 (with
// 4 KiB base pages), which newChunkBuf aligns large buffers to on Linux.
const hugePage = 2 << 20

// bufPool hands out at most max buffers of one size, made on first need
// (by newChunkBuf, in huge pages where it can, see bufmem_linux.go). get is
// called from one goroutine; put from any.
type bufPool struct {
	size, max, made int
	free            chan []byte
}

func newBufPool(size, max int) *bufPool {
	return &bufPool{size: size, max: max, free: make(chan []byte, max)}
}

func (p *bufPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	if p.made < p.max {
		p.made++
		return newChunkBuf(p.size), nil
	}
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives b back. Nothing may read or write its bytes any more: they may
// be another chunk's next.
func (p *bufPool) put(b []byte) {
	select {
	case p.free <- b:
	default:
	}
}
