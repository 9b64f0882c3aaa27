// Package human renders values for the people who read the library's errors
// and the CLI's messages, so that both say them the same way.
package human

import (
	"strconv"
	"time"
)

// Wait renders a wait: "45s", "1h0m0s", or "3 days" for anything above two
// days.
func Wait(d time.Duration) string {
	if d > 48*time.Hour {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " days"
	}
	return d.Round(time.Second).String()
}
