//go:build !unix && !windows

package sandbox

var diskFullErrnos []error
