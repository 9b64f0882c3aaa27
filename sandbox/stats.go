package sandbox

import (
	"maps"
	"sync"
)

// Stats counts the requests a Sandbox served, per operation and per status.
// Status 0 counts requests whose connection was cut without a response (by a
// fault, or because the client went away during a stall).
type Stats struct {
	// Operations maps an operationId to its counts.
	Operations map[string]OpStats `json:"operations"`
}

// OpStats counts the requests to one operation.
type OpStats struct {
	// Total is the number of requests.
	Total int `json:"total"`
	// Statuses maps a status code to its number of responses.
	Statuses map[int]int `json:"statuses"`
}

// Count returns the number of requests to op, an operationId.
func (s Stats) Count(op string) int { return s.Operations[op].Total }

// CountStatus returns the number of requests to op answered with status.
func (s Stats) CountStatus(op string, status int) int { return s.Operations[op].Statuses[status] }

// Stats returns a snapshot of the request counts.
func (s *Sandbox) Stats() Stats { return s.stats.snapshot() }

type statsRecorder struct {
	mu  sync.Mutex
	ops map[string]*OpStats
}

func newStatsRecorder() *statsRecorder { return &statsRecorder{ops: map[string]*OpStats{}} }

func (r *statsRecorder) record(op string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.ops[op]
	if o == nil {
		o = &OpStats{Statuses: map[int]int{}}
		r.ops[op] = o
	}
	o.Total++
	o.Statuses[status]++
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Stats{Operations: map[string]OpStats{}}
	for op, o := range r.ops {
		out.Operations[op] = OpStats{Total: o.Total, Statuses: maps.Clone(o.Statuses)}
	}
	return out
}
