package sandbox

// SetDiskFailure makes every write of s to its data directory fail with
// what f returns (nil: the write goes on); SetDiskFailure(s, nil) stops it.
func SetDiskFailure(s *Sandbox, f func() error) {
	if f == nil {
		s.disk.failWrite.Store(nil)
		return
	}
	s.disk.failWrite.Store(&f)
}

// Hashed reports whether the sandbox has hashed the bytes of video id yet.
func Hashed(s *Sandbox, id string) bool {
	v := s.video(id)
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sha != ""
}
