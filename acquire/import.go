package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/time/rate"

	"github.com/cssc-go/cssc/registry"
)

// Importer brings an external image, exactly as published, into a
// (quarantine) repository: step 1 of the Acquire stage.
//
// src is a location string (see registry.Location) with a tag or a digest:
// "docker.io/library/nginx:1.27", "127.0.0.1:5000/library/nginx@sha256:...",
// "oci:/path/layout:tag" or "mem:name:tag". dst is the repository the image
// and its publisher artifacts are copied to; the source tag is kept.
type Importer interface {
	Import(ctx context.Context, src string, dst registry.Repository, opts ImportOptions) (*Imported, error)
}

// DefaultBlobAttempts is the default of ImporterOptions.BlobAttempts: a
// source that breaks off half of its downloads and cannot resume them
// fails a blob once in 64, instead of once in 8 with three attempts.
const DefaultBlobAttempts = 6

// ImporterOptions configure an ORASImporter. The zero value is usable.
type ImporterOptions struct {
	// Concurrency bounds how many blobs are copied at the same time, per
	// Import call; at most half of them (rounded up) stream bytes at a
	// time while the others wait for the destination to commit theirs.
	// Zero or negative means 4.
	Concurrency int
	// RequestsPerSecond limits the HTTP requests sent to each registry host
	// ("host:port"), over all Import calls of this importer (token requests
	// and retries included, since the limit applies per request). Zero or
	// negative means no limit.
	RequestsPerSecond float64
	// Burst is the burst of the rate limit. Zero or negative means
	// max(1, RequestsPerSecond rounded up).
	Burst int
	// BlobAttempts is how often a blob copy that broke off mid-stream (the
	// connection dropped, the blob was truncated, the source stalled) is
	// attempted in all, waiting 250 ms, then twice as long each time (at
	// most 4 s) between attempts; a source that supports range requests
	// resumes as often within an attempt. The registry client already
	// retries 429, 5xx and network errors that happen before a response
	// (registry.Options.MaxRetries); this covers what happens after. Zero
	// or negative means DefaultBlobAttempts.
	BlobAttempts int
	// MaxArtifacts caps how many publisher artifacts are looked at per
	// import (copied or filtered out). More fails the import with
	// registry.ErrSizeExceeded. Zero or negative means 1000.
	MaxArtifacts int
	// ArtifactDepth is how deep referrers of referrers are followed (a
	// signature of an SBOM of the image is depth 2). Zero or negative means 3.
	ArtifactDepth int
	// Logger receives debug and info logs. Nil means silent.
	Logger *slog.Logger
}

// ImportOptions configure one Import call. The zero value imports the whole
// image (every platform) with every publisher artifact, keeps the source tag
// and lets tags move.
type ImportOptions struct {
	// Platforms, if not empty, imports only these platforms of a multi-arch
	// index, written "os/arch" or "os/arch/variant" ("linux/amd64",
	// "linux/arm64/v8"); an entry without variant matches every variant.
	// A platform that is not in the index fails the import with
	// ErrPlatformNotFound. Empty means every platform.
	//
	// A subset changes the index, so the destination gets a NEW index with
	// a new digest: the source index with only the kept entries (the child
	// manifests themselves are kept byte for byte) and two annotations,
	// AnnotationSourceDigest (the digest of the published index) and
	// AnnotationSourcePlatforms. Imported.SourceDigest keeps the original
	// digest. Publisher artifacts of the original index are still copied;
	// their subject stays the original digest. If every entry of the index
	// matches, the index is kept as published. Platforms do not apply to a
	// single-platform manifest, which is imported as is.
	Platforms []string
	// Tags are extra destination tags, set after the source tag. Empty
	// means only the source tag (none if src is given by digest only).
	Tags []string
	// ImmutableTags treats every destination tag as immutable: if one
	// already points to a different digest, Import fails with a
	// *TagConflictError (errors.Is ErrTagConflict) before any content is
	// copied. False lets tags move; the move is reported in
	// Imported.Changes.
	ImmutableTags bool
	// Artifacts filters which publisher artifacts are copied. The zero
	// value copies all of them.
	Artifacts ArtifactFilter
	// SkipCosignTags, if true, does not look for cosign
	// "sha256-<hex>.sig/.att/.sbom" tags (three HEAD requests per manifest).
	SkipCosignTags bool
	// MountFrom lists extra repositories on the destination registry host
	// (paths such as "quarantine/library/debian") to mount blobs from
	// before uploading them. When source and destination are on the same
	// host the source repository is always tried first. A refused mount
	// falls back to a normal upload. Empty means the source repository only.
	MountFrom []string
	// Recheck, if true, walks an image whose destination tag already points
	// to the source digest again (picking up publisher artifacts published
	// since the last import) instead of stopping after one HEAD request.
	Recheck bool
	// Progress, if not nil, is called as blobs are copied: at the start,
	// at least every MiB, and at the end of each blob. It may be called
	// from several goroutines at once and must return quickly.
	Progress func(BlobProgress)
}

// BlobProgress reports the copy of one blob.
type BlobProgress struct {
	Descriptor ocispec.Descriptor
	// Done is how many bytes of the blob have been moved so far; Total is
	// its size.
	Done, Total int64
	// State is BlobCopying, BlobDone, BlobExisting or BlobMounted.
	State string
}

// Values of BlobProgress.State.
const (
	BlobCopying  = "copying"  // bytes are moving; Done grows
	BlobDone     = "done"     // the blob was uploaded
	BlobExisting = "existing" // the destination had the blob already
	BlobMounted  = "mounted"  // the blob was mounted from another repository
)

// Annotations the importer writes on an index it had to rewrite (platform
// subset).
const (
	// AnnotationSourceDigest is the digest of the index as published.
	AnnotationSourceDigest = "dev.cssc.import.source-digest"
	// AnnotationSourcePlatforms lists the imported platforms, sorted and
	// comma-separated, as requested in ImportOptions.Platforms.
	AnnotationSourcePlatforms = "dev.cssc.import.platforms"
)

// Imported is the result of an import.
type Imported struct {
	// Source is the source location as given; SourceDigest and
	// SourceMediaType describe the root manifest or index as published.
	Source          string        `json:"source"`
	SourceDigest    digest.Digest `json:"sourceDigest"`
	SourceMediaType string        `json:"sourceMediaType"`
	// Destination is the destination repository location.
	Destination string `json:"destination"`
	// Descriptor is the root manifest or index in the destination. Its
	// digest equals SourceDigest unless a platform subset was imported.
	Descriptor ocispec.Descriptor `json:"descriptor"`
	// Subset is true when a platform subset was imported and the index was
	// rewritten (see ImportOptions.Platforms).
	Subset bool `json:"subset,omitempty"`
	// Tags are the destination tags that point to Descriptor.
	Tags []string `json:"tags,omitempty"`
	// Platforms are the platforms imported (for an index: of its image
	// manifests; empty for a single manifest).
	Platforms []ocispec.Platform `json:"platforms,omitempty"`
	// Unchanged is true when the destination already had this image under
	// the source tag: nothing was copied.
	Unchanged bool `json:"unchanged,omitempty"`
	// Changes lists destination tags that pointed to another digest before
	// this import (the upstream tag moved).
	Changes []TagChange `json:"changes,omitempty"`
	// Artifacts lists every publisher artifact found, copied or not.
	Artifacts []ImportedArtifact `json:"artifacts,omitempty"`
	// Blobs counts blobs by what happened to them.
	Blobs BlobCounts `json:"blobs"`
	// BytesMoved counts the blob and manifest bytes uploaded to the
	// destination (a manifest sent again to set a tag is not counted again).
	BytesMoved int64 `json:"bytesMoved"`
	// Requests counts the HTTP requests sent (retries and token requests
	// included; zero for memory and layout repositories).
	Requests Requests `json:"requests"`
}

// TagChange is a destination tag that moved.
type TagChange struct {
	Tag string        `json:"tag"`
	Old digest.Digest `json:"old"` // what the tag pointed to before
	New digest.Digest `json:"new"` // what it points to now
}

// BlobCounts counts blobs (configs and layers) by outcome.
type BlobCounts struct {
	Copied   int `json:"copied"`   // uploaded
	Existing int `json:"existing"` // already in the destination
	Mounted  int `json:"mounted"`  // mounted from another repository of the destination host
}

// Requests counts HTTP requests per side.
type Requests struct {
	Source      int64 `json:"source"`
	Destination int64 `json:"destination"`
}

// ArtifactsCopied returns how many artifacts were copied (or were present
// already, with ArtifactPresent).
func (r *Imported) ArtifactsCopied() int {
	n := 0
	for _, a := range r.Artifacts {
		if a.Status != ArtifactFiltered {
			n++
		}
	}
	return n
}

// ArtifactsSkipped returns how many artifacts the filter left out.
func (r *Imported) ArtifactsSkipped() int { return len(r.Artifacts) - r.ArtifactsCopied() }

// ImportedArtifact is one publisher artifact found next to the image.
type ImportedArtifact struct {
	// Descriptor is the artifact's manifest, with its artifactType (for
	// cosign tags and buildkit attestations: the effective type, see
	// ArtifactFilter) and annotations.
	Descriptor ocispec.Descriptor `json:"descriptor"`
	// Subject is the digest of the manifest the artifact is about.
	Subject digest.Digest `json:"subject"`
	// Kind says where it was found: ArtifactReferrer, ArtifactCosignTag or
	// ArtifactBuildkit.
	Kind string `json:"kind"`
	// Tag is the cosign tag, for ArtifactCosignTag.
	Tag string `json:"tag,omitempty"`
	// Status is ArtifactCopied, ArtifactPresent or ArtifactFiltered.
	Status string `json:"status"`
	// Reason explains the status in a few words.
	Reason string `json:"reason,omitempty"`
}

// Values of ImportedArtifact.Kind.
const (
	ArtifactReferrer  = "referrer"             // an OCI referrer (API or fallback tag)
	ArtifactCosignTag = "cosign-tag"           // a cosign sha256-<hex>.sig/.att/.sbom tag
	ArtifactBuildkit  = "buildkit-attestation" // an attestation manifest inside the index
)

// Values of ImportedArtifact.Status.
const (
	ArtifactCopied   = "copied"   // copied to the destination
	ArtifactPresent  = "present"  // the destination had it already
	ArtifactFiltered = "filtered" // left out by ImportOptions.Artifacts
)

// Sentinel errors of the importer.
var (
	// ErrTagConflict: an immutable destination tag points to another digest.
	ErrTagConflict = errors.New("immutable tag conflict")
	// ErrPlatformNotFound: a requested platform is not in the index.
	ErrPlatformNotFound = errors.New("platform not found")
	// ErrInvalidOptions: ImportOptions has a malformed platform or filter.
	ErrInvalidOptions = errors.New("invalid import options")
)

// TagConflictError says that an immutable destination tag already points to
// another digest. It is returned before any content is copied.
type TagConflictError struct {
	Location string        // destination repository
	Tag      string        // the tag
	Existing digest.Digest // what it points to
	Want     digest.Digest // what the import would point it to
}

func (e *TagConflictError) Error() string {
	return fmt.Sprintf("%s:%s: %v: points to %s, import would point it to %s", e.Location, e.Tag, ErrTagConflict, e.Existing, e.Want)
}

// Is reports whether target is ErrTagConflict.
func (e *TagConflictError) Is(target error) bool { return target == ErrTagConflict }

// ORASImporter is the default Importer, built on oras-go. It is safe for
// concurrent use; create one per registry.Client and share it.
type ORASImporter struct {
	client *registry.Client
	opts   ImporterOptions
	log    *slog.Logger

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	buffers  sync.Pool // *[]byte of readAheadSize
}

var _ Importer = (*ORASImporter)(nil)

// NewImporter returns an importer that opens source repositories with
// client. The destination passed to Import may come from any client.
func NewImporter(client *registry.Client, opts ImporterOptions) *ORASImporter {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.BlobAttempts <= 0 {
		opts.BlobAttempts = DefaultBlobAttempts
	}
	if opts.MaxArtifacts <= 0 {
		opts.MaxArtifacts = 1000
	}
	if opts.ArtifactDepth <= 0 {
		opts.ArtifactDepth = 3
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(opts.RequestsPerSecond+0.999))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	im := &ORASImporter{client: client, opts: opts, log: log, limiters: map[string]*rate.Limiter{}}
	im.buffers.New = func() any { b := make([]byte, readAheadSize); return &b }
	return im
}

// limiter returns the rate limiter of a registry host, or nil.
func (im *ORASImporter) limiter(host string) *rate.Limiter {
	if im.opts.RequestsPerSecond <= 0 {
		return nil
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	l, ok := im.limiters[host]
	if !ok {
		l = rate.NewLimiter(rate.Limit(im.opts.RequestsPerSecond), im.opts.Burst)
		im.limiters[host] = l
	}
	return l
}

// Import copies the image at src into dst with its publisher artifacts; see
// Importer and ImportOptions. The order is: resolve the source (one HEAD);
// stop if the destination tag already points to it; fetch manifests; check
// the destination tags (immutable ones fail here, before any copy); copy
// blobs (existing ones skipped, mounts tried); push manifests children
// first; push artifacts; set tags last. An interrupted import leaves no tag
// pointing to an incomplete image, and running it again finishes the job.
//
// On error, the partial result (requests, bytes moved, what was found) is
// returned with it. Errors wrap the sentinels of this package and of
// package registry (ErrNotFound, ErrDigestMismatch, ErrSizeExceeded, ...).
func (im *ORASImporter) Import(ctx context.Context, src string, dst registry.Repository, opts ImportOptions) (*Imported, error) {
	loc, err := registry.ParseLocation(src)
	if err != nil {
		return nil, err
	}
	if loc.Reference() == "" {
		return nil, fmt.Errorf("import %s: %w: no tag or digest", src, registry.ErrInvalidReference)
	}
	platforms, err := parsePlatforms(opts.Platforms)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}
	if err := opts.Artifacts.validate(); err != nil {
		return nil, fmt.Errorf("import %s: %w", src, err)
	}
	srcRepo, err := im.client.Repository(ctx, loc.Repository)
	if err != nil {
		return nil, err
	}
	j := &job{
		im:        im,
		opts:      opts,
		platforms: platforms,
		res:       &Imported{Source: src, Destination: dst.Location()},
	}
	j.src = &tracked{Repository: srcRepo, im: im, requests: &j.srcRequests}
	j.dst = &tracked{Repository: dst, im: im, requests: &j.dstRequests}
	j.mountFrom = im.mountSources(loc, dst.Location(), opts.MountFrom)
	if loc.Tag != "" {
		j.tags = append(j.tags, loc.Tag)
	}
	for _, t := range opts.Tags {
		if !slices.Contains(j.tags, t) {
			j.tags = append(j.tags, t)
		}
	}
	err = j.run(ctx, loc)
	j.res.Requests = Requests{Source: j.srcRequests.Load(), Destination: j.dstRequests.Load()}
	j.res.BytesMoved = j.bytes.Load()
	if err != nil {
		return j.res, fmt.Errorf("import %s to %s: %w", src, dst.Location(), err)
	}
	im.log.Info("import done", "source", src, "digest", j.res.Descriptor.Digest, "destination", dst.Location(),
		"unchanged", j.res.Unchanged, "bytes", j.res.BytesMoved, "requests", j.res.Requests.Source+j.res.Requests.Destination)
	return j.res, nil
}

// mountSources returns the repositories on the destination host that blobs
// may be mounted from.
func (im *ORASImporter) mountSources(src registry.Location, dstLocation string, extra []string) []string {
	dl, err := registry.ParseLocation(dstLocation)
	if err != nil || dl.Kind != registry.KindRemote {
		return nil
	}
	var out []string
	if src.Kind == registry.KindRemote && src.Ref.Registry == dl.Ref.Registry && src.Ref.Repository != dl.Ref.Repository {
		out = append(out, src.Ref.Repository)
	}
	for _, r := range extra {
		r = strings.TrimPrefix(r, dl.Ref.Registry+"/")
		if r != "" && r != dl.Ref.Repository && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// job is the state of one Import call.
type job struct {
	im        *ORASImporter
	opts      ImportOptions
	platforms []platformSpec
	src, dst  *tracked
	mountFrom []string
	tags      []string
	res       *Imported

	srcRequests, dstRequests atomic.Int64
	bytes                    atomic.Int64

	// nodes are the manifests to push, children before parents; blobs the
	// blobs to copy, deduplicated.
	nodes     []node
	seen      map[digest.Digest]bool
	blobs     []ocispec.Descriptor
	blobSeen  map[digest.Digest]bool
	streams   chan struct{} // streaming slots, see copyBlobs
	cosignTag []taggedNode

	mu sync.Mutex // guards res.Blobs
}

// node is a manifest held in memory (capped by the client's manifest cap).
type node struct {
	desc ocispec.Descriptor
	raw  []byte
}

type taggedNode struct {
	node
	tag string
}
