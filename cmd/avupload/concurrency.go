package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/avupload/avupload/wrapper"
)

// concurrencyFlag is a pflag.Value holding --concurrency: the most chunks
// in flight, 1 to wrapper.MaxConcurrency, or auto (0), which leaves the
// choice to the library: from wrapper.DefaultConcurrency up to
// wrapper.DefaultMaxConcurrency from a file,
// wrapper.DefaultStreamConcurrency from standard input.
type concurrencyFlag struct{ n *int }

func newConcurrencyFlag(n *int) *concurrencyFlag {
	*n = 0
	return &concurrencyFlag{n: n}
}

func (f *concurrencyFlag) String() string {
	if *f.n == 0 {
		return "auto"
	}
	return strconv.Itoa(*f.n)
}

func (f *concurrencyFlag) Type() string { return "concurrency" }

func (f *concurrencyFlag) Set(s string) error {
	text := strings.TrimSpace(s)
	if strings.EqualFold(text, "auto") {
		*f.n = 0
		return nil
	}
	n, err := strconv.Atoi(text)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return err // flagError says too large or too small
	case err != nil:
		return fmt.Errorf("want a whole number from 1 to %d, or auto", wrapper.MaxConcurrency)
	case n < 1 || n > wrapper.MaxConcurrency:
		return fmt.Errorf("want 1 to %d, or auto", wrapper.MaxConcurrency)
	}
	*f.n = n
	return nil
}

// concurrencyUsage is the help of --concurrency.
var concurrencyUsage = fmt.Sprintf("the most chunks in flight at once after the first, `N` from 1 to %d, or auto "+
	"(default auto: %d from a file at first, growing to %d while that sends more; %d from standard input)",
	wrapper.MaxConcurrency, wrapper.DefaultConcurrency, wrapper.DefaultMaxConcurrency, wrapper.DefaultStreamConcurrency)
