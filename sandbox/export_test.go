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
