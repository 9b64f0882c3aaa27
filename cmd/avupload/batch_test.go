package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdEachOnce checks that every regular file named, or under a
// directory named, is exactly one complete video at the sandbox, by
// SHA-256, and with -total N that the sandbox holds N complete videos in
// all: eachonce [-total N] PATH...
func cmdEachOnce(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: eachonce [-total N] PATH...")
	}
	total := -1
	if args[0] == "-total" && len(args) > 2 {
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		total, args = n, args[2:]
	}
	bySum := map[string]int{}
	complete := 0
	for _, v := range scriptSandbox(ts).Sandbox.Videos() {
		if v.Complete {
			bySum[v.SHA256]++
			complete++
		}
	}
	for _, arg := range args {
		ts.Check(filepath.WalkDir(ts.MkAbs(arg), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			if n := bySum[hex.EncodeToString(sum[:])]; n != 1 {
				ts.Fatalf("%s is %d complete videos at the sandbox, want 1", p, n)
			}
			return nil
		}))
	}
	if total >= 0 && complete != total {
		ts.Fatalf("the sandbox holds %d complete videos, want %d", complete, total)
	}
}
