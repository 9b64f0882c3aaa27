package batch

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/avupload/avupload/wrapper"
)

// The batch's metric, recorded through the client's meter provider
// (wrapper.WithMeterProvider), next to the client's own; see
// docs/OBSERVABILITY.md.
const (
	metricFiles   = "avupload.batch.files"
	keyFileStatus = attribute.Key("avupload.batch.file.status")
)

// fileCounter counts a batch's files by how they ended.
type fileCounter struct{ files metric.Int64Counter }

// newFileCounter returns the counter of c's meter provider; it records
// nothing when c was given none.
func newFileCounter(c *wrapper.Client) fileCounter {
	m := c.MeterProvider().Meter(wrapper.InstrumentationName+"/batch", metric.WithInstrumentationVersion(wrapper.Version))
	files, err := m.Int64Counter(metricFiles, metric.WithUnit("{file}"),
		metric.WithDescription("Files of a batch by how they ended: uploaded, skipped, failed, interrupted or unrecorded"))
	if err != nil {
		return fileCounter{}
	}
	return fileCounter{files: files}
}

// record counts r: by its status, but for a failure that is the batch's
// interruption (ctx ended), counted as "interrupted" as Result does.
func (f fileCounter) record(ctx context.Context, r FileResult) {
	if f.files == nil {
		return
	}
	status := string(r.Status)
	if r.Status == FileFailed && ctx.Err() != nil && errors.Is(r.Err, ctx.Err()) {
		status = "interrupted"
	}
	f.files.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(keyFileStatus.String(status)))
}
