package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avupload/avupload/internal/human"
	"github.com/avupload/avupload/wrapper"
)

// Exit codes of the avupload command, documented in its help.
const (
	exitOK          = 0   // the command did what it was asked
	exitFailure     = 1   // the API refused the request, or the network, a file or standard output failed
	exitUsage       = 2   // bad flags or arguments, or missing configuration
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

// exitStatusHelp is the section of every command's help that documents
// exit codes: the one table, which README's "Exit status" repeats and
// TestExitStatusTable checks row by row.
const exitStatusHelp = `
Exit status:
  0    success
  1    runtime failure: the API refused the request, or the network, a file
       or standard output failed
  2    usage error: bad flags or arguments, a missing API key or token, a
       journal or state file another run holds
  130  interrupted by SIGINT or SIGTERM, or a batch's standard output closed
       (an upload with --state-file, a batch with --journal, can be resumed);
       'avupload sandbox' ends this way and exits 0 once shut down cleanly`

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

	a := &app{getenv: getenv, args: args}
	// The credentials of the environment are never echoed, even by a
	// message about a flag or argument that holds one by mistake.
	for _, env := range []string{envAPIKey, envToken} {
		if v := strings.TrimSpace(getenv(env)); len(v) >= shortSecret {
			a.secret(v)
		}
	}
	root := newRootCommand()
	// Streams first: the completion command keeps the one it is made with.
	root.SetIn(std.in)
	out := newStdoutWriter(std.out)
	root.SetOut(out)
	root.SetErr(std.err)
	addCommands(root, a)
	root.SetArgs(args)
	var (
		cmd *cobra.Command
		err error
	)
	if len(args) > 1 && (args[0] == "-v" || args[0] == "--verbose") {
		// Before the command, -v is --version, and --verbose takes the
		// command for its value: cobra would say "unknown command" of the
		// word after it.
		err = usagef("%s goes after the command, as in 'avupload token list -v'; before it, -v is --version", args[0])
	} else {
		cmd, err = root.ExecuteContextC(contextWithEnv(ctx, getenv))
	}
	if cmd != nil {
		for _, name := range []string{"api-key", "token"} {
			// Not a flag it took as its value by mistake ("--token
			// --base-url URL"), which the message names.
			if f := cmd.Flags().Lookup(name); f != nil && f.Value.Type() == "string" && !strings.HasPrefix(f.Value.String(), "-") {
				a.secret(strings.TrimSpace(f.Value.String()))
			}
		}
	}
	// A result that could not be printed is a failure, whether the command
	// noticed (and returned the write's error) or not. A batch says itself
	// what became of its files.
	if werr := out.failed(); werr != nil && (err == nil || errors.Is(err, werr)) && !errors.As(err, new(*batchInterrupted)) && !errors.As(err, new(*outputLost)) {
		err = commandError{&outputLost{err: werr}}
	}
	code := exitCode(ctx, err)
	if code != exitOK {
		fmt.Fprintln(std.err, "avupload: "+a.redact(describe(err, cmd)))
		if code == exitUsage && !errors.Is(err, errMissingCredential) {
			fmt.Fprintf(std.err, "Run '%s --help' for usage.\n", helpPath(cmd))
		}
	}
	flushOTel(cmd, code, std.err, a)
	return code
}

// app is what the commands of one run share: the environment they read
// and the secrets that must never be printed.
type app struct {
	getenv  func(string) string
	args    []string // the command line, without the program name
	secrets []string
}

// secret records s as a value never to print.
func (a *app) secret(s string) {
	if s != "" {
		a.secrets = append(a.secrets, s)
	}
}

// shortSecret is the length under which a secret is redacted only where it
// stands as a word of its own: a token "t" must not turn "want" into
// "wanREDACTED", and a real token or key is far longer.
const shortSecret = 8

// redact replaces every recorded secret in s.
func (a *app) redact(s string) string {
	for _, secret := range a.secrets {
		if len(secret) >= shortSecret {
			s = strings.ReplaceAll(s, secret, "REDACTED")
			continue
		}
		re := regexp.MustCompile(`(^|[^\w-])` + regexp.QuoteMeta(secret) + `($|[^\w-])`)
		for re.MatchString(s) { // matches may share a delimiter
			s = re.ReplaceAllString(s, "${1}REDACTED${2}")
		}
	}
	return s
}

// addCommands adds the token and upload commands to root and makes root
// report errors through run instead of printing them itself.
func addCommands(root *cobra.Command, a *app) {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetUsageTemplate(root.UsageTemplate() + exitStatusHelp + "\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return flagError(cmd, err, a.args) })
	root.SetHelpCommand(newHelpCommand())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkEmptyCredentials(cmd); err != nil {
			return err
		}
		if err := checkExclusive(cmd); err != nil {
			return err
		}
		return bindServer(cmd, a)
	}
	root.AddCommand(newTokenCommand(a), newUploadCommand(a), newWatchCommand(a))
	fixCompletionCommand(root)
	// Argument checks run before PersistentPreRunE; a flag that swallowed
	// the next one must be named before its stray value is.
	for _, cmd := range allCommands(root) {
		if args := cmd.Args; args != nil {
			cmd.Args = func(cmd *cobra.Command, a []string) error {
				if err := checkFlagValues(cmd); err != nil {
					return err
				}
				return args(cmd, a)
			}
		}
	}
}

// allCommands returns cmd and every command under it.
func allCommands(cmd *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{cmd}
	for _, c := range cmd.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

// helpPath is the command whose help a usage error points at: the command
// itself, or the whole tool for a mistake in 'avupload help'.
func helpPath(cmd *cobra.Command) string {
	if cmd == nil || (cmd.Name() == "help" && cmd.HasParent()) {
		return "avupload"
	}
	return cmd.CommandPath()
}

// newHelpCommand returns 'avupload help [COMMAND]', which, unlike cobra's
// own, fails on a command that does not exist.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Show the help of a command",
		Long:  "Show the help of any command, e.g. 'avupload help token create'.",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				parent := "avupload"
				if target != nil && target != cmd.Root() {
					parent = target.CommandPath()
				}
				return usagef("no help for %q: %q has no such command", strings.Join(args, " "), parent)
			}
			return target.Help()
		},
	}
}

// checkFlagValues refuses a flag whose value looks like another flag, as
// in "--sort-by --base-url URL", where the flag swallowed the next one and
// its value became a stray argument.
func checkFlagValues(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		name, _, _ := strings.Cut(strings.TrimPrefix(v, "--"), "=")
		if err == nil && f.Value.Type() == "string" && strings.HasPrefix(v, "--") && cmd.Flags().Lookup(name) != nil {
			err = usagef("--%s has no value: it took %s, the next flag, as one", f.Name, v)
		}
	})
	return err
}

// checkEmptyCredentials refuses --api-key ” and --token ”: an empty
// value typed on purpose must not fall back, unsaid, to the environment.
func checkEmptyCredentials(cmd *cobra.Command) error {
	for _, name := range []string{"api-key", "token"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed && f.Value.Type() == "string" && strings.TrimSpace(f.Value.String()) == "" {
			return usagef("--%s is empty; give a value, or leave the flag out to use $%s", name, map[string]string{"api-key": envAPIKey, "token": envToken}[name])
		}
	}
	return nil
}

// exclusivePairs are the flags that cannot be used together, wherever a
// command has both.
var exclusivePairs = [][2]string{
	{"json", "quiet"},
	{"base-url", "sandbox"},
	{"all", "page"},
}

// checkExclusive refuses two flags of an exclusive pair set together,
// naming both.
func checkExclusive(cmd *cobra.Command) error {
	for _, pair := range exclusivePairs {
		a, b := cmd.Flags().Lookup(pair[0]), cmd.Flags().Lookup(pair[1])
		if a != nil && b != nil && a.Changed && b.Changed {
			return usagef("%s and %s cannot be used together; choose one", flagName(a), flagName(b))
		}
	}
	return nil
}

// flagName renders a flag as the user may have typed it: "--json", or
// "-q/--quiet" for one with a shorthand.
func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}

// flagError rewords pflag's refusal of a flag value as "--flag VALUE:
// what is wrong", in the user's words rather than Go's (strconv.ParseInt,
// time.ParseDuration).
func flagError(cmd *cobra.Command, err error, args []string) error {
	if err := unknownFlagError(cmd, err, args); err != nil {
		return err
	}
	if noValue := (*pflag.ValueRequiredError)(nil); errors.As(err, &noValue) {
		return usagef("%s needs a value", flagName(noValue.GetFlag()))
	}
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return usageError{err}
	}
	f, value := bad.GetFlag(), bad.GetValue()
	if err := shorthandTookLongName(cmd.Flags(), f, value); err != nil {
		return err
	}
	cause := errors.Unwrap(bad)
	var reason string
	switch {
	case errors.Is(cause, strconv.ErrRange) && strings.HasPrefix(strings.TrimSpace(value), "-"):
		reason = "too small"
	case errors.Is(cause, strconv.ErrRange):
		reason = "too large"
	case f.Value.Type() == "int" || f.Value.Type() == "int64" || f.Value.Type() == "uint":
		reason = "want a whole number"
	case f.Value.Type() == "bool":
		reason = "want true or false"
	case f.Value.Type() == "duration" && strings.HasPrefix(cause.Error(), "time: "):
		reason = "want a duration such as 90s, 30m or 2h"
	default:
		reason = cause.Error()
	}
	return usagef("%s %s: %s", flagName(f), quoteIfNeeded(value), reason)
}

// quoteIfNeeded quotes s when it would not read as one word: empty, or
// holding spaces or control characters.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// usageError marks an error the user fixes by changing the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errMissingCredential is matched by the usage errors for a missing API key
// or upload token.
var errMissingCredential = errors.New("missing credential")

// missingCredential says which credential is missing and where to put it;
// it matches errMissingCredential.
type missingCredential struct{ msg string }

func (e missingCredential) Error() string { return e.msg }
func (e missingCredential) Unwrap() error { return errMissingCredential }

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
	case errors.As(err, new(*batchInterrupted)), // by a signal, or a standard output gone
		ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.As(err, new(*interruptedError))):
		return exitInterrupted
	case errors.As(err, &cmdErr):
		return exitFailure
	default:
		return exitUsage
	}
}

// describe renders err, returned by cmd (nil if none ran), as one line a
// person understands: the API's own title and detail for an API error, where
// the server is for an answer that is not the API's, the cause for anything
// else, without the "avupload:" prefixes of wrapped errors nor the library's
// "invalid input".
func describe(err error, cmd *cobra.Command) string {
	var (
		apiErr      *wrapper.APIError
		opErr       *wrapper.OpError
		interrupted *interruptedError
		msg         string
	)
	switch {
	case errors.As(err, &interrupted):
		msg = interrupted.Error()
	case errors.Is(err, wrapper.ErrRangeTaken):
		// The wrapper's words say what the video holds; the API's
		// refusal it wraps would only repeat "overlap".
		msg = err.Error()
		if upErr := (*wrapper.UploadError)(nil); errors.As(err, &upErr) && upErr.Err != nil {
			msg = upErr.Err.Error() // no count of chunks: the refusal says what matters
		}
		if cmd != nil && cmd.Flags().Changed("video-id") {
			msg = "--video-id " + cmd.Flags().Lookup("video-id").Value.String() + ": " + strings.TrimPrefix(msg, "avupload: ") +
				"; leave out --video-id to upload a new video"
		}
	case errors.As(err, &apiErr):
		msg = describeAPIError(apiErr, cmd) + waitHint(apiErr, cmd, time.Now())
	case errors.As(err, &opErr) && !errors.Is(err, context.Canceled):
		msg = describeConnection(opErr.Err, cmd)
	default:
		msg = err.Error()
		// "stat movie.mp4: no such file or directory" names a system call;
		// "movie.mp4: no such file or directory" is what the user needs.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			msg = strings.Replace(msg, pathErr.Op+" "+pathErr.Path+": ", pathErr.Path+": ", 1)
		}
		// "listen tcp: lookup tcp/x: unknown port" names the Go call too.
		var netErr *net.OpError
		if errors.As(err, &netErr) {
			msg = strings.Replace(msg, netErr.Error(), networkCause(netErr), 1)
		}
	}
	if errors.Is(err, wrapper.ErrRetryBudget) && !strings.Contains(msg, "failing too often") {
		msg = "the server is failing too often, so this failure was not retried: " + msg
	}
	msg = strings.ReplaceAll(msg, "avupload: ", "")
	msg = strings.TrimPrefix(msg, "invalid input: ")
	msg = strings.Join(strings.Fields(msg), " ") // one line
	// Titles, details and ids come from the server: never let them drive
	// the terminal.
	return escapeText(msg)
}

// waitHint says, for an answer that asked for a wait (one longer than the
// client accepts ends the call at once), when to run the command again and,
// for an upload, how it resumes.
func waitHint(e *wrapper.APIError, cmd *cobra.Command, now time.Time) string {
	if e.ServerWait <= 0 {
		return ""
	}
	hint := "; the server asks to wait " + human.Wait(e.ServerWait)
	if e.ServerWait < 100*365*24*time.Hour {
		hint += ": run the command again after " + now.Add(e.ServerWait).UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if cmd != nil && cmd.Name() == "upload" {
		if f := cmd.Flags().Lookup("state-file"); f != nil && f.Changed {
			hint += "; it resumes from " + f.Value.String()
		} else {
			hint += "; with --state-file, an upload resumes where it stopped"
		}
	}
	return hint
}

// describeAPIError renders an answer that was not a success. The API's own
// title comes first; an answer with none, or a 404 where the API has no such
// answer, names the request and the server's URL (never with the token),
// since the server is most likely not the API.
func describeAPIError(e *wrapper.APIError, cmd *cobra.Command) string {
	if e.Name == "videoId" && cmd != nil && cmd.Flags().Changed("video-id") {
		return fmt.Sprintf("--video-id %s: %s; leave out --video-id to upload a new video",
			cmd.Flags().Lookup("video-id").Value, strings.TrimSuffix(e.Title, "."))
	}
	if msg := notAPIAnswer(e, cmd); msg != "" {
		return msg
	}
	if hint := keyIsAToken(e, cmd); hint != "" {
		return strings.TrimSuffix(e.Title, ".") + hint
	}
	msg := e.Title
	if e.Detail != "" && msg != "" {
		msg = strings.TrimSuffix(msg, ".") + ": " + e.Detail
	}
	request := requestOf(cmd)
	tokenCall := cmd != nil && (cmd.Name() == "get" || cmd.Name() == "delete")
	switch {
	case msg == "":
		msg = fmt.Sprintf("%s: the server answered %d %s", request, e.StatusCode, http.StatusText(e.StatusCode))
	case e.StatusCode == http.StatusNotFound && !tokenCall:
		msg = request + ": " + msg
	default:
		return msg
	}
	if e.StatusCode == http.StatusNotFound {
		msg = strings.TrimSuffix(msg, ".") + "; is --base-url right?"
	}
	return msg
}

// requestOf names the HTTP request that cmd sends, with the URL of the
// server it talks to, e.g. "POST https://ws.api.video/upload". The token is
// never part of it.
func requestOf(cmd *cobra.Command) string {
	base := strings.TrimSuffix(serverURL(cmd), "/")
	if cmd == nil {
		return base
	}
	switch cmd.CommandPath() {
	case "avupload token create":
		return "POST " + base + "/upload-tokens"
	case "avupload token list":
		return "GET " + base + "/upload-tokens"
	case "avupload token get":
		return "GET " + base + "/upload-tokens/TOKEN"
	case "avupload token delete":
		return "DELETE " + base + "/upload-tokens/TOKEN"
	case "avupload upload":
		return "POST " + base + "/upload"
	default:
		return base
	}
}

// serverURL is the base URL cmd talks to, as its --base-url and --sandbox
// flags choose it.
func serverURL(cmd *cobra.Command) string {
	var srv serverFlags
	if cmd != nil {
		if f := cmd.Flags().Lookup("base-url"); f != nil {
			srv.baseURL = f.Value.String()
		}
		if f := cmd.Flags().Lookup("sandbox"); f != nil {
			srv.sandbox = f.Value.String() == "true"
		}
	}
	c, err := wrapper.New(srv.options()...)
	if err != nil {
		return srv.baseURL
	}
	return c.BaseURL()
}

// networkCause is the part of a failed connection a person acts on: "connection
// refused", "no such host", "i/o timeout", rather than the Go call that failed.
func networkCause(err error) string {
	var (
		dnsErr  *net.DNSError
		netErr  *net.OpError
		sysErr  *os.SyscallError
		urlErr  *url.Error
		timeout interface{ Timeout() bool }
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.Err == "unknown port":
		_, port, _ := strings.Cut(dnsErr.Name, "/") // Name is "tcp/PORT"
		return fmt.Sprintf("unknown port %q", port)
	case errors.As(err, &dnsErr):
		return "cannot find host " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &sysErr):
		return sysErr.Err.Error()
	case errors.As(err, &netErr):
		return netErr.Err.Error()
	case errors.As(err, &timeout) && timeout.Timeout():
		return "no answer in time"
	case errors.As(err, &urlErr):
		return urlErr.Err.Error()
	default:
		return err.Error()
	}
}
