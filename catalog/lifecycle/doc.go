// Package lifecycle monitors the end of life of catalog images, deprecates
// them ahead of it, retires them past it, and keeps retention from ever
// deleting an image that is still supported.
//
// # End of life from several sources
//
// Each image's end of life is gathered from every source and recorded on
// its entry (catalog.EndOfLife.Sources), each date with its role and
// source:
//
//   - a lifecycle marker on the golden image (Microsoft's convention:
//     artifact type application/vnd.microsoft.artifact.lifecycle, date in
//     the vnd.microsoft.artifact.lifecycle.end-of-life.date annotation,
//     read as "2026-01-01" or RFC 3339), used only when it carries a
//     signature that the enterprise trust material verifies: an unsigned
//     marker, or one a publisher signed, is set aside and named
//     (MarkerError), never trusted as it is;
//   - rules by repository and tag pattern (Rule);
//   - an offline product-release data file in the shape of
//     endoflife.date's API (Releases: product, cycle, eol, support),
//     mapped to images by repository (the image's product, cycle read from
//     its tags), by distribution (its base OS, from the SBOM's package
//     ecosystems, "Debian:12") and by package URL (its main runtime, such
//     as pkg:golang/stdlib). Decoding is strict: unknown fields and dates
//     that cannot be are a *DataError;
//   - manual overrides (Override), which decide the date outright.
//
// The effective end of life is the earliest of the image's own date, its
// base OS's and its runtime's, with the reason (Resolution). When the
// image's own sources disagree, the signed marker ranks before a rule,
// which ranks before the data file, and the choice is recorded; with
// ConflictFail it is a *ConflictError instead and nothing changes.
//
// # States
//
// An image is active, then deprecated within Config.Window before its end
// of life (and, optionally, past its end of active support), then retired
// from its end of life on. Every change is a CloudEvent (catalog/event:
// webhooks or a Go callback; the Type constants), shows on the entry
// (Status, EndOfLife, Replacement), and is written on the golden image as
// a lifecycle marker signed with the enterprise key, with the date in RFC
// 3339 and the state in dev.cssc.lifecycle.* annotations
// (attest.LifecycleState), so that consumers and admission controllers see
// it without cssc, and the default Cataloger reads it back when the
// catalog is rebuilt. A retired image is not brought back by a later date
// from a marker, rule or data file, only by an override; a Notice keeps an
// image deprecated for a minimum time before it is retired. Times come
// from Options.Now.
//
// # Supersession
//
// When the golden tag of an image moves to a newer acquisition of the
// same source tag (a publisher's patched rebuild, promoted by
// catalog/upstream), Runner.Supersede records it on the replaced image:
// the replacement pointer, and an end of life Config.Superseded after the
// replacement (one Window by default: deprecated at once, retired when
// the window ends), unless another source gives an earlier date. It is
// applied like any change (signed marker, event, entry), and the marker
// records the supersession as a source (SourceSuperseded, with the
// replacement as its detail), so later runs keep it without any
// configuration.
//
// # Retirement and retention
//
// Retirement does what Config.Retirement says: only mark (ActionMark);
// remove the golden tags and keep the digest for consumers who pinned it
// (ActionUntag); or copy the image with every referrer to an archive
// repository first (ActionArchive). A replacement pointer (an override's
// or a rule's) names the image to use instead. With a grace period, the
// digest of a retired, untagged image is deleted once the period has
// passed since the signed marker that retired it, unless it is protected:
// still supported by any source, still tagged, or named by any entry's
// replacement pointer (Policy.Protected). Nothing is ever deleted from the
// archive.
//
// # Runs
//
// Runner.Plan is a dry run: it lists every change (Change: kind, states,
// date, reason, steps) without touching anything. Runner.Apply applies an
// approved plan (each change only if it is still the one planned);
// Runner.Run plans and applies at once. Each run is recorded as a
// catalog.Sweep of kind SweepKind, for the portal's sweeps page. The
// steps of a change run in an order that a crash cannot corrupt: signed
// marker, retirement actions, event, entry; a failed change leaves the
// entry as it was, and the next run completes it (reusing the marker, with
// an event of the same id). Policy.PlanFacts is the same decision without
// I/O.
package lifecycle
