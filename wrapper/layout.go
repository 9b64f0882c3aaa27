package wrapper

// layout is how a source is cut into chunks: the first of first bytes,
// every other but the last of cs bytes. The first chunk goes alone, since
// its answer names the video the others add to: when others are to go at
// once after it, it is made as small as the API allows (MinChunkSize), so
// that they start sooner.
type layout struct{ first, cs int64 }

// newLayout is the layout of a source of size bytes (-1 when unknown) in
// chunks of cs, concurrency of them in flight after the first. A source of
// at most cs bytes is one chunk.
func newLayout(cs int64, concurrency int, size int64) layout {
	l := layout{first: cs, cs: cs}
	if concurrency > 1 && (size < 0 || size > cs) {
		l.first = min(MinChunkSize, cs)
	}
	return l
}

// savedLayout is the layout a saved state's chunks were cut by.
func savedLayout(s *UploadState) layout { return layout{first: s.FirstChunkSize, cs: s.ChunkSize} }

// start is the offset of chunk i.
func (l layout) start(i int) int64 {
	if i == 0 {
		return 0
	}
	return l.first + int64(i-1)*l.cs
}

// length is the length of chunk i of a source of size bytes, or its most
// when size is -1 (unknown).
func (l layout) length(i int, size int64) int64 {
	n := l.cs
	if i == 0 {
		n = l.first
	}
	if size >= 0 {
		n = min(n, size-l.start(i))
	}
	return n
}

// count is the number of chunks of a source of size bytes.
func (l layout) count(size int64) int64 {
	if size <= l.first {
		return 1
	}
	return 1 + (size-l.first+l.cs-1)/l.cs
}

// index is the chunk holding offset off.
func (l layout) index(off int64) int {
	if off < l.first {
		return 0
	}
	return 1 + int((off-l.first)/l.cs)
}

// checkCount refuses a file of size bytes that needs more chunks than the
// API takes.
func (l layout) checkCount(size int64) error {
	if n := l.count(size); n > maxParts {
		return invalidInput("%d bytes in chunks of %d make %d chunks, above the API's limit of %d; use larger chunks",
			size, l.cs, n, maxParts)
	}
	return nil
}

// checkStreamCount refuses a stream of size bytes (-1 when unknown) known
// to need more chunks than the API takes; one of unknown length is checked
// as it is read.
func (l layout) checkStreamCount(size int64) error {
	if size > 0 && l.count(size) > maxParts {
		return invalidInput("%d bytes in chunks of %d make more than %d chunks; use larger chunks",
			size, l.cs, maxParts)
	}
	return nil
}
