// Package imagefs reads the filesystem of a container image without
// extracting it: [Walk] visits each file of an image's final, merged
// filesystem once, streaming gzip, zstd and uncompressed tar layers from the
// registry, applying whiteouts, verifying every layer's size and digest
// while it is read, and refusing hostile layers within documented caps
// ([WalkOptions], [ErrLimitExceeded]).
//
// In the Acquire stage the walk feeds the scanners that read files (step 5:
// scan/clamav streams every regular file to clamd) and SBOM generation
// (step 7: sbom/scalibr runs its extractors over the walked files).
// [WalkAll] feeds several [Visitor]s from one walk, so that the pipeline
// downloads, decompresses and verifies each layer once for both: a file
// only one visitor wants is streamed to it, a file several want is read
// once (into memory up to [ShareOptions.MaxSharedMemory], else into a
// private temporary file, which a visitor may keep reading after its
// Visit returns: [SharedCopy.Detach]), and a visitor that fails stops
// alone. The
// catalog's rescans do not walk again: they re-match the stored SBOM.
//
// The sub-package imagefs/imagetest builds deterministic OCI images (layers,
// whiteouts, package databases, multi-platform indexes) for tests and
// examples.
package imagefs
