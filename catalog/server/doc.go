// Package server is what engineers open to use the Catalog stage: one
// http.Handler that serves a JSON API and a server-rendered web portal over
// a catalog.Store.
//
// The API (under /api/v1, described by the OpenAPI 3.1 document the handler
// serves at /api/v1/openapi.json) searches with facets, returns entries,
// tag history and reports, answers reverse queries (package and version
// range, vulnerability, licence, end-of-life window), exports findings as
// CSV or JSON, compares two images, lists sweeps, and streams an image's
// SBOM and SARIF reports from the golden registry by digest (the registry is
// the truth; the store only says which digests to fetch). Every JSON and
// HTML response carries an ETag and answers If-None-Match with 304; lists
// are paged with opaque cursors and a maximum page size; a bad parameter is
// a 400 with a JSON body that names it.
//
// The portal (/, /images/..., /cve/..., /compare, /sweeps, /requests) is rendered with
// html/template from embedded templates and works without JavaScript; a
// small embedded script adds copy buttons and a table filter. Charts
// (findings by severity over time, the catalog's severity spread) are drawn
// on the server as SVG. The pages send a strict Content-Security-Policy.
//
// The handler is read-only by default. Write actions (rescan now, retire,
// set the owner) need an Authorizer from the embedding service, which
// decides per request and action, and an implementation of the action
// (Rescanner, Retirer, OwnerSetter); without an Authorizer every write is
// refused. Writes are protected against cross-origin requests.
//
// Teams ask for images the catalog does not have through the requests
// routes (POST /api/v1/requests, /requests and its form): a RequestDesk
// (catalog/requests) takes them, and the Authorizer decides who may
// request (ActionRequest) and who may approve or deny (ActionApproveRequest,
// ActionDenyRequest). Bad input is a 400 naming the field, a source the
// rules do not take a 422, too many requests a 429 with Retry-After.
//
// Upstream tracking (Options.Tracks, the catalog.TrackStore that
// catalog/upstream keeps): the image API answer lists, under "upstream",
// the tracking state of each golden tag of the image (source tag, last
// check, the digest golden follows and the one last seen upstream, and
// the state: in sync, moved and being acquired, acquisition failed with
// the policy's reasons, gone or private upstream, capped, flapping and
// held), and the image page shows it in a small table. It is read
// through the caller's view: a restricted image's tracks are as
// invisible as the image.
//
// Access levels (Options.Access, a catalog.AccessPolicy): the caller's
// groups come from the embedding service through Options.Identifier (or
// the Authorizer) implementing GroupIdentifier; a caller it does not
// identify has no groups and sees public images only. Every read of every
// route goes through a catalog.View of the caller, so an image of a
// restricted level is absent, for anybody outside its groups, from search
// results, facet counts (cached per visibility), reverse queries, CVE
// pages, comparisons, exports, downloads, tag history and sweeps, and its
// URLs answer exactly as those of an unknown digest. A visible image's
// free text that names a hidden one (its replacement, end-of-life reason
// and sources, source reference, labels, problems) reaches the caller
// with the name redacted (catalog.Visibility.Redact). Members see, in the
// API and on the image page, who may pull it and how to ask for access.
// Sweep records are catalog-wide and keep no breakdown by image, so a
// caller who may not see every image gets them with the totals taken
// over the whole catalog withheld (images, outcomes, images affected, the
// reasons of sweeps that ran; Sweep.TotalsWithheld says so), without the
// sweep of a single hidden image (Sweep.Subject), and with the failures
// of visible images only: what such a caller reads of the sweeps is the
// same whether or not the hidden images exist. A request for an image of
// a repository the caller may not see is shown only to those who asked
// for it (without the golden digest); to everybody else it is an unknown
// request (absent from lists, 404 by id, not decidable); hidden names in
// a visible request (the name a typosquat resembles, its rule) are
// redacted.
//
// Data the catalog core does not hold is plugged in through small
// interfaces: SweepLister for the sweeps page (rescans and lifecycle runs).
package server
