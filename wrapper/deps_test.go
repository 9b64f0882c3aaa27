package wrapper

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What only tests and validators need: the OpenAPI loader behind the embedded
// description (gen/spec), the YAML parsers and the JSON-schema validator it
// pulls in, the code generator itself and the recorded answers.
var testOnlyModules = []string{
	"github.com/getkin/kin-openapi",
	"github.com/oapi-codegen/oapi-codegen/v2",
	"github.com/santhosh-tekuri/jsonschema",
	"go.yaml.in/yaml",
	"gopkg.in/yaml.",
	"github.com/avupload/avupload/gen/spec",
	"github.com/avupload/avupload/internal/recorded",
}

// TestProgramsLinkNoTestOnlyCode lists what a program importing each package
// links (go list -deps, without tests) and checks that none of it is there.
func TestProgramsLinkNoTestOnlyCode(t *testing.T) {
	tests := []struct {
		pkg string
		// noTesting also forbids the standard library's testing package.
		noTesting bool
	}{
		{pkg: "github.com/avupload/avupload/gen", noTesting: true},
		{pkg: "github.com/avupload/avupload/wrapper", noTesting: true},
		{pkg: "github.com/avupload/avupload/cmd/avupload"},
	}
	for _, tc := range tests {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", tc.pkg).Output()
			require.NoError(t, err, "go list -deps %s", tc.pkg)
			deps := strings.Fields(string(out))
			require.Contains(t, deps, tc.pkg, "go list names the package itself")
			for _, dep := range deps {
				for _, mod := range testOnlyModules {
					assert.False(t, strings.HasPrefix(dep, mod),
						"%s links %s, which only tests need", tc.pkg, dep)
				}
				if tc.noTesting {
					assert.NotEqual(t, "testing", dep, "%s links the testing package", tc.pkg)
				}
			}
		})
	}
}
