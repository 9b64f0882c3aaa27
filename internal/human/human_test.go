package human

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWait(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{1500 * time.Millisecond, "2s"},
		{time.Hour, "1h0m0s"},
		{48 * time.Hour, "48h0m0s"},
		{48*time.Hour + time.Second, "2 days"},
		{80 * time.Hour, "3 days"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Wait(tt.in), "Wait(%s)", tt.in)
	}
}
