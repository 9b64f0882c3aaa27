package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The files this test checks, from this package's folder.
const (
	jobManifest = "../../deploy/kubernetes/avupload-job.yaml"
	dockerfile  = "../../Dockerfile"
)

// k8sJob is the part of a Kubernetes Job the test reads.
type k8sJob struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Template       struct {
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
					RunAsUser    *int64 `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []struct {
					Image   string   `yaml:"image"`
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
					Env     []struct {
						Name      string  `yaml:"name"`
						Value     *string `yaml:"value"`
						ValueFrom *struct {
							SecretKeyRef *struct {
								Name string `yaml:"name"`
								Key  string `yaml:"key"`
							} `yaml:"secretKeyRef"`
							FieldRef *struct {
								FieldPath string `yaml:"fieldPath"`
							} `yaml:"fieldRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					SecurityContext struct {
						AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
						RunAsUser                *int64 `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// expandK8s expands $(NAME) in s as Kubernetes does in a container's
// arguments, from env.
func expandK8s(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// TestKubernetesJob checks the Indexed Job of deploy/: it parses, runs the
// upload command with flags the command takes, --shard auto/N with N its
// completions, a journal per index on a writable volume, the credential
// from a Secret, and a non-root user, the image's.
func TestKubernetesJob(t *testing.T) {
	data, err := os.ReadFile(jobManifest)
	require.NoError(t, err)
	var job k8sJob
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	require.NoError(t, dec.Decode(&job))
	assert.Equal(t, "batch/v1", job.APIVersion)
	assert.Equal(t, "Job", job.Kind)
	assert.Equal(t, "Indexed", job.Spec.CompletionMode, "JOB_COMPLETION_INDEX is set in Indexed Jobs alone")
	n := job.Spec.Completions
	require.Positive(t, n)

	pod := job.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Empty(t, c.Command, "the image's entrypoint runs avupload: the image has no shell")
	require.NotEmpty(t, c.Args)
	assert.Equal(t, "upload", c.Args[0])

	// Non-root: the pod's user, not 0, the image's.
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, pod.SecurityContext.RunAsUser)
	uid := *pod.SecurityContext.RunAsUser
	assert.NotZero(t, uid)
	assert.Nil(t, c.SecurityContext.RunAsUser, "the container does not override the pod's user")
	require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, strconv.FormatInt(uid, 10), dockerfileUID(t), "the manifest's user is the Dockerfile's")

	// The credential comes from a Secret, never written in the manifest.
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
		if e.Name == envAPIKey || e.Name == envToken {
			assert.Nil(t, e.Value, "%s is not written in the manifest", e.Name)
			require.NotNil(t, e.ValueFrom, e.Name)
			assert.NotNil(t, e.ValueFrom.SecretKeyRef, "%s comes from a Secret", e.Name)
		}
		if e.Name == envK8sIndex {
			require.NotNil(t, e.ValueFrom)
			require.NotNil(t, e.ValueFrom.FieldRef)
			assert.Equal(t, "metadata.annotations['batch.kubernetes.io/job-completion-index']", e.ValueFrom.FieldRef.FieldPath)
		}
	}
	assert.True(t, env[envAPIKey] || env[envToken], "the manifest gives %s or %s", envAPIKey, envToken)
	assert.True(t, env[envK8sIndex], "the container declares %s, which $(...) in its arguments expands", envK8sIndex)

	// Each index: the upload command takes the flags, --shard auto/N gives
	// it its own share, and its own journal on a writable volume.
	shares, journals := map[string]bool{}, map[string]bool{}
	for i := range n {
		idx := map[string]string{envK8sIndex: strconv.Itoa(i)}
		args := make([]string, len(c.Args)-1)
		for j, a := range c.Args[1:] {
			args[j] = expandK8s(a, idx)
		}
		f := &uploadFlags{batch: batchFlags{getenv: func(k string) string { return idx[k] }}}
		cmd := newUploadCommand(&app{getenv: func(k string) string { return idx[k] }})
		require.NoError(t, cmd.ParseFlags(args), "the upload command takes %q", args)
		flags := cmd.Flags()
		shard, err := flags.GetString("shard")
		require.NoError(t, err)
		assert.Equal(t, "auto/"+strconv.Itoa(n), shard, "--shard auto/N with N the Job's completions")
		f.batch.shard = shard
		var said strings.Builder
		require.NoError(t, f.batch.resolveShard(&said, false))
		assert.Equal(t, strconv.Itoa(i+1)+"/"+strconv.Itoa(n), f.batch.shard)
		shares[f.batch.shard] = true

		journal, err := flags.GetString("journal")
		require.NoError(t, err)
		require.NotEmpty(t, journal, "--journal: a rerun pod resumes its share")
		journals[journal] = true
		mounted := false
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(journal, strings.TrimSuffix(m.MountPath, "/")+"/") {
				mounted = !m.ReadOnly
			}
		}
		assert.True(t, mounted, "--journal %s is on a writable volume", journal)
		paths := cmd.Flags().Args()
		require.NotEmpty(t, paths)
		for _, p := range paths {
			found := false
			for _, m := range c.VolumeMounts {
				found = found || p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")
			}
			assert.True(t, found, "the library %s is a volume", p)
		}
	}
	assert.Len(t, shares, n, "every index its own share")
	assert.Len(t, journals, n, "every index its own journal")
}

// dockerfileUID is the numeric user of the Dockerfile's last stage.
func dockerfileUID(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^USER\s+(\S+)\s*$`).FindAllStringSubmatch(string(data), -1)
	require.NotEmpty(t, m, "the Dockerfile names a USER")
	user, _, _ := strings.Cut(m[len(m)-1][1], ":")
	return user
}

// TestDockerfile checks that the Dockerfile builds this command, static,
// stamped as make release stamps it, onto a base with nothing else, and
// runs it as a numeric non-root user.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(text, -1)
	require.Len(t, froms, 2, "two stages: build, then run")
	assert.Regexp(t, `^golang:1\.26(\.\d+)?$`, froms[0][1], "built by the newest Go")
	assert.Regexp(t, `^(scratch|gcr\.io/distroless/static(-debian\d+)?(:nonroot)?)$`, froms[1][1], "a base with no shell and no libc")
	build := regexp.MustCompile(`(?m)^RUN .*go build .*$`).FindString(text)
	require.NotEmpty(t, build, "a go build")
	assert.Contains(t, build, "CGO_ENABLED=0", "a static binary")
	assert.Contains(t, build, "-trimpath")
	assert.Regexp(t, `\s\./cmd/avupload\s*$`, build, "the CLI's package")
	assert.Contains(t, build, "-X main.releaseVersion=", "stamped as make release stamps (stamp.go)")
	assert.Contains(t, build, "-X main.releaseCommit=")

	uid := dockerfileUID(t)
	n, err := strconv.Atoi(uid)
	require.NoError(t, err, "USER %s is numeric: Kubernetes' runAsNonRoot checks numbers alone", uid)
	assert.NotZero(t, n, "USER is not root")
	assert.Regexp(t, `(?m)^ENTRYPOINT \["/avupload"\]$`, text)
}

// TestReadmeKubernetesRecipe checks that the README's Kubernetes recipe
// shows the manifest of deploy/ as it is, with an image the README shows
// how to build, and no shell arithmetic left from before --shard auto.
func TestReadmeKubernetesRecipe(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	manifest, err := os.ReadFile(jobManifest)
	require.NoError(t, err)
	text := string(readme)
	assert.Contains(t, text, strings.TrimPrefix(jobManifest, "../../"), "the README names the manifest")
	i := strings.Index(text, "Its pod of index I runs")
	require.Positive(t, i, "the README shows the pod's arguments")
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(text[i:])
	require.NotNil(t, block)
	for _, line := range strings.Split(strings.TrimSpace(block[1]), "\n") {
		assert.Contains(t, string(manifest), line+"\n", "the README's excerpt is the manifest's")
	}
	image := regexp.MustCompile(`(?m)^\s+image: (\S+)$`).FindStringSubmatch(string(manifest))
	require.NotNil(t, image)
	assert.Contains(t, text, "docker build -t "+image[1], "the README builds the manifest's image")
	assert.NotContains(t, text, "JOB_COMPLETION_INDEX+1", "--shard auto replaces the shell's arithmetic")
}
