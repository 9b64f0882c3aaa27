package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// tokenFlags are the flags every token command shares.
type tokenFlags struct {
	server serverFlags
	output outputFlags
	apiKey string
}

// client builds a client holding the API key, whose waits and stalls are
// told on cmd's standard error unless --quiet.
func (f *tokenFlags) client(a *app, cmd *cobra.Command) (*wrapper.Client, error) {
	key, err := a.apiKey(f.apiKey)
	if err != nil {
		return nil, err
	}
	n := newNotifier(cmd.ErrOrStderr(), f.output.quiet, wrapper.DefaultCallStallTimeout)
	return newClient(&f.server, key, wrapper.WithEvents(n.event))
}

// print writes tokens as JSON (one object, or a list when list is set), as
// bare tokens with --quiet, or as a table.
func (f *tokenFlags) print(cmd *cobra.Command, tokens []wrapper.UploadToken) error {
	w := cmd.OutOrStdout()
	switch {
	case f.output.json && len(tokens) == 1:
		return writeRaw(w, tokens[0].RawJSON())
	case f.output.quiet:
		for _, t := range tokens {
			printf(w, "%s\n", escapeText(t.Token))
		}
		return nil
	default:
		return writeTokenTable(w, tokens)
	}
}

// newTokenCommand returns `avupload token` and its subcommands.
func newTokenCommand(a *app) *cobra.Command {
	f := &tokenFlags{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list, show and delete upload tokens (needs the API key)",
		Long: `Manage upload tokens: the credentials an uploader holds instead of the API key.

These commands need the API key. Set it in the environment, where it stays out
of your shell history and of 'ps' output:

  export ` + envAPIKey + `=...

--api-key works too, but exposes the key to other users of the machine.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.apiKey, "api-key", "", "use `KEY` as the API key (default $"+envAPIKey+")")
	f.server.register(pf)
	f.output.register(pf, "print only the tokens, one a line")
	cmd.AddCommand(
		newTokenCreateCommand(a, f),
		newTokenListCommand(a, f),
		newTokenGetCommand(a, f),
		newTokenDeleteCommand(a, f),
	)
	return cmd
}

// defaultTTL is the lifetime of a token minted without --ttl: bounded, since
// a token that never expires is a credential that never stops working.
const defaultTTL = time.Hour

func newTokenCreateCommand(a *app, f *tokenFlags) *cobra.Command {
	ttl := defaultTTL
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Mint an upload token",
		Long: `Mint an upload token and print it. Give the token to whoever uploads: it lets
them upload videos, and nothing else, until it expires or is deleted.

A token lives for an hour unless --ttl says otherwise; --ttl 0 makes one that
never expires, which works until it is deleted.`,
		Example: `  avupload token create
  TOKEN=$(avupload token create --ttl 30m -q)
  avupload token create --ttl 0     # never expires`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(a, cmd)
			if err != nil {
				return err
			}
			t, err := c.CreateUploadToken(cmd.Context(), ttl)
			if err != nil {
				return err
			}
			if err := f.print(cmd, []wrapper.UploadToken{t}); err != nil || stdoutErr(cmd) != nil {
				return lostToken(t, cmp.Or(stdoutErr(cmd), err))
			}
			return nil
		}),
	}
	cmd.Flags().Var(ttlFlag{&ttl}, "ttl", "lifetime of the token, e.g. 90s, 30m or 2h; 0 never expires")
	return cmd
}

// lostToken is the error of a token minted but not printed, as the write
// to standard output failed with err: the token itself is not told (it is
// a credential, and standard error may be a log), but how to find it and
// get rid of it.
func lostToken(t wrapper.UploadToken, err error) error {
	life := "it never expires"
	if !t.ExpiresAt.IsZero() {
		life = "it expires at " + t.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	created := ""
	if !t.CreatedAt.IsZero() {
		created = " at " + t.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return &outputLost{what: "the token", err: err, then: fmt.Sprintf(
		"the token was minted%s and works until deleted or expired (%s): "+
			"'avupload token list --sort-by createdAt --order desc' shows it first, 'avupload token delete TOKEN' deletes it",
		created, life)}
}

// ttlFlag is a pflag.Value holding a token lifetime: a duration of whole
// seconds, from 0 (never expires) to wrapper.MaxTokenTTL.
type ttlFlag struct{ d *time.Duration }

// durationSyntax matches what time.ParseDuration reads, whatever the size.
var durationSyntax = regexp.MustCompile(`^[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$`)

func (f ttlFlag) String() string {
	if *f.d == 0 {
		return "0"
	}
	return formatTTL(*f.d)
}

func (f ttlFlag) Type() string { return "duration" }

func (f ttlFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	maxTTL := fmt.Sprintf("at most %s (%d seconds)", formatTTL(wrapper.MaxTokenTTL), int64(wrapper.MaxTokenTTL/time.Second))
	switch {
	case err != nil && s != "0" && durationSyntax.MatchString(s) && !strings.HasPrefix(s, "-"):
		return errors.New("too long: " + maxTTL)
	case err != nil:
		return errors.New("want a duration such as 90s, 30m or 2h, or 0 for a token that never expires")
	case d < 0:
		return errors.New("a lifetime cannot be negative; 0 makes a token that never expires")
	case d%time.Second != 0:
		return errors.New("want whole seconds")
	case d > wrapper.MaxTokenTTL:
		return errors.New("too long: " + maxTTL)
	}
	*f.d = d
	return nil
}

func newTokenListCommand(a *app, f *tokenFlags) *cobra.Command {
	var (
		opts   wrapper.ListOptions
		sortBy string
		order  string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the account's upload tokens",
		Long: `List the account's upload tokens, one page at a time (the server's default
page holds 25), or every page with --all.`,
		Example: `  avupload token list
  avupload token list --sort-by ttl --order desc --page 2 --page-size 10
  avupload token list --all --json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			switch sortBy {
			case "", string(wrapper.SortByCreatedAt), string(wrapper.SortByTTL):
			default:
				return usagef("--sort-by %q: want createdAt or ttl", sortBy)
			}
			switch order {
			case "", string(wrapper.SortAsc), string(wrapper.SortDesc):
			default:
				return usagef("--order %q: want asc or desc", order)
			}
			if opts.Page < 1 {
				return usagef("--page %d: pages are counted from 1", opts.Page)
			}
			if cmd.Flags().Changed("page-size") && (opts.PageSize < 1 || opts.PageSize > wrapper.MaxPageSize) {
				return usagef("--page-size %d: want 1 to %d", opts.PageSize, wrapper.MaxPageSize)
			}
			opts.SortBy, opts.SortOrder = wrapper.SortBy(sortBy), wrapper.SortOrder(order)
			c, err := f.client(a, cmd)
			if err != nil {
				return err
			}
			if all {
				return listAll(cmd, f, c, opts)
			}
			return listPage(cmd, f, c, opts)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&sortBy, "sort-by", "", "sort by `FIELD`: createdAt or ttl")
	fs.StringVar(&order, "order", "", "sort `ORDER`: asc or desc")
	fs.IntVar(&opts.Page, "page", 1, "page `N` to show, counted from 1")
	fs.IntVar(&opts.PageSize, "page-size", 0, "`N` tokens a page, 1 to 100 (default: the server's, 25)")
	fs.BoolVar(&all, "all", false, "list every page")
	cmd.MarkFlagsMutuallyExclusive("all", "page")
	return cmd
}

// listPage prints one page of tokens and, in a table, where it stands.
func listPage(cmd *cobra.Command, f *tokenFlags, c *wrapper.Client, opts wrapper.ListOptions) error {
	page, err := c.ListUploadTokens(cmd.Context(), opts)
	if err != nil {
		return err
	}
	if p := page.Pagination; len(page.Tokens) == 0 && opts.Page > max(p.PagesTotal, 1) {
		return fmt.Errorf("there is no page %d: the list has %d page(s), %d token(s) in all", opts.Page, max(p.PagesTotal, 1), p.ItemsTotal)
	}
	w := cmd.OutOrStdout()
	if f.output.json {
		return writeRaw(w, page.RawJSON())
	}
	if err := f.print(cmd, page.Tokens); err != nil {
		return err
	}
	if !f.output.quiet {
		p := page.Pagination
		printf(w, "page %d of %d, %d token(s) in all\n", p.Page, max(p.PagesTotal, 1), p.ItemsTotal)
	}
	return nil
}

// listAll prints the tokens of every page. A table is printed once the
// whole list has arrived, so that its columns line up.
func listAll(cmd *cobra.Command, f *tokenFlags, c *wrapper.Client, opts wrapper.ListOptions) error {
	opts.Page = 0
	if opts.PageSize == 0 {
		opts.PageSize = wrapper.MaxPageSize
	}
	var tokens []wrapper.UploadToken
	for t, err := range c.AllUploadTokens(cmd.Context(), opts) {
		if err != nil {
			return err
		}
		tokens = append(tokens, t)
	}
	if f.output.json {
		return writeTokenList(cmd.OutOrStdout(), tokens)
	}
	return f.print(cmd, tokens)
}

func newTokenGetCommand(a *app, f *tokenFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get TOKEN",
		Short:   "Show an upload token",
		Example: `  avupload token get to1tcmSFHeYY5KzyhOqVKMKb --json`,
		Args:    tokenArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := f.client(a, cmd)
			if err != nil {
				return err
			}
			if err := notTheAPIKey(a, f, args[0]); err != nil {
				return err
			}
			t, err := c.GetUploadToken(cmd.Context(), args[0])
			if err != nil {
				return tokenNotFound(err, args[0])
			}
			return f.print(cmd, []wrapper.UploadToken{t})
		}),
	}
	return cmd
}

func newTokenDeleteCommand(a *app, f *tokenFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete TOKEN",
		Short:   "Delete an upload token at once",
		Long:    "Delete an upload token: uploads with it fail from now on, even those under way.",
		Example: `  avupload token delete to1tcmSFHeYY5KzyhOqVKMKb`,
		Args:    tokenArg,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			c, err := f.client(a, cmd)
			if err != nil {
				return err
			}
			if err := notTheAPIKey(a, f, args[0]); err != nil {
				return err
			}
			if err := c.DeleteUploadToken(cmd.Context(), args[0]); err != nil {
				return tokenNotFound(err, args[0])
			}
			if !f.output.json && !f.output.quiet {
				printf(cmd.OutOrStdout(), "upload token deleted\n")
			}
			return nil
		}),
	}
	return cmd
}

// notTheAPIKey refuses a TOKEN argument that is the API key, in words that
// hold none of it, before it is sent anywhere: the API key is no upload
// token, and a request's path ends up in logs.
func notTheAPIKey(a *app, f *tokenFlags, token string) error {
	key, err := a.apiKey(f.apiKey)
	if err == nil && strings.TrimSpace(token) == strings.TrimSpace(key) {
		return usagef("TOKEN is the API key, not an upload token; it was not sent. 'avupload token list' lists the upload tokens")
	}
	return nil
}

// tokenNotFound turns the API's 404 for token into a message that names the
// token by its first characters (never whole: it is a credential) and says
// why it may be gone. Any other error is returned as it is.
func tokenNotFound(err error, token string) error {
	var apiErr *wrapper.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Title == "" {
		return err
	}
	return fmt.Errorf("no upload token %s: it may have expired or been deleted", tokenPrefix(token))
}

// tokenPrefix shows enough of token to recognise it and too little to use
// it: its first six characters, then "...".
func tokenPrefix(token string) string {
	const shown = 6
	if len(token) <= shown {
		return strconv.Quote(token)
	}
	return strings.ToValidUTF8(token[:shown], "") + "..."
}

// tokenArg refuses an empty TOKEN argument.
func tokenArg(cmd *cobra.Command, args []string) error {
	if err := exactArgs(1, "TOKEN")(cmd, args); err != nil {
		return err
	}
	if strings.TrimSpace(args[0]) == "" {
		return usagef("%s: TOKEN is empty", cmd.CommandPath())
	}
	return nil
}

// noArgs refuses any argument, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// exactArgs wants n arguments, named by what for the message.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s wants %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}
