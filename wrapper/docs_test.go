package wrapper_test

import (
	"encoding/json"
	"fmt"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snippet is a piece of Go shown in the documentation.
type snippet struct {
	where string // file and line, for the compiler's messages
	code  string
}

// readmeSnippets returns the ```go blocks of the Markdown file at path.
func readmeSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var (
		out   []snippet
		block []string
		start int
		inGo  bool
	)
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case !inGo && strings.TrimSpace(line) == "```go":
			inGo, start, block = true, i+2, nil
		case inGo && strings.TrimSpace(line) == "```":
			inGo = false
			out = append(out, snippet{fmt.Sprintf("%s:%d", path, start), strings.Join(block, "\n")})
		case inGo:
			block = append(block, line)
		}
	}
	require.False(t, inGo, "%s: a ```go block is not closed", path)
	return out
}

// docSnippets returns the code blocks of the package comment in the Go file
// at path.
func docSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
	require.NoError(t, err)
	require.NotNil(t, f.Doc, "%s has no package comment", path)
	var p comment.Parser
	var out []snippet
	for i, b := range p.Parse(f.Doc.Text()).Content {
		if code, ok := b.(*comment.Code); ok {
			out = append(out, snippet{fmt.Sprintf("%s, code block %d", path, i), code.Text})
		}
	}
	return out
}

// snippetImports are the packages a snippet may use without importing them,
// by the name it uses them by.
var snippetImports = map[string]string{
	"context":     "context",
	"tls":         "crypto/tls",
	"x509":        "crypto/x509",
	"errors":      "errors",
	"fmt":         "fmt",
	"gen":         "github.com/avupload/avupload/gen",
	"http":        "net/http",
	"io":          "io",
	"log":         "log",
	"os":          "os",
	"signal":      "os/signal",
	"time":        "time",
	"testing":     "testing",
	"wrapper":     "github.com/avupload/avupload/wrapper",
	"sandbox":     "github.com/avupload/avupload/sandbox",
	"sandboxtest": "github.com/avupload/avupload/sandbox/sandboxtest",
	"assert":      "github.com/stretchr/testify/assert",
	"require":     "github.com/stretchr/testify/require",
}

// declares reports whether code declares name with := at the start of a
// line, as in "client, err := wrapper.New()".
func declares(code, name string) bool {
	return regexp.MustCompile(`(?m)^\s*(\w+\s*,\s*)*` + name + `\s*(,\s*\w+\s*)*:=`).MatchString(code)
}

// goSource turns snippets into one file of package docsnippets. A snippet
// that declares functions stands at the top level; any other is the body of
// a function of its own, given ctx and, unless it makes its own, the client
// and the upload token (a string) as a reader of the documentation has them,
// so that each compiles as pasted.
func goSource(snippets []snippet) string {
	var body strings.Builder
	for i, s := range snippets {
		fmt.Fprintf(&body, "\n// %s\n", s.where)
		if strings.HasPrefix(strings.TrimSpace(s.code), "func ") {
			body.WriteString(s.code + "\n")
			continue
		}
		params, uses := []string{"ctx context.Context"}, []string{"ctx"}
		for _, given := range []struct{ name, typ string }{{"client", "*wrapper.Client"}, {"token", "string"}} {
			if !declares(s.code, given.name) {
				params = append(params, given.name+" "+given.typ)
				uses = append(uses, given.name)
			}
		}
		fmt.Fprintf(&body, "func snippet%d(%s) error {\n_ = []any{%s}\n%s\nreturn nil\n}\n",
			i, strings.Join(params, ", "), strings.Join(uses, ", "), s.code)
	}
	var src strings.Builder
	src.WriteString("package docsnippets\n\nimport (\n")
	names := make([]string, 0, len(snippetImports))
	for name := range snippetImports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		used := regexp.MustCompile(`\b` + name + `\.`).MatchString(body.String())
		if used {
			fmt.Fprintf(&src, "\t%s %q\n", name, snippetImports[name])
		}
	}
	src.WriteString(")\n" + body.String())
	return src.String()
}

// TestDocSnippetsCompile builds every Go snippet of README.md and of the
// package documentation, so that none drifts from the API it shows. The
// snippets are laid over a package that does not exist on disk
// (go build -overlay), so the source tree is left untouched.
func TestDocSnippetsCompile(t *testing.T) {
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to compile the documentation's snippets")
	root, err := filepath.Abs("..")
	require.NoError(t, err)

	readme := readmeSnippets(t, filepath.Join(root, "README.md"))
	pkgDoc := docSnippets(t, filepath.Join(root, "wrapper", "doc.go"))
	require.NotEmpty(t, readme, "README.md shows no Go")
	require.NotEmpty(t, pkgDoc, "the package documentation shows no Go")

	var plain, tests []snippet
	for _, s := range append(readme, pkgDoc...) {
		if regexp.MustCompile(`(?m)^func Test\w*\(t \*testing\.T\)`).MatchString(s.code) {
			tests = append(tests, s)
		} else {
			plain = append(plain, s)
		}
	}
	dir := t.TempDir()
	virtual := filepath.Join(root, "internal", "docsnippets")
	replace := map[string]string{}
	for name, snippets := range map[string][]snippet{"snippets.go": plain, "snippets_test.go": tests} {
		if len(snippets) == 0 {
			continue
		}
		real := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(real, []byte(goSource(snippets)), 0o600))
		replace[filepath.Join(virtual, name)] = real
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	cmd := exec.Command(goTool, "test", "-vet=off", "-c", "-o", os.DevNull, "-overlay", overlayFile, "./internal/docsnippets")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "a documentation snippet does not compile:\n%s", out)
}
