package gen_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnePackageComment checks that generate.go holds the only doc comment
// of gen and of gen/spec: go doc prints every file's package comment, and
// the generated files' notices would otherwise repeat under it.
func TestOnePackageComment(t *testing.T) {
	for _, dir := range []string{".", "spec"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		var withDoc []string
		for _, name := range files {
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly|parser.ParseComments)
			require.NoError(t, err, name)
			if f.Doc != nil {
				withDoc = append(withDoc, name)
			}
		}
		assert.Equal(t, []string{filepath.Join(dir, "generate.go")}, withDoc, dir)
	}
}
