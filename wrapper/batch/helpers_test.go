package batch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

// TestMain fails the package's tests if any goroutine (a file's upload, a
// progress notifier, an HTTP connection) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testChunk is the chunk size of the tests' chunked files: the smallest.
const testChunk = wrapper.MinChunkSize

// fastRetries retries as the default policy does, without its waits.
var fastRetries = wrapper.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// uploadEnv is a sandbox, a client pointed at it and a fresh upload token.
type uploadEnv struct {
	srv    *sandbox.Server
	client *wrapper.Client
	token  string
}

func newUploadEnv(t testing.TB, opts ...sandbox.Option) *uploadEnv {
	t.Helper()
	srv := sandboxtest.NewServer(t, append([]sandbox.Option{sandbox.WithDataDir(t.TempDir())}, opts...)...)
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	return &uploadEnv{srv: srv, client: c, token: token}
}

// testData returns n deterministic pseudo-random bytes for seed.
var testData = testutil.Data
