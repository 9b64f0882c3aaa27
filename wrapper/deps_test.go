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
// pulls in, the code generator itself, the recorded answers and the
// misbehaving servers of internal/testutil.
var testOnlyModules = []string{
	"github.com/getkin/kin-openapi",
	"github.com/oapi-codegen/oapi-codegen/v2",
	"github.com/santhosh-tekuri/jsonschema",
	"go.yaml.in/yaml",
	"gopkg.in/yaml.",
	"github.com/avupload/avupload/gen/spec",
	"github.com/avupload/avupload/internal/recorded",
	"github.com/avupload/avupload/internal/testutil",
}

// What a program importing the library links only when it asks for it:
// the OpenTelemetry SDK, its exporters and what they pull in. The library
// depends on the OpenTelemetry API alone; the CLI, a program, may link them.
var sdkOnlyModules = []string{
	"go.opentelemetry.io/otel/sdk",
	"go.opentelemetry.io/otel/exporters",
	"go.opentelemetry.io/proto/otlp",
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
}

// TestProgramsLinkNoTestOnlyCode lists what a program importing each package
// links (go list -deps, without tests) and checks that none of it is there.
func TestProgramsLinkNoTestOnlyCode(t *testing.T) {
	for _, pkg := range []string{
		"github.com/avupload/avupload/gen",
		"github.com/avupload/avupload/wrapper",
		"github.com/avupload/avupload/wrapper/batch",
		"github.com/avupload/avupload/cmd/avupload",
	} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			require.NoError(t, err, "go list -deps %s", pkg)
			deps := strings.Fields(string(out))
			require.Contains(t, deps, pkg, "go list names the package itself")
			for _, dep := range deps {
				for _, mod := range testOnlyModules {
					assert.False(t, strings.HasPrefix(dep, mod), "%s links %s, which only tests need", pkg, dep)
				}
				assert.NotEqual(t, "testing", dep, "%s links the testing package", pkg)
				if strings.HasPrefix(pkg, "github.com/avupload/avupload/cmd/") {
					continue
				}
				for _, mod := range sdkOnlyModules {
					assert.False(t, strings.HasPrefix(dep, mod), "%s links %s: a library links the OpenTelemetry API only", pkg, dep)
				}
			}
		})
	}
}
