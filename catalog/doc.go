// Package catalog is the Catalog stage: it makes the images in a golden
// registry discoverable. The golden registry is the truth and a catalog
// database is an index over it: every fact on an [Entry] comes from a
// referrer of the golden image that the enterprise key signed (signature,
// SBOM, SARIF reports, provenance, verification summary, lifecycle
// marker). Evidence that is missing, unsigned, signed by anybody else or
// unreadable is named in [Entry.Problems] and never counted as clean. A
// lost database is rebuilt from the registry with byte-identical entries.
//
// The pieces:
//
//   - [Cataloger] builds an Entry for one golden image; [NewCataloger]
//     returns the default, which reads the registry only and trusts only
//     what its sign.Verifier verifies.
//   - [Store] keeps entries, tag history and the indexes that answer
//     [Query] (free text, facets, reverse queries by package and version
//     range, CVE, licence and end-of-life window). Implementations:
//     catalog/sqlite (embedded, one file) and catalog/postgres (several
//     instances). catalog/catalogtest checks any implementation.
//     [GetMany] reads many entries at once, in one query from a store
//     that is a [BatchGetter] (both of those are).
//   - [Syncer] keeps a Store in step with the registry: [Syncer.Promoted]
//     is the hook the acquire pipeline calls on promotion, and
//     [Syncer.Reconcile] walks a whole golden registry or OCI layout,
//     fetching only what changed. [Syncer.Index] indexes one image by
//     digest.
//   - Access levels: an [AccessPolicy] (compiled from [AccessRule]s on
//     repository patterns, the first match deciding) gives every entry a
//     level and the rule that set it ([Access]: who may see and pull it,
//     how to ask). A caller's [Visibility] (AccessPolicy.For their groups;
//     no groups, an outsider: public entries only) is honoured by every
//     store through [Query.Visibility], inside the search, so totals,
//     facets and pages count only what the caller may see; [View] is a
//     Store as one caller sees it, where a restricted entry answers exactly
//     as an unknown one, and a visible entry's free text that names a
//     hidden image (replacement, end-of-life reason, labels, problems) is
//     redacted ([Visibility.Redact]). Levels are decided from the
//     repository when read, never stored, so a changed rule applies to
//     every entry at once.
//   - [TrackStore] keeps the state of upstream tracking (catalog/upstream
//     watches the source tags of golden images and follows a publisher's
//     patched rebuilds through the acquire pipeline);
//     catalog/resolve maps a team's Dockerfiles and manifests to golden
//     images pinned by digest.
//   - [RequestStore] keeps the teams' requests for images the catalog does
//     not have (catalog/requests takes them, applies the approval rules
//     and typosquat checks, and runs approved ones through the acquire
//     pipeline as jobs in the [Queue]).
//
// A limitation of rebuilding from the registry: a registry lists
// repositories and tags, never untagged manifests. An image that lifecycle
// retired and untagged keeps its digest and its signed referrers, but
// Reconcile into an empty store cannot find it; give its digest to
// [Syncer.Index] (from the lifecycle events, the acquire run records or an
// export of the lost database), or retire with the archive action, whose
// archive repository keeps the tags and is reconciled like any other
// when it is under the prefix reconciled.
//
// Sources of entries: the default Cataloger. Sinks: Store implementations.
package catalog
