package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/avupload/avupload/wrapper"
)

// otelFlushTimeout bounds the export of what is left when a command ends.
const otelFlushTimeout = 5 * time.Second

// otelProtocols are the environment variables that choose the OTLP
// protocol; --otel speaks http/protobuf only.
var otelProtocols = []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"}

// otelFlags is --otel, one of the server flags: the command's traces and
// metrics exported over OTLP/HTTP, where the standard OTEL_* environment
// variables say (OTEL_EXPORTER_OTLP_ENDPOINT and the others the
// OpenTelemetry SDK reads; http://localhost:4318 by default).
type otelFlags struct {
	on bool

	// Set by start.
	tp   *sdktrace.TracerProvider
	mp   *sdkmetric.MeterProvider
	span trace.Span // the command's
}

func (o *otelFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&o.on, "otel", false, "export traces and metrics over OTLP/HTTP to the collector the OTEL_* environment variables name (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318); never a token or key")
}

// start sets up the exporters and providers when --otel is given, and
// opens the command's span under cmd's context. The SDK reads the OTEL_*
// environment variables itself: the process's, not the command's getenv.
func (o *otelFlags) start(cmd *cobra.Command) error {
	if !o.on || o.tp != nil {
		return nil
	}
	for _, v := range otelProtocols {
		if p := strings.TrimSpace(os.Getenv(v)); p != "" && p != "http/protobuf" {
			return usagef("--otel exports over OTLP/HTTP (http/protobuf), not %s as $%s asks", quoteIfNeeded(p), v)
		}
	}
	ctx := cmd.Context()
	// service.name is avupload unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES say otherwise: the second wins.
	env, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return usagef("--otel: $OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	res, err := resource.Merge(resource.NewSchemaless(attribute.String("service.name", "avupload"),
		attribute.String("service.version", wrapper.Version)), env)
	if err != nil {
		return usagef("--otel: %w", err)
	}
	texp, err := otlptracehttp.New(ctx)
	if err != nil {
		return usagef("--otel: %w", err)
	}
	mexp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		_ = texp.Shutdown(ctx)
		return usagef("--otel: %w", err)
	}
	// An export that fails while the command runs is reported once, when
	// it ends and the rest is flushed; not in the middle of its output.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
	o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)), sdkmetric.WithResource(res))
	ctx, o.span = o.tp.Tracer("github.com/avupload/avupload/cmd/avupload").Start(ctx, cmd.CommandPath())
	cmd.SetContext(ctx)
	return nil
}

// options returns the client options that export through the providers.
func (o *otelFlags) options() []wrapper.Option {
	if o.tp == nil {
		return nil
	}
	return []wrapper.Option{wrapper.WithTracerProvider(o.tp), wrapper.WithMeterProvider(o.mp)}
}

// flushOTel ends the span of cmd, the command run, with its exit code and
// sends what is left to the collector, within otelFlushTimeout; it says on
// stderr when that failed. It does nothing without --otel.
func flushOTel(cmd *cobra.Command, code int, stderr io.Writer, a *app) {
	if cmd == nil {
		return
	}
	f := cmd.Flags().Lookup("base-url")
	if f == nil {
		return
	}
	v, ok := f.Value.(baseURLFlag)
	if !ok || v.s.otel.tp == nil {
		return
	}
	o := &v.s.otel
	o.span.SetAttributes(attribute.Int("avupload.exit_code", code))
	if code != exitOK {
		o.span.SetStatus(codes.Error, fmt.Sprintf("exit status %d", code))
	}
	o.span.End()
	ctx, cancel := context.WithTimeout(context.Background(), otelFlushTimeout)
	defer cancel()
	err := errors.Join(o.tp.Shutdown(ctx), o.mp.Shutdown(ctx))
	o.tp, o.mp = nil, nil
	if err != nil {
		fmt.Fprintln(stderr, "avupload: --otel: the traces and metrics could not all be sent: "+a.redact(err.Error()))
	}
}
