package main

import (
	"cmp"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/pflag"

	"github.com/avupload/avupload/wrapper"
)

// Environment variables the CLI reads. The library itself reads none.
const (
	envAPIKey = "APIVIDEO_API_KEY" // the API key, for the token commands
	envToken  = "AVUPLOAD_TOKEN"   // the upload token, for upload
)

// serverFlags choose the server a command talks to.
type serverFlags struct {
	baseURL string
	sandbox bool
}

func (s *serverFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.baseURL, "base-url", "", "talk to the API at `URL`, e.g. a local 'avupload sandbox' (default https://ws.api.video)")
	fs.BoolVar(&s.sandbox, "sandbox", false, "talk to api.video's sandbox environment (https://sandbox.api.video)")
}

// options returns the client options that select the server.
func (s *serverFlags) options() []wrapper.Option {
	switch {
	case s.baseURL != "":
		return []wrapper.Option{wrapper.WithBaseURL(s.baseURL)}
	case s.sandbox:
		return []wrapper.Option{wrapper.WithSandbox()}
	default:
		return nil
	}
}

// check refuses a --base-url that is not an http or https URL with a host,
// before the library would refuse it in its own words.
func (s *serverFlags) check() error {
	if s.baseURL == "" {
		return nil
	}
	u, err := url.Parse(s.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--base-url %s: want a URL such as https://ws.api.video or http://127.0.0.1:8080", quoteIfNeeded(s.baseURL))
	}
	return nil
}

// outputFlags choose how a command prints its result.
type outputFlags struct {
	json  bool
	quiet bool
}

func (o *outputFlags) register(fs *pflag.FlagSet, quietHelp string) {
	fs.BoolVar(&o.json, "json", false, "print the result as JSON, with the API's field names")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, quietHelp)
}

// newClient builds the client a command uses. apiKey may be empty for the
// calls that need none (uploads); extra options come last.
func newClient(srv *serverFlags, apiKey string, extra ...wrapper.Option) (*wrapper.Client, error) {
	if err := srv.check(); err != nil {
		return nil, err
	}
	opts := srv.options()
	opts = append(opts, wrapper.WithOriginApp("avupload-cli", wrapper.Version))
	if apiKey != "" {
		opts = append(opts, wrapper.WithAPIKey(apiKey))
	}
	c, err := wrapper.New(append(opts, extra...)...)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// apiKey returns the API key from --api-key or else APIVIDEO_API_KEY, and
// records it as a secret. Without either it returns a usage error.
func (a *app) apiKey(flag string) (string, error) {
	return a.credential(flag, envAPIKey, "no API key: set "+envAPIKey+" (or pass --api-key)")
}

// uploadToken returns the upload token from --token or else AVUPLOAD_TOKEN,
// and records it as a secret. Without either it returns a usage error.
func (a *app) uploadToken(flag string) (string, error) {
	return a.credential(flag, envToken, "no upload token: pass --token (or set "+envToken+")")
}

// credential returns flag, or else the environment variable env, and records
// it as a secret; without either it returns a usage error saying missing.
func (a *app) credential(flag, env, missing string) (string, error) {
	v := cmp.Or(flag, a.getenv(env))
	if v == "" {
		return "", usageError{missingCredential{missing}}
	}
	a.secret(v)
	return v, nil
}

// printf writes to w, ignoring errors: a closed stdout is not worth failing
// a finished upload for.
func printf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
