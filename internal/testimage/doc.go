// Package testimage builds realistic OCI images deterministically for tests,
// benchmarks and the demo: tar layers with files (gzip, zstd or
// uncompressed), image configs, manifests and multi-platform indexes. The
// same input always gives the same digests.
package testimage
