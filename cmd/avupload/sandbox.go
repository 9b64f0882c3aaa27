package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/sandbox"
)

// newSandboxCommand returns `avupload sandbox`, which serves a local sandbox
// of the delegated-upload API until interrupted.
func newSandboxCommand() *cobra.Command {
	var (
		addr      string
		apiKeys   []string
		dataDir   string
		rateLimit bool
		faults    []string
		verbose   bool
		web       sandboxWebFlags
		budget    int64
		idle      time.Duration
		maxConns  int
		strict    bool
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local sandbox of the delegated-upload API",
		Long: `Run a local server that implements api.video's five delegated-upload
endpoints, with the real service's rules, limits and error texts.

It serves until SIGINT or SIGTERM, then shuts down cleanly and exits 0:
that is its normal end (a second signal stops it at once). On start it
prints the lines to paste in another shell so that the other avupload
commands talk to it (` + envBaseURL + `, ` + envAPIKey + `, and with --tls
` + envCACert + `), e.g.
  export AVUPLOAD_BASE_URL=http://127.0.0.1:8080
  export APIVIDEO_API_KEY=sandbox-api-key
On Windows they are PowerShell lines ($env:AVUPLOAD_BASE_URL = '...').
Inspect it with GET /_sandbox/videos, GET /_sandbox/stats and
GET /_sandbox/lint.

GET /_sandbox/lint lists, per client (its AV-Origin-Client and AV-Origin-App
headers), the mistakes a correct client never makes: a chunk after the first
without videoId, a chunk but the last under 5 MiB, a range sent again with
other bytes, a total that changes, an upload token used as the API key or the
reverse. The sandbox logs a warning for each; with --strict it also refuses
the chunk without videoId (which the API takes as a new video) with 400, and
names the mistake and the fix in every such answer.

It also answers the authentication routes (POST /auth/api-key, POST
/auth/refresh) that bearer-token clients use, and CORS preflights, so that a
web page of another origin can upload with a token: by default pages of
localhost, 127.0.0.1 and [::1] (any port), --cors-origin names others, and
--cors-origin '*' allows any page of any site (with a warning: such a page
could use the API key). /_sandbox/ routes answer only origins named by
--cors-origin. Browsers upload over https only: --tls serves https with a
self-signed certificate made at start. Over https the sandbox offers HTTP/2
as well as HTTP/1.1 ('avupload upload --http2' uses it).

Without --data-dir uploads are held in memory, within --memory-budget, and
nothing is written to disk. Every request's file part holds at most 200 MiB,
as on the real service.

Fault syntax (--fault, repeatable): OP:REQUEST:ACTION
  OP       an operationId, or upload, create, list, get, delete, or * for all
  REQUEST  the 1-based request number on that route, or * for every request;
           on upload also upload/N (the Nth request of each upload, so that
           a small file sent in one request is hit too), first or first/N
           (first chunks: a whole file, part 1, bytes 0-), later or later/N
           (any chunk after the first)
  ACTION   status=CODE (403, 429, 500, 502, 503, 504), cut=BYTES (a size as
           --memory-budget takes: 1048576, 512K, 2MiB; MB means MiB), stall=DURATION
           (e.g. 500ms, 5s), commit-cut

Listening beyond this machine (--addr :8080, 0.0.0.0:8080) with the default
API key, which is public, prints a warning: give --api-key a key of your own.`,
		Example: `  avupload sandbox --addr 127.0.0.1:8080 --api-key my-key
  avupload sandbox --addr 127.0.0.1:0 --data-dir /tmp/sb --rate-limit \
      --fault upload:upload/1:status=503 --fault upload:later/1:commit-cut
  avupload sandbox --tls --cors-origin http://localhost:3000
  avupload sandbox --tls-cert cert.pem --tls-key key.pem`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if err := checkListenAddr(addr); err != nil {
				return err
			}
			for _, name := range []string{"data-dir", "cors-origin"} {
				if f := cmd.Flags().Lookup(name); f.Changed && strings.Trim(f.Value.String(), "[] ") == "" {
					return usagef("--%s is empty; give a value, or leave the flag out", name)
				}
			}
			if len(apiKeys) == 0 || slices.Contains(apiKeys, "") {
				return usagef("--api-key: a key cannot be empty")
			}
			if err := web.check(); err != nil {
				return err
			}
			if idle <= 0 {
				return usagef("--body-idle-timeout %v: want a positive duration such as 30s", idle)
			}
			if maxConns <= 0 {
				return usagef("--max-connections %d: want at least 1", maxConns)
			}
			opts := []sandbox.Option{sandbox.WithAPIKeys(apiKeys...), sandbox.WithMemoryBudget(budget),
				sandbox.WithBodyIdleTimeout(idle), sandbox.WithMaxConnections(maxConns), sandbox.WithStrict(strict)}
			if dataDir != "" {
				opts = append(opts, sandbox.WithDataDir(dataDir))
			}
			if rateLimit {
				opts = append(opts, sandbox.WithRateLimits(sandbox.SandboxRateLimits()))
			}
			for _, spec := range faults {
				f, err := sandbox.ParseFault(spec)
				if err != nil {
					return usagef("--fault %s", strings.TrimLeft(strings.TrimPrefix(err.Error(), "sandbox: fault"), ": "))
				}
				opts = append(opts, sandbox.WithFaults(f))
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			opts = append(opts, sandbox.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))))
			webOpts, cleanup, caFile, err := web.options(cmd.OutOrStdout(), cmd.ErrOrStderr(), addr)
			if err != nil {
				return err
			}
			defer cleanup()
			opts = append(opts, webOpts...)

			srv, err := sandbox.Start(addr, opts...)
			if err != nil {
				if opErr := (*net.OpError)(nil); errors.As(err, &opErr) && opErr.Op == "listen" {
					return fmt.Errorf("sandbox cannot start on --addr %s: %w", addr, err)
				}
				if inUse := (*sandbox.DataDirInUseError)(nil); errors.As(err, &inUse) {
					holder := "another process"
					if inUse.PID != 0 {
						holder = fmt.Sprintf("another process (pid %d)", inUse.PID)
					}
					return fmt.Errorf("sandbox cannot start: --data-dir %s is in use by %s; stop that sandbox, or give this one another --data-dir", dataDir, holder)
				}
				if pathErr := (*fs.PathError)(nil); dataDir != "" && errors.As(err, &pathErr) {
					return fmt.Errorf("sandbox cannot start: --data-dir %s: %w", dataDir, pathErr.Err)
				}
				return fmt.Errorf("sandbox cannot start: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sandbox listening on %s\n", srv.URL)
			printSandboxEnv(cmd.OutOrStdout(), runtime.GOOS, srv.URL, apiKeys[0], caFile)
			if err := stdoutErr(cmd); err != nil {
				_ = srv.Close()
				return &outputLost{what: "the sandbox's address and API key", err: err, then: "the sandbox stopped"}
			}
			if slices.Contains(apiKeys, sandbox.DefaultAPIKey) && !loopbackAddr(addr) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the sandbox listens on %s, beyond this machine, and takes the default API key %q, "+
					"which anyone can read in avupload's documentation: whoever reaches this machine can mint upload tokens and upload; "+
					"give --api-key with a key of your own, or listen on 127.0.0.1 only (--addr 127.0.0.1:PORT)\n", addr, sandbox.DefaultAPIKey)
			}
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("sandbox: shutdown: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "sandbox stopped")
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to listen on (port 0 picks a free port; an empty host or 0.0.0.0 listens on every interface)")
	f.StringSliceVar(&apiKeys, "api-key", []string{sandbox.DefaultAPIKey}, "API key to accept on the token routes (repeatable)")
	f.StringVar(&dataDir, "data-dir", "", "store tokens and uploads in this directory instead of memory; they survive a restart")
	f.Var(newSizeFlag(&budget, sandbox.DefaultMemoryBudget, "1GiB"), "memory-budget",
		"without --data-dir, hold at most this many uploaded bytes in memory; past it uploads get 507")
	f.DurationVar(&idle, "body-idle-timeout", sandbox.DefaultBodyIdleTimeout,
		"end a request whose body sends no byte for this long (408)")
	f.IntVar(&maxConns, "max-connections", sandbox.DefaultMaxConnections,
		"serve at most this many connections at once; further clients wait their turn")
	f.BoolVar(&rateLimit, "rate-limit", false, "enforce the published sandbox rate limits (40 uploads, 40 writes, 100 reads per minute)")
	f.StringArrayVar(&faults, "fault", nil, "inject a fault, OP:REQUEST:ACTION (repeatable; see above)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every request")
	f.BoolVar(&strict, "strict", false, "refuse what a correct client never sends (a chunk after the first without videoId), naming the mistake and the fix")
	web.register(cmd)
	return cmd
}

// checkListenAddr refuses an --addr that is not HOST:PORT with a port
// from 0 to 65535 (0 picks a free one), or a service name this machine
// knows: a usage error, before any listening.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--addr %s: want HOST:PORT, such as 127.0.0.1:8080, :8080 (every interface) or 127.0.0.1:0 (a free port)", quoteIfNeeded(addr))
	}
	if strings.ContainsAny(host, " /") {
		return usagef("--addr %s: %q is not a host name or address", quoteIfNeeded(addr), host)
	}
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return usagef("--addr %s: port %s is out of range (0 to 65535; 0 picks a free port)", quoteIfNeeded(addr), port)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return usagef("--addr %s: unknown port %q: want a number from 0 to 65535", quoteIfNeeded(addr), port)
	}
	return nil
}

// loopbackAddr reports whether addr (HOST:PORT) listens on this machine
// alone: localhost or a loopback address. An empty host, 0.0.0.0 and ::
// listen on every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// printSandboxEnv writes to w the lines that point the other avupload
// commands, in another shell, at the sandbox at serverURL: its base URL,
// apiKey and, under --tls, caFile. They are shell commands for goos:
// PowerShell on Windows, export elsewhere. A sandbox listening on every
// interface is reached on 127.0.0.1, which its certificate names.
func printSandboxEnv(w io.Writer, goos, serverURL, apiKey, caFile string) {
	if u, err := url.Parse(serverURL); err == nil {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
			u.Host = net.JoinHostPort("127.0.0.1", u.Port())
			serverURL = u.String()
		}
	}
	vars := [][2]string{{envBaseURL, serverURL}, {envAPIKey, apiKey}}
	if caFile != "" {
		vars = append(vars, [2]string{envCACert, caFile})
	}
	fmt.Fprintln(w, "to talk to this sandbox from another shell, paste there:")
	for _, v := range vars {
		if goos == "windows" {
			fmt.Fprintf(w, "$env:%s = %s\n", v[0], shellQuote(v[1], true))
		} else {
			fmt.Fprintf(w, "export %s=%s\n", v[0], shellQuote(v[1], false))
		}
	}
}

// shellQuote returns s as one word for a POSIX shell or, when powershell,
// for PowerShell: bare when it holds only characters neither gives a
// meaning to, else in single quotes.
func shellQuote(s string, powershell bool) string {
	if powershell {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
