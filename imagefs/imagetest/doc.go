// Package imagetest builds realistic OCI images deterministically, for the
// tests, benchmarks and examples of code built on cssc: tar layers with files
// (gzip, zstd or uncompressed), whiteouts, symbolic links, package databases
// (dpkg, apk) and os-release files, image configs, manifests and
// multi-platform indexes. The same input always gives the same digests, so
// tests can assert on them.
//
// Build an [Image] from [Layer] values and [Image.Push] it to any
// content.Pusher (a registry.Repository from registry.Client, an in-memory
// store, an OCI layout directory); [PushIndex] joins pushed images into an
// index.
package imagetest
