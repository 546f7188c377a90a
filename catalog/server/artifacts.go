package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// maxDecodeBytes caps a report read into memory to compare it with
// another (the image page, the findings chart). Larger reports can still
// be downloaded; they are streamed.
const maxDecodeBytes = 16 << 20

// errNoRegistry: the handler has no RepositoryOpener.
var errNoRegistry = &Error{Status: http.StatusServiceUnavailable, Code: "no_registry", Message: "this catalog service cannot read the golden registry"}

// openArtifact opens the artifact manifest md in repository and returns
// the repository and the descriptor of its first layer of one of the
// media types.
func (h *Handler) openArtifact(ctx context.Context, repository string, md digest.Digest, mediaTypes ...string) (registry.Repository, ocispec.Descriptor, error) {
	if h.opts.Registry == nil {
		return nil, ocispec.Descriptor{}, errNoRegistry
	}
	repo, err := h.opts.Registry.Repository(ctx, repository)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("open %s: %w", repository, err)
	}
	desc, err := repo.Resolve(ctx, md.String())
	if err != nil {
		return nil, ocispec.Descriptor{}, registryError(fmt.Errorf("resolve %s@%s: %w", repository, md, err))
	}
	if desc.Digest != md {
		return nil, ocispec.Descriptor{}, fmt.Errorf("resolve %s@%s: registry answered %s", repository, md, desc.Digest)
	}
	raw, err := manifest.Fetch(ctx, repo, desc, 0)
	if err != nil {
		return nil, ocispec.Descriptor{}, registryError(fmt.Errorf("fetch %s@%s: %w", repository, md, err))
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("artifact %s@%s: %w", repository, md, err)
	}
	for _, l := range m.Layers {
		if slices.Contains(mediaTypes, l.MediaType) {
			return repo, l, nil
		}
	}
	return nil, ocispec.Descriptor{}, fmt.Errorf("artifact %s@%s has no layer of type %v", repository, md, mediaTypes)
}

// registryError answers 404 for content the registry no longer has and 502
// for other registry failures.
func registryError(err error) error {
	if errors.Is(err, registry.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "artifact_not_found", Message: "the golden registry no longer has this artifact"}
	}
	return &Error{Status: http.StatusBadGateway, Code: "registry_error", Message: "the golden registry failed: " + err.Error()}
}

// streamArtifact streams the first matching layer of artifact manifest md
// to w, verifying size and digest as it goes. A mismatch found after the
// headers went out aborts the connection, so that the client never takes
// a truncated or altered body for the real one.
func (h *Handler) streamArtifact(w http.ResponseWriter, r *http.Request, repository string, md digest.Digest, filename string, mediaTypes ...string) error {
	etag := `"` + md.String() + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	if etagMatches(r.Header.Get("If-None-Match"), md.String()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	repo, layer, err := h.openArtifact(r.Context(), repository, md, mediaTypes...)
	if err != nil {
		w.Header().Del("ETag")
		w.Header().Del("Cache-Control")
		return err
	}
	w.Header().Set("Content-Type", layer.MediaType)
	w.Header().Set("Content-Length", strconv.FormatInt(layer.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Docker-Content-Digest", layer.Digest.String())
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rc, err := repo.Fetch(r.Context(), layer)
	if err != nil {
		w.Header().Del("ETag")
		return registryError(fmt.Errorf("fetch %s: %w", layer.Digest, err))
	}
	defer rc.Close()
	w.WriteHeader(http.StatusOK)
	vr := content.NewVerifyReader(rc, layer)
	last, err := copyHoldingLast(w, vr)
	if err == nil {
		err = vr.Verify()
	}
	if err != nil {
		// The last byte is held back: the client sees a short body, never
		// a complete-looking one.
		h.log.ErrorContext(r.Context(), "artifact stream failed or does not match its digest", "repository", repository, "artifact", md, "err", err)
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(last)
	return nil
}

// copyHoldingLast copies r to w except for the last byte, which it
// returns, so that the caller can verify the whole before completing the
// response.
func copyHoldingLast(w io.Writer, r io.Reader) ([]byte, error) {
	buf := make([]byte, 32<<10)
	var held []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if len(held) > 0 {
				if _, werr := w.Write(held); werr != nil {
					return nil, werr
				}
			}
			if _, werr := w.Write(buf[:n-1]); werr != nil {
				return nil, werr
			}
			held = []byte{buf[n-1]}
		}
		if err == io.EOF {
			return held, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// reportFindings are the findings of one decoded vulnerability report.
type reportFindings struct {
	findings []catalog.Finding
	err      error
}

// reportCache keeps decoded reports by artifact digest: reports are
// immutable, so entries never go stale. It holds at most size reports and
// evicts the oldest.
type reportCache struct {
	mu    sync.Mutex
	size  int
	order []digest.Digest
	m     map[digest.Digest]*reportFindings
}

func newReportCache(size int) *reportCache {
	return &reportCache{size: size, m: map[digest.Digest]*reportFindings{}}
}

func (c *reportCache) get(d digest.Digest) (*reportFindings, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[d]
	return r, ok
}

func (c *reportCache) put(d digest.Digest, r *reportFindings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; ok {
		return
	}
	if len(c.order) >= c.size {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.order = append(c.order, d)
	c.m[d] = r
}

// findingsOf returns the findings of a vulnerability report artifact, read
// from the golden registry (cached). Errors that may pass (the registry is
// down, ctx ended) are not cached.
func (h *Handler) findingsOf(ctx context.Context, repository string, md digest.Digest) ([]catalog.Finding, error) {
	if r, ok := h.reports.get(md); ok {
		return r.findings, r.err
	}
	repo, layer, err := h.openArtifact(ctx, repository, md, artifact.MediaTypeSARIF)
	if err == nil && layer.Size > maxDecodeBytes {
		err = fmt.Errorf("report %s: %d bytes, over the %d bytes shown", md, layer.Size, maxDecodeBytes)
		h.reports.put(md, &reportFindings{err: err})
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	rc, err := repo.Fetch(ctx, layer)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(rc, maxDecodeBytes+1)); err != nil {
		return nil, err
	}
	if layer.Digest.Validate() != nil || layer.Digest.Algorithm().FromBytes(buf.Bytes()) != layer.Digest {
		err := fmt.Errorf("report %s: content does not match its digest", md)
		return nil, err
	}
	rep, err := scan.DecodeSARIF(buf.Bytes())
	if err != nil {
		err = fmt.Errorf("report %s: %w", md, err)
		h.reports.put(md, &reportFindings{err: err})
		return nil, err
	}
	out := make([]catalog.Finding, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		out = append(out, catalog.Finding{ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
			FixedVersion: f.FixedVersion, Severity: severityName(f.Severity)})
	}
	h.reports.put(md, &reportFindings{findings: out})
	return out, nil
}

// severityName maps a scan severity to the catalog's severity names.
func severityName(s scan.Severity) string {
	switch s {
	case scan.SeverityLow:
		return catalog.SeverityLow
	case scan.SeverityMedium:
		return catalog.SeverityMedium
	case scan.SeverityHigh:
		return catalog.SeverityHigh
	case scan.SeverityCritical:
		return catalog.SeverityCritical
	}
	return catalog.SeverityUnknown
}
