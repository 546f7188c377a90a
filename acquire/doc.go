// Package acquire runs the Acquire stage of the container supply chain:
// bringing an external image into a quarantine repository exactly as
// published, checking it, enriching it with evidence and promoting it to a
// golden repository when the policy allows.
//
// The Importer interface copies an image, digest for digest, with its
// publisher artifacts (OCI referrers of the index and of every child
// manifest, cosign tags, buildkit attestations), filtered by
// ArtifactFilter. ORASImporter, built with NewImporter, is the default
// implementation.
package acquire
