package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// unknownFlagError rewords pflag's refusal of a flag cmd does not have:
// "-token" (a long name with one dash, which pflag reads as the shorthands
// t, o, k, e, n) says to use two dashes, and "--chunksize" suggests the
// flag of cmd closest to it, "did you mean --chunk-size?". It returns nil
// for any other error.
// args is the command line, in which the word holding an unknown
// shorthand is looked for: pflag names only what is left of it.
func unknownFlagError(cmd *cobra.Command, err error, args []string) error {
	var notExist *pflag.NotExistError
	if !errors.As(err, &notExist) {
		return nil
	}
	flags := cmd.Flags()
	if group := notExist.GetSpecifiedShortnames(); group != "" {
		// "-quiet" is reported as "uiet", once -q has been read.
		for _, arg := range args {
			if arg == "--" {
				break
			}
			if len(arg) > 1 && arg[0] == '-' && arg[1] != '-' && strings.HasSuffix(arg, group) {
				group = arg[1:]
				break
			}
		}
		name, _, _ := strings.Cut(group, "=")
		if f := flags.Lookup(name); f != nil {
			return usagef("-%s: flags with long names take two dashes: --%s", name, f.Name)
		}
		if strings.ContainsAny(group, "./\\") {
			// A file whose name starts with a dash: "-x.mp4".
			return usagef("-%s is not a flag; to name a file that starts with -, put -- before it: %s -- -%s", group, cmd.CommandPath(), group)
		}
		if group == notExist.GetSpecifiedName() {
			return usagef("unknown flag -%s%s", group, suggestFlag(flags, name))
		}
		return usagef("unknown flag -%s in -%s%s", notExist.GetSpecifiedName(), group, suggestFlag(flags, name))
	}
	name := notExist.GetSpecifiedName()
	return usagef("unknown flag --%s%s", name, suggestFlag(flags, name))
}

// shorthandTookLongName rewords the refusal of a value taken by a shorthand
// from a long name typed with one dash: "-chunk-size 5M" is -c with the
// value "hunk-size". It returns nil when f's value is not such a name.
func shorthandTookLongName(flags *pflag.FlagSet, f *pflag.Flag, value string) error {
	if f.Shorthand == "" {
		return nil
	}
	name, _, _ := strings.Cut(f.Shorthand+value, "=")
	if long := flags.Lookup(name); long != nil && long.Shorthand != name {
		return usagef("-%s: flags with long names take two dashes: --%s", name, long.Name)
	}
	return nil
}

// suggestFlag returns "; did you mean --NAME?" for the flag of flags
// closest to name (by edit distance, or a prefix of it), or "" when none
// is close.
func suggestFlag(flags *pflag.FlagSet, name string) string {
	name = strings.ToLower(name)
	best, bestDist := "", 0
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(name, f.Name)
		// Without the dashes, "chunksize" is "chunk-size".
		if strings.ReplaceAll(f.Name, "-", "") == strings.ReplaceAll(name, "-", "") {
			d = 0
		}
		limit := max(1, min(2, len(f.Name)/4))
		// A prefix of the flag, or the flag with more: --sort, --data-directory.
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 || strings.HasPrefix(name, f.Name) && len(f.Name) >= 4 {
			d = min(d, limit)
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean --%s?", best)
}

// levenshtein is the edit distance between a and b, in bytes: flag names
// are ASCII.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
