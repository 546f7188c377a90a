package resolve_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog/resolve"
)

// short is what the tests compare of a reference.
type short struct {
	Line, Column int
	Raw, Image   string
	Instruction  string
	Err          bool
}

func shorten(refs []resolve.Reference) []short {
	var out []short
	for _, r := range refs {
		out = append(out, short{r.Line, r.Column, r.Raw, r.Image, r.Instruction, r.Err != ""})
	}
	return out
}

func TestParseDockerfile(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		args map[string]string
		want []short
	}{
		"plain": {
			src:  "FROM nginx:1.27\nRUN echo hi\n",
			want: []short{{1, 6, "nginx:1.27", "nginx:1.27", "FROM", false}},
		},
		"multi-stage names are skipped, case-insensitively": {
			src: "FROM golang:1.22 AS Build\nRUN go build\nFROM build AS test\nFROM --platform=$BUILDPLATFORM gcr.io/distroless/static:nonroot\n" +
				"COPY --from=BUILD /out /app\nCOPY --from=0 /x /y\nCOPY --from=docker.io/library/busybox:1.36 /bin/sh /sh\nFROM scratch\n",
			want: []short{
				{1, 6, "golang:1.22", "golang:1.22", "FROM", false},
				{4, 32, "gcr.io/distroless/static:nonroot", "gcr.io/distroless/static:nonroot", "FROM", false},
				{7, 13, "docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "COPY --from", false},
			},
		},
		"ARG defaults, build args, substitution forms": {
			src: "ARG REGISTRY=docker.io\nARG BASE=debian\nARG VERSION\nARG UNSET\n" +
				"FROM ${REGISTRY}/library/${BASE}:${VERSION:-12}\nFROM $BASE:${UNSET:-bookworm}-slim\nFROM ${OTHER-alpine}:${VERSION+3.20}\nFROM ${UNSET}\n",
			args: map[string]string{"BASE": "ubuntu", "NOT_DECLARED": "x"},
			want: []short{
				{5, 6, "${REGISTRY}/library/${BASE}:${VERSION:-12}", "docker.io/library/ubuntu:12", "FROM", false},
				{6, 6, "$BASE:${UNSET:-bookworm}-slim", "ubuntu:bookworm-slim", "FROM", false},
				{7, 6, "${OTHER-alpine}:${VERSION+3.20}", "alpine:", "FROM", false},
				{8, 6, "${UNSET}", "", "FROM", true},
			},
		},
		"ARGs after FROM are not seen by FROM": {
			src:  "FROM alpine:3.20\nARG LATE=x\nFROM ${LATE}\n",
			want: []short{{1, 6, "alpine:3.20", "alpine:3.20", "FROM", false}, {3, 6, "${LATE}", "", "FROM", true}},
		},
		"platform args come from the build": {
			src:  "FROM --platform=${TARGETPLATFORM} nginx-${TARGETARCH}:1\n",
			args: map[string]string{"TARGETARCH": "arm64"},
			want: []short{{1, 35, "nginx-${TARGETARCH}:1", "nginx-arm64:1", "FROM", false}},
		},
		"continuations, comments, lower case": {
			src: "# syntax=docker/dockerfile:1\nfrom \\\n  # a comment inside\n\n  python:3.12 \\\n  as base\nRUN --mount=type=cache,target=/root/.cache,from=ghcr.io/acme/cache:1 pip install x\n",
			want: []short{
				{5, 3, "python:3.12", "python:3.12", "FROM", false},
				{7, 49, "ghcr.io/acme/cache:1", "ghcr.io/acme/cache:1", "RUN --mount from", false},
			},
		},
		"escape directive": {
			src:  "# escape=`\nFROM `\n  mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir c:\\\n",
			want: []short{{3, 3, "mcr.microsoft.com/windows/servercore:ltsc2022", "mcr.microsoft.com/windows/servercore:ltsc2022", "FROM", false}},
		},
		"heredoc bodies are not instructions": {
			src:  "FROM alpine:3.20\nRUN <<EOF\nFROM evil:1\nEOF\nCOPY <<-'END' /x\n\tFROM evil:2\n\tEND\nFROM redis:7\n",
			want: []short{{1, 6, "alpine:3.20", "alpine:3.20", "FROM", false}, {8, 6, "redis:7", "redis:7", "FROM", false}},
		},
		"CRLF and quoted ARG": {
			src:  "ARG IMG=\"nginx:1.27\"\r\nFROM $IMG\r\n",
			want: []short{{2, 6, "$IMG", "nginx:1.27", "FROM", false}},
		},
		"empty": {src: "", want: nil},
	} {
		t.Run(name, func(t *testing.T) {
			refs, err := resolve.ParseDockerfile(strings.NewReader(tc.src), resolve.DockerfileOptions{BuildArgs: tc.args})
			require.NoError(t, err)
			assert.Equal(t, tc.want, shorten(refs))
		})
	}
}

func TestParseDockerfileCaps(t *testing.T) {
	_, err := resolve.ParseDockerfile(strings.NewReader(strings.Repeat("FROM a\n", resolve.MaxReferences+1)), resolve.DockerfileOptions{})
	assert.ErrorIs(t, err, resolve.ErrTooLarge)
	_, err = resolve.ParseDockerfile(strings.NewReader(strings.Repeat("#", resolve.MaxFileBytes+1)), resolve.DockerfileOptions{})
	assert.ErrorIs(t, err, resolve.ErrTooLarge)
}

const manifests = `# a comment
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
      - name: migrate
        image: "ghcr.io/acme/migrate:2.1"
      containers:
      - name: app
        image: nginx:1.27
      - name: sidecar
        image: 'docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000'
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: job, image: "redis:7"}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: debug}
  spec:
    containers: [{name: main, image: alpine:3.20}]
    ephemeralContainers:
    - name: dbg
      image: busybox
- kind: ConfigMap
  metadata: {name: cfg}
  data: {containers: "image: not-a-container"}
---
`

func TestParseKubernetes(t *testing.T) {
	refs, err := resolve.ParseKubernetes(strings.NewReader(manifests))
	require.NoError(t, err)
	assert.Equal(t, []short{
		{10, 17, "ghcr.io/acme/migrate:2.1", "ghcr.io/acme/migrate:2.1", "Deployment/web spec.template.spec.initContainers[migrate]", false},
		{13, 16, "nginx:1.27", "nginx:1.27", "Deployment/web spec.template.spec.containers[app]", false},
		{15, 17, "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
			"docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000", "Deployment/web spec.template.spec.containers[sidecar]", false},
		{27, 33, "redis:7", "redis:7", "CronJob/nightly spec.jobTemplate.spec.template.spec.containers[job]", false},
		{36, 38, "alpine:3.20", "alpine:3.20", "Pod/debug spec.containers[main]", false},
		{39, 14, "busybox", "busybox", "Pod/debug spec.ephemeralContainers[dbg]", false},
	}, shorten(refs))

	_, err = resolve.ParseKubernetes(strings.NewReader("kind: [unclosed\n"))
	assert.ErrorIs(t, err, resolve.ErrMalformed)
	deep := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	_, err = resolve.ParseKubernetes(strings.NewReader(deep))
	assert.Error(t, err, "nesting beyond the cap")
}

func FuzzParseDockerfile(f *testing.F) {
	for _, s := range []string{"FROM a\n", "ARG X=1\nFROM ${X:-y} AS s\nCOPY --from=s /a /b\n", "# escape=`\nFROM `\n b\n", "RUN <<E\nFROM x\nE\n", "FROM ${", "FROM $\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := resolve.ParseDockerfile(strings.NewReader(s), resolve.DockerfileOptions{BuildArgs: map[string]string{"X": "y"}})
		if err != nil {
			return
		}
		lines := strings.Split(s, "\n")
		for _, r := range refs {
			if r.Line < 1 || r.Line > len(lines) || r.Column < 1 {
				t.Fatalf("reference %+v outside the file", r)
			}
		}
	})
}

func FuzzParseKubernetes(f *testing.F) {
	f.Add(manifests)
	f.Add("containers: [{image: a}]\n")
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := resolve.ParseKubernetes(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(refs) > resolve.MaxReferences {
			t.Fatalf("%d references", len(refs))
		}
	})
}
