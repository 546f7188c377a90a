// Package artifact names every kind of supply-chain artifact that cssc reads
// or writes: OCI artifact types, blob media types and annotation keys.
//
// It is a leaf package with no dependencies so that every capability package
// (sign, scan, sbom, attest, policy) and every stage package (acquire) can
// agree on the same strings without importing each other.
package artifact
