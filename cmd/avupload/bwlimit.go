package main

import (
	"strings"
)

// bwlimitFlag is --bwlimit: a byte count per second in the size grammar
// (parseSize: "20MiB", "512K", "1000000"), with an optional "/s"; 0 is no
// limit. It is a pflag.Value.
type bwlimitFlag struct {
	n    *int64
	text string
}

func newBWLimitFlag(n *int64) *bwlimitFlag { return &bwlimitFlag{n: n, text: "0"} }

func (f *bwlimitFlag) String() string { return f.text }
func (f *bwlimitFlag) Type() string   { return "size" }

func (f *bwlimitFlag) Set(s string) error {
	n, err := parseSize(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	if err != nil {
		return err
	}
	*f.n, f.text = n, s
	return nil
}

// bwlimitUsage is --bwlimit's usage line.
const bwlimitUsage = "cap the upload to `SIZE` a second, all files and chunks together, e.g. 20MiB; 0 for no limit"
