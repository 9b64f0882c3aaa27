//go:build !(darwin || linux || freebsd || netbsd || openbsd || dragonfly || windows)

package wrapper

import "os"

// tryLock grants every lock where the system offers no lock this package
// knows how to take: runs are then not kept apart.
func tryLock(*os.File) (bool, error) { return true, nil }
