package wrapper

// layout is how a source is cut into chunks: the first of first bytes,
// every other but the last of cs bytes. The first chunk goes alone, since
// its answer names the video the others add to: when others are to go at
// once after it, it is made as small as the API allows (MinChunkSize), so
// that they start sooner.
type layout struct{ first, cs int64 }

// layoutAlign is what a chunk size the library chooses is a multiple of: a
// page, fine enough that rounding up never takes a chunk off the count
// asked (that needs size / (n * (n-1)) above it for n chunks, and n is at
// most about 1,000, for the API's largest video).
const layoutAlign = 4 << 10

// newLayout is the layout of a source of size bytes (-1 when unknown) in
// chunks of cs, or of the library's choosing when cs is 0 (see autoLayout),
// concurrency of them in flight after the first. A source of at most cs
// bytes is one chunk.
func newLayout(cs int64, concurrency int, size int64) layout {
	if cs == 0 {
		return autoLayout(concurrency, size)
	}
	l := layout{first: cs, cs: cs}
	if concurrency > 1 && (size < 0 || size > cs) {
		l.first = min(MinChunkSize, cs)
	}
	return l
}

// autoLayout cuts a source of size bytes (-1 when unknown) for concurrency
// chunks in flight after the first, so that they are all busy to the end:
//
//   - a source of at most DefaultChunkSize bytes goes whole, in one request:
//     cutting it would add a round trip (the first chunk's answer) for
//     nothing, as one request already has the link to itself;
//   - otherwise, with concurrency above 1, the first chunk is MinChunkSize
//     and the rest is cut in equal chunks of at most DefaultChunkSize, as
//     many as a multiple of concurrency: the chunks go in waves that start
//     and end together, and the last wave is as wide as the others instead
//     of a lone chunk at the end. With concurrency 1, the chunks are equal
//     from the first;
//   - sizes are multiples of 4 KiB (the last chunk takes what is left) from
//     MinChunkSize to DefaultChunkSize: a video of the API's largest size
//     (maxTotalSize) makes about 1,000 chunks, far from its 10,000;
//   - a stream of unknown length goes in chunks of DefaultChunkSize.
func autoLayout(concurrency int, size int64) layout {
	switch {
	case size >= 0 && size <= DefaultChunkSize:
		return layout{first: DefaultChunkSize, cs: DefaultChunkSize}
	case size < 0:
		return newLayout(DefaultChunkSize, concurrency, size)
	}
	first, rest, waves := int64(0), size, max(1, concurrency)
	if concurrency > 1 {
		first, rest = MinChunkSize, size-MinChunkSize
	}
	n := ceilDiv(rest, DefaultChunkSize)
	n = ceilDiv(n, int64(waves)) * int64(waves)
	cs := max(MinChunkSize, ceilDiv(ceilDiv(rest, n), layoutAlign)*layoutAlign)
	if first == 0 {
		first = cs
	}
	return layout{first: first, cs: cs}
}

// ceilDiv is a / b rounded up, for a >= 0 and b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

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
