package wrapper

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchState is a typical state in the middle of an upload: a 10 GiB file
// in 50 MiB chunks, acked chunks chunks acknowledged and four being sent.
func benchState(acked int) *UploadState {
	const total = 10 << 30
	s := &UploadState{
		Version: stateVersion, BaseURL: "https://ws.api.video", Source: "/home/user/videos/talk.mp4",
		VideoID: "vi4k0jvEUuaTdRAEjQ4Jfrgz", ChunkSize: DefaultChunkSize, FirstChunkSize: MinChunkSize,
		Total: total, ModTime: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), UpdatedAt: time.Now().UTC(),
	}
	lay := savedLayout(s)
	for i := range acked + 4 {
		c := AckedChunk{Index: i, Size: lay.length(i, total), PrefixSHA256: strings.Repeat(fmt.Sprintf("%x", i%16), 64)}
		if i < acked {
			s.Acked = append(s.Acked, c)
		} else {
			s.Sending = append(s.Sending, c)
		}
	}
	return s
}

// BenchmarkStateSave measures one save of the state, as an upload makes
// one before each chunk's first byte goes (the write-ahead record) and one
// when it is acknowledged: encoding, an atomic write (temporary file,
// fsync, rename, directory fsync).
//
//	go test -run '^$' -bench BenchmarkStateSave ./wrapper/
func BenchmarkStateSave(b *testing.B) {
	for _, acked := range []int{10, 200} {
		s := benchState(acked)
		b.Run(fmt.Sprintf("StateFile/acked=%d", acked), func(b *testing.B) {
			f := NewStateFile(filepath.Join(b.TempDir(), "state.json"))
			for b.Loop() {
				if err := f.Save(b.Context(), "", s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("FileStore/acked=%d", acked), func(b *testing.B) {
			st, err := NewFileStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			key := ResumeKey(s.BaseURL, s.Source)
			for b.Loop() {
				if err := st.Save(b.Context(), key, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
