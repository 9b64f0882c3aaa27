package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// Exit codes of the avupload command, documented in its help.
const (
	exitOK          = 0   // the command did what it was asked
	exitFailure     = 1   // the API refused the request, or the network or a file failed
	exitUsage       = 2   // bad flags or arguments, or missing configuration
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

// exitStatusHelp is the section of the root help that documents exit codes.
const exitStatusHelp = `
Exit status:
  0    success
  1    the API refused the request, or the network or a file failed
  2    usage error: bad flags or arguments, or a missing API key or token
  130  interrupted by SIGINT or SIGTERM (an upload with --state-file can be resumed)`

// stdio holds the streams a command reads and writes.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// run executes avupload with args (without the program name) and returns
// the process exit code. SIGINT and SIGTERM cancel the command's context;
// a second signal ends the process at once.
func run(ctx context.Context, args []string, std stdio, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once the first signal has cancelled ctx, restore the default
	// behaviour so that a second Ctrl-C is not swallowed.
	context.AfterFunc(ctx, stop)

	a := &app{getenv: getenv}
	root := newRootCommand()
	addCommands(root, a)
	root.SetArgs(args)
	root.SetIn(std.in)
	root.SetOut(std.out)
	root.SetErr(std.err)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, err)
	if code != exitOK {
		fmt.Fprintln(std.err, "avupload: "+a.redact(describe(err)))
		if code == exitUsage && !errors.Is(err, errMissingCredential) {
			fmt.Fprintf(std.err, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return code
}

// app is what the commands of one run share: the environment they read
// and the secrets that must never be printed.
type app struct {
	getenv  func(string) string
	secrets []string
}

// secret records s as a value never to print.
func (a *app) secret(s string) {
	if s != "" {
		a.secrets = append(a.secrets, s)
	}
}

// redact replaces every recorded secret in s.
func (a *app) redact(s string) string {
	for _, secret := range a.secrets {
		s = strings.ReplaceAll(s, secret, "REDACTED")
	}
	return s
}

// addCommands adds the token and upload commands to root and makes root
// report errors through run instead of printing them itself.
func addCommands(root *cobra.Command, a *app) {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetUsageTemplate(root.UsageTemplate() + exitStatusHelp + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newTokenCommand(a), newUploadCommand(a))
}

// usageError marks an error the user fixes by changing the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errMissingCredential is wrapped by the usage errors for a missing API key
// or upload token.
var errMissingCredential = errors.New("missing credential")

// commandError marks an error returned by a command's own work, as opposed to
// cobra's parsing of the command line.
type commandError struct{ err error }

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

// runE adapts a command's work function: its errors are commandErrors,
// unless they already say they are usage errors.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return commandError{err}
		}
		return nil
	}
}

// exitCode maps the error a command returned to the process exit code.
// Anything cobra refuses before a command runs (an unknown command or flag, a
// wrong number of arguments, conflicting flags) is a usage error.
func exitCode(ctx context.Context, err error) int {
	var usage usageError
	var cmdErr commandError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage), errors.Is(err, wrapper.ErrInvalidInput):
		return exitUsage
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.As(err, new(*interruptedError))):
		return exitInterrupted
	case errors.As(err, &cmdErr):
		return exitFailure
	default:
		return exitUsage
	}
}

// describe renders err as one line a person understands: the API's own
// title and detail for an API error, the cause for anything else, without
// the repeated "avupload:" prefixes of wrapped errors.
func describe(err error) string {
	var apiErr *wrapper.APIError
	var interrupted *interruptedError
	var msg string
	switch {
	case errors.As(err, &interrupted):
		msg = interrupted.Error()
	case errors.As(err, &apiErr):
		msg = apiErr.Title
		if msg == "" {
			msg = fmt.Sprintf("the server answered %d", apiErr.StatusCode)
		}
		if apiErr.Detail != "" {
			msg = strings.TrimSuffix(msg, ".") + ": " + apiErr.Detail
		}
	default:
		msg = err.Error()
	}
	msg = strings.ReplaceAll(msg, "avupload: ", "")
	msg = strings.Join(strings.Fields(msg), " ") // one line
	return msg
}
