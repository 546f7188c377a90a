package catalog_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// marshalAll returns the stored bytes of every entry of s, by key.
func marshalAll(t *testing.T, s catalog.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	q := catalog.Query{Limit: catalog.MaxLimit}
	for {
		res, err := s.Search(context.Background(), q)
		require.NoError(t, err)
		for _, sm := range res.Entries {
			e, err := s.Get(context.Background(), sm.Repository, sm.Digest)
			require.NoError(t, err)
			b, err := catalog.Marshal(e)
			require.NoError(t, err)
			out[e.Key()] = string(b)
		}
		if res.Next == "" {
			return out
		}
		q.Cursor = res.Next
	}
}

func TestPromoteReconcileRebuild(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// Promotion indexes through the hook.
	clean := f.promote(t, sample.Clean)
	signed := f.promote(t, sample.Signed)
	multi := f.promote(t, sample.Multi)

	t.Run("hook indexed the clean image", func(t *testing.T) {
		e := f.entry(t, f.store, sample.Clean, clean.Digest)
		assert.Empty(t, e.Problems, "problems of a fully promoted image:%s", problems(e))
		assert.Equal(t, []string{sample.Tag}, e.Tags)
		assert.Equal(t, catalog.Signature{Verified: true, Identities: []string{corpIdentity}}, e.Signature)
		require.Len(t, e.Children, 1)
		ch := e.Children[0]
		assert.Equal(t, clean.Digest, ch.Digest, "a single manifest is its own child")
		assert.Equal(t, "linux/amd64", ch.Platform)
		require.NotNil(t, ch.SBOM, "trusted SBOM")
		assert.NotEmpty(t, ch.Packages, "packages from the SBOM")
		assert.True(t, e.Vulnerabilities.Scanned, "trusted vulnerability report")
		assert.NotEmpty(t, e.Vulnerabilities.DatabaseVersions, "database version recorded")
		assert.False(t, e.Malware.Scanned, "no malware scanner ran: not scanned, never clean")
		assert.Equal(t, clean.Source, e.Source.Reference, "source from trusted provenance")
		assert.Equal(t, clean.SourceDigest, e.Source.Digest)
		assert.False(t, e.AcquiredAt.IsZero(), "acquired time")
		assert.False(t, e.PromotedAt.IsZero(), "promoted time")
		require.NotNil(t, e.Decision, "verification summary")
		assert.Equal(t, "PASSED", e.Decision.Result)
		require.NotNil(t, e.EndOfLife)
		assert.Equal(t, endOfLife, e.EndOfLife.Date)
		assert.Equal(t, catalog.SourceMarker, e.EndOfLife.Source)
		assert.Positive(t, e.Size)
		for _, r := range e.Reports {
			assert.True(t, r.Trusted, "report %s trusted", r.Digest)
		}
	})
	t.Run("index has a child per platform", func(t *testing.T) {
		e := f.entry(t, f.store, sample.Multi, multi.Digest)
		assert.Empty(t, e.Problems, "problems:%s", problems(e))
		assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, e.Platforms)
		require.Len(t, e.Children, 2)
		for _, ch := range e.Children {
			assert.NotEqual(t, multi.Digest, ch.Digest)
			assert.True(t, ch.Signature.Verified, "platform %s signed", ch.Platform)
			assert.NotNil(t, ch.SBOM, "platform %s SBOM", ch.Platform)
			assert.True(t, ch.Vulnerabilities.Scanned, "platform %s scanned", ch.Platform)
		}
	})
	t.Run("publisher SBOM is not an enterprise fact", func(t *testing.T) {
		e := f.entry(t, f.store, sample.Signed, signed.Digest)
		// The pipeline keeps the publisher's SBOM unsigned, and attaches
		// and signs its own beside it: the entry's SBOM is cssc's, and the
		// publisher's is neither counted nor a problem.
		assert.Empty(t, e.Problems, "problems:%s", problems(e))
		require.NotNil(t, e.Children[0].SBOM)
		assert.Positive(t, e.Children[0].SBOM.Packages)
		assert.True(t, e.Trusted())
		assert.True(t, e.Signature.Verified)
	})
	t.Run("search finds them", func(t *testing.T) {
		res, err := f.store.Search(ctx, catalog.Query{Text: "multi"})
		require.NoError(t, err)
		require.Equal(t, 1, res.Total)
		assert.Equal(t, multi.Digest, res.Entries[0].Digest)
		res, err = f.store.Search(ctx, catalog.Query{Package: &catalog.PackageQuery{Name: "zlib", Ecosystem: "Debian"}})
		require.NoError(t, err)
		assert.Equal(t, 2, res.Total, "clean and multi carry zlib (by source package name)")
		res, err = f.store.Search(ctx, catalog.Query{Signer: corpIdentity, Facets: true})
		require.NoError(t, err)
		assert.Equal(t, 3, res.Total)
	})

	// An unchanged registry costs HEADs only.
	t.Run("unchanged reconcile reads no manifest", func(t *testing.T) {
		f.count.reset()
		rep, err := f.syncer.Reconcile(ctx, f.golden)
		require.NoError(t, err)
		require.NoError(t, rep.Err())
		counts := f.count.reset()
		assert.Zero(t, counts["GET manifests"], "manifest GETs: %v", counts)
		assert.Zero(t, counts["GET blobs"], "blob GETs: %v", counts)
		assert.Zero(t, counts["GET referrers"], "referrers GETs: %v", counts)
		assert.Equal(t, 3, counts["HEAD manifests"], "one HEAD per tag: %v", counts)
		assert.Equal(t, 3, rep.Unchanged)
		assert.Zero(t, rep.Catalogued)
		assert.Empty(t, rep.Events)
	})

	// A lost database is rebuilt from the registry, byte for byte.
	before := marshalAll(t, f.store)
	require.Len(t, before, 3)
	t.Run("rebuild gives identical entries", func(t *testing.T) {
		fresh := openStore(t)
		rep, err := f.newSyncer(t, fresh).Reconcile(ctx, f.golden)
		require.NoError(t, err)
		require.NoError(t, rep.Err())
		assert.Equal(t, 3, rep.Catalogued)
		assert.Equal(t, before, marshalAll(t, fresh), "rebuilt entries differ")
		tags, err := fresh.Tags(ctx, registry.Join(f.golden, sample.Multi))
		require.NoError(t, err)
		assert.Equal(t, map[string]digest.Digest{sample.Tag: multi.Digest}, tags)
	})

	// A moved tag is an event; the new image has no evidence at all.
	t.Run("moved tag and an image without evidence", func(t *testing.T) {
		repo := f.goldenRepo(t, sample.Clean)
		d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/motd", Data: []byte("unsigned\n")})},
			Labels: map[string]string{"dev.cssc.owner": "team-x", "tier": "gold"}}.Push(ctx, repo)
		require.NoError(t, err)
		require.NoError(t, repo.Tag(ctx, d, sample.Tag))
		var events []catalog.TagEvent
		sy, err := catalog.NewSyncer(f.client, f.cataloger, f.store, catalog.SyncOptions{OnTagEvent: func(ev catalog.TagEvent) { events = append(events, ev) }})
		require.NoError(t, err)
		rep, err := sy.Reconcile(ctx, f.golden)
		require.NoError(t, err)
		require.NoError(t, rep.Err())
		assert.Equal(t, 1, rep.Catalogued)
		assert.Equal(t, 1, rep.Retagged, "the old image lost its tag")
		require.Len(t, rep.Events, 1)
		assert.Equal(t, catalog.TagMoved, rep.Events[0].Type)
		assert.Equal(t, clean.Digest, rep.Events[0].From)
		assert.Equal(t, d.Digest, rep.Events[0].To)
		assert.Equal(t, rep.Events, events, "OnTagEvent")

		e := f.entry(t, f.store, sample.Clean, d.Digest)
		for _, want := range []string{catalog.EvidenceSignature, catalog.EvidenceSBOM, catalog.EvidenceVulnReport, catalog.EvidenceProvenance, catalog.EvidenceSummary} {
			assert.True(t, hasProblem(e, d.Digest, want, catalog.ReasonMissing), "missing %s:%s", want, problems(e))
		}
		assert.False(t, e.Signature.Verified)
		assert.False(t, e.Vulnerabilities.Scanned, "never counted clean")
		assert.Equal(t, catalog.SeverityUnscanned, e.Vulnerabilities.Max())
		assert.Equal(t, "team-x", e.Owner, "owner from the config label")
		assert.Equal(t, "gold", e.Labels["tier"])
		old := f.entry(t, f.store, sample.Clean, clean.Digest)
		assert.Empty(t, old.Tags, "the old entry keeps no tag")
		hist, err := f.store.TagHistory(ctx, registry.Join(f.golden, sample.Clean), sample.Tag)
		require.NoError(t, err)
		require.Len(t, hist, 2)
		assert.Equal(t, clean.Digest, hist[0].Digest)
		assert.False(t, hist[0].Current)
		assert.Equal(t, d.Digest, hist[1].Digest)
		assert.True(t, hist[1].Current)

		res, err := f.store.Search(ctx, catalog.Query{MaxSeverity: catalog.SeverityCritical, Repository: registry.Join(f.golden, sample.Clean)})
		require.NoError(t, err)
		assert.Equal(t, 1, res.Total, "the unscanned image passes no severity ceiling, the old one does")
	})
}

// attach attaches an artifact to subject in repo and returns its
// descriptor.
func attach(t *testing.T, repo registry.Repository, subject ocispec.Descriptor, a registry.Artifact) ocispec.Descriptor {
	t.Helper()
	d, err := registry.Attach(context.Background(), repo, subject, a)
	require.NoError(t, err)
	return d
}

func sarif(t *testing.T, subject digest.Digest, created string, findings ...scan.Finding) []byte {
	t.Helper()
	at, err := time.Parse(time.RFC3339, created)
	require.NoError(t, err)
	rep := &scan.Report{Kind: artifact.ReportKindVulnerability, Tool: scan.Tool{Name: "osv", DatabaseVersion: "forged-db"}, Subject: subject, Time: at, Findings: findings}
	b, err := rep.SARIF()
	require.NoError(t, err)
	return b
}

func reportArtifact(t *testing.T, subject digest.Digest, created string, findings ...scan.Finding) registry.Artifact {
	return registry.Artifact{
		ArtifactType: artifact.TypeSARIF,
		Blobs:        []registry.Blob{{MediaType: artifact.MediaTypeSARIF, Data: sarif(t, subject, created, findings...)}},
		Annotations: map[string]string{
			artifact.AnnotationReportKind: artifact.ReportKindVulnerability, artifact.AnnotationScanner: "osv",
			artifact.AnnotationGeneratedBy: "cssc", ocispec.AnnotationCreated: created,
		},
	}
}

func TestBadEvidence(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec := f.promote(t, sample.Clean)
	repo := f.goldenRepo(t, sample.Clean)
	root, err := repo.Resolve(ctx, rec.Digest.String())
	require.NoError(t, err)
	good, err := f.cataloger.Catalog(ctx, repo, rec.Digest.String())
	require.NoError(t, err)
	require.Empty(t, good.Problems, "problems:%s", problems(good))

	// A report that says "nothing found", newer than the real one, is
	// attached unsigned and another signed with a rogue key of the same
	// name: neither may count.
	later := "2099-01-01T00:00:00Z"
	unsigned := attach(t, repo, root, reportArtifact(t, root.Digest, later))
	forged := attach(t, repo, root, reportArtifact(t, root.Digest, later, scan.Finding{ID: "CVE-0000-0001", Severity: scan.SeverityLow}))
	_, err = f.rogue.Sign(ctx, repo, forged)
	require.NoError(t, err)
	// A corrupt SBOM, signed with the enterprise key.
	corrupt := attach(t, repo, root, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs:       []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(`{"spdxVersion": "SPDX-2.3", "packages": [`)}},
		Annotations: map[string]string{artifact.AnnotationGeneratedBy: "cssc", ocispec.AnnotationCreated: later}})
	_, err = f.signer.Sign(ctx, repo, corrupt)
	require.NoError(t, err)

	e, err := f.cataloger.Catalog(ctx, repo, rec.Digest.String())
	require.NoError(t, err)
	find := func(art digest.Digest) *catalog.Problem {
		for i, p := range e.Problems {
			if p.Artifact == art {
				return &e.Problems[i]
			}
		}
		return nil
	}
	if p := find(unsigned.Digest); assert.NotNil(t, p, "unsigned report not named:%s", problems(e)) {
		assert.Equal(t, catalog.ReasonUntrusted, p.Reason)
		assert.Equal(t, catalog.EvidenceVulnReport, p.Evidence)
	}
	if p := find(forged.Digest); assert.NotNil(t, p, "forged report not named:%s", problems(e)) {
		assert.Equal(t, catalog.ReasonUntrusted, p.Reason)
		assert.Contains(t, p.Detail, "signature", "says why: %s", p.Detail)
	}
	if p := find(corrupt.Digest); assert.NotNil(t, p, "corrupt SBOM not named:%s", problems(e)) {
		assert.Equal(t, catalog.ReasonUnreadable, p.Reason)
		assert.Equal(t, catalog.EvidenceSBOM, p.Evidence)
	}
	// The trusted evidence still counts, unchanged by the bad evidence.
	assert.Equal(t, good.Vulnerabilities, e.Vulnerabilities, "untrusted reports changed the vulnerability summary")
	assert.Equal(t, good.Children[0].Packages, e.Children[0].Packages, "the corrupt SBOM changed the packages")
	assert.NotContains(t, e.Vulnerabilities.DatabaseVersions, "forged-db")
	for _, r := range e.Reports {
		if r.Digest == unsigned.Digest || r.Digest == forged.Digest {
			assert.False(t, r.Trusted, "report %s listed as trusted", r.Digest)
		}
	}

	// A newer trusted report supersedes the older one.
	newer := attach(t, repo, root, reportArtifact(t, root.Digest, later, scan.Finding{ID: "CVE-2099-0002", Severity: scan.SeverityHigh, FixedVersion: "2",
		Package: scan.Package{Name: "zlib1g", Version: "1"}}))
	_, err = f.signer.Sign(ctx, repo, newer)
	require.NoError(t, err)
	e, err = f.cataloger.Catalog(ctx, repo, rec.Digest.String())
	require.NoError(t, err)
	assert.Equal(t, 1, e.Vulnerabilities.High, "the newest trusted report is in force")
	assert.Equal(t, 1, e.Vulnerabilities.Total())
	assert.Equal(t, 1, e.Vulnerabilities.Fixable)
	superseded := 0
	for _, r := range e.Reports {
		if r.Superseded {
			superseded++
		}
	}
	assert.Equal(t, 1, superseded, "the older trusted report is superseded")
	assert.True(t, e.HasVulnerability("CVE-2099-0002"))

	// The enterprise signature of the image removed: missing, untrusted
	// with a rogue one.
	rogueImg, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "x", Data: []byte("rogue")})}}.Push(ctx, repo)
	require.NoError(t, err)
	_, err = f.rogue.Sign(ctx, repo, rogueImg)
	require.NoError(t, err)
	e, err = f.cataloger.Catalog(ctx, repo, rogueImg.Digest.String())
	require.NoError(t, err)
	assert.True(t, hasProblem(e, rogueImg.Digest, catalog.EvidenceSignature, catalog.ReasonUntrusted), "rogue signature:%s", problems(e))
	assert.False(t, e.Signature.Verified)
}

// TestReconcileResumes injects registry errors into a reconcile: the
// failing image is reported and skipped, the others are indexed, the
// store keeps what it had, and the next reconcile finishes the job.
func TestReconcileResumes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.promote(t, sample.Clean)
	multi := f.promote(t, sample.Multi)
	want := marshalAll(t, f.store)
	require.Len(t, want, 2)

	fresh := openStore(t)
	sy := f.newSyncer(t, fresh)
	// The multi image's platform manifests fail with 500.
	fail := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "golden/"+sample.Multi+"/manifests/sha256:") &&
			!strings.HasSuffix(r.URL.Path, multi.Digest.String())
	}
	f.count.fail.Store(&fail)
	rep, err := sy.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.Len(t, rep.Failures, 1, "failures: %+v", rep.Failures)
	assert.Equal(t, multi.Digest, rep.Failures[0].Digest)
	assert.Contains(t, rep.Failures[0].Err, "registry error")
	assert.Equal(t, 1, rep.Catalogued, "the clean image is indexed despite the failure")
	_, err = fresh.Get(ctx, registry.Join(f.golden, sample.Multi), multi.Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound, "no half-built entry is stored")
	tags, err := fresh.Tags(ctx, registry.Join(f.golden, sample.Multi))
	require.NoError(t, err)
	assert.Empty(t, tags, "the failed tag is not recorded as seen")

	f.count.fail.Store(nil)
	f.count.reset()
	rep, err = sy.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 1, rep.Catalogued, "the next reconcile picks up the failed image")
	assert.Equal(t, 1, rep.Unchanged)
	assert.Equal(t, want, marshalAll(t, fresh), "nothing lost: the entries equal those the hook made")
}

// TestReconcileThousandTags checks the cost goal: reconciling an
// unchanged registry of 1,000 tags reads no manifest, only HEADs.
func TestReconcileThousandTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// 10 repositories, 50 images each tagged twice: 1,000 tags.
	for r := range 10 {
		repo := f.goldenRepo(t, fmt.Sprintf("bulk/app%02d", r))
		for i := range 50 {
			d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "id", Data: fmt.Appendf(nil, "%d-%d", r, i)})}}.Push(ctx, repo)
			require.NoError(t, err)
			require.NoError(t, repo.Tag(ctx, d, fmt.Sprintf("1.%d", i)))
			require.NoError(t, repo.Tag(ctx, d, fmt.Sprintf("1.%d-debian", i)))
		}
	}
	rep, err := f.syncer.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	require.Equal(t, 1000, rep.Tags)
	require.Equal(t, 500, rep.Catalogued)

	f.count.reset()
	rep, err = f.syncer.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	counts := f.count.reset()
	assert.Equal(t, 1000, rep.Tags)
	assert.Equal(t, 500, rep.Unchanged)
	assert.Zero(t, counts["GET manifests"], "manifest GETs for an unchanged registry: %v", counts)
	assert.Zero(t, counts["GET blobs"]+counts["GET referrers"], "content reads: %v", counts)
	assert.Equal(t, 1000, counts["HEAD manifests"], "HEADs: %v", counts)
	t.Logf("unchanged reconcile of 1,000 tags: %v", counts)
}

// TestReconcileLayout reconciles a golden OCI image layout: the same
// entries as the promotion hook made, rebuilt from the directory alone.
func TestReconcileLayout(t *testing.T) {
	f := newFixture(t, "oci:"+t.TempDir()+"/golden")
	ctx := context.Background()
	clean := f.promote(t, sample.Clean)
	multi := f.promote(t, sample.Multi)
	want := marshalAll(t, f.store)
	require.Len(t, want, 2)
	e := f.entry(t, f.store, sample.Multi, multi.Digest)
	assert.Empty(t, e.Problems, "problems:%s", problems(e))

	fresh := openStore(t)
	rep, err := f.newSyncer(t, fresh).Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 2, rep.Repositories)
	assert.Equal(t, want, marshalAll(t, fresh))
	_, err = fresh.Get(ctx, registry.Join(f.golden, sample.Clean), clean.Digest)
	require.NoError(t, err)
}

// A tag that points at another digest is a TagMoved event, delivered to
// OnTagEvent and in the report, on every store: forward to a new image,
// and back to an image the store already has (a rollback).
func TestReconcileTagMovedEvent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	clean := f.promote(t, sample.Clean)
	repoLoc := registry.Join(f.golden, sample.Clean)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) catalog.Store
	}{
		{"memory", func(*testing.T) catalog.Store { return catalog.NewMemoryStore() }},
		{"sqlite", func(t *testing.T) catalog.Store { return openStore(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := f.goldenRepo(t, sample.Clean)
			cleanDesc, err := repo.Resolve(ctx, clean.Digest.String())
			require.NoError(t, err)
			require.NoError(t, repo.Tag(ctx, cleanDesc, sample.Tag))
			st := tc.store(t)
			var got []catalog.TagEvent
			sy, err := catalog.NewSyncer(f.client, f.cataloger, st, catalog.SyncOptions{OnTagEvent: func(ev catalog.TagEvent) { got = append(got, ev) }})
			require.NoError(t, err)
			reconcile := func() *catalog.SyncReport {
				t.Helper()
				got = nil
				rep, err := sy.Reconcile(ctx, f.golden)
				require.NoError(t, err)
				require.NoError(t, rep.Err())
				assert.Equal(t, rep.Events, got, "OnTagEvent gets the report's events")
				return rep
			}
			moved := func(rep *catalog.SyncReport) []catalog.TagEvent {
				var out []catalog.TagEvent
				for _, ev := range rep.Events {
					if ev.Repository == repoLoc && ev.Type == catalog.TagMoved {
						out = append(out, ev)
					}
				}
				return out
			}
			rep := reconcile()
			assert.Empty(t, moved(rep), "first reconcile: tags added, none moved")

			d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/motd", Data: []byte("moved on " + tc.name + "\n")})}}.Push(ctx, repo)
			require.NoError(t, err)
			require.NoError(t, repo.Tag(ctx, d, sample.Tag))
			rep = reconcile()
			ev := moved(rep)
			require.Len(t, ev, 1, "events: %+v", rep.Events)
			assert.Equal(t, catalog.TagEvent{Type: catalog.TagMoved, Repository: repoLoc, Tag: sample.Tag, From: clean.Digest, To: d.Digest, At: ev[0].At}, ev[0])

			// Back to the image the store already has.
			require.NoError(t, repo.Tag(ctx, cleanDesc, sample.Tag))
			rep = reconcile()
			ev = moved(rep)
			require.Len(t, ev, 1, "rollback events: %+v", rep.Events)
			assert.Equal(t, d.Digest, ev[0].From)
			assert.Equal(t, clean.Digest, ev[0].To)
			assert.Zero(t, rep.Catalogued, "a rollback reads no image")
			hist, err := st.TagHistory(ctx, repoLoc, sample.Tag)
			require.NoError(t, err)
			require.Len(t, hist, 3, "tag history keeps every (tag, digest)")
			assert.True(t, hist[2].Current)
			assert.Equal(t, clean.Digest, hist[2].Digest)
		})
	}
}

// An image retired and untagged keeps its digest and referrers, but no
// registry API lists it: Reconcile into an empty store cannot find it,
// and Index with its digest brings back the identical entry.
func TestRebuildUntaggedImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	clean := f.promote(t, sample.Clean)
	multi := f.promote(t, sample.Multi)
	loc := registry.Join(f.golden, sample.Clean)
	require.NoError(t, registry.Untag(ctx, f.goldenRepo(t, sample.Clean), sample.Tag))
	rep, err := f.syncer.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Empty(t, f.entry(t, f.store, sample.Clean, clean.Digest).Tags, "the untagged entry is kept without tags")
	before := marshalAll(t, f.store)
	require.Len(t, before, 2)

	fresh := openStore(t)
	sy := f.newSyncer(t, fresh)
	rep, err = sy.Reconcile(ctx, f.golden)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 1, rep.Catalogued, "only the tagged image is found")
	_, err = fresh.Get(ctx, loc, clean.Digest)
	require.ErrorIs(t, err, catalog.ErrNotFound, "the limitation: an untagged digest is not listed")
	f.entry(t, fresh, sample.Multi, multi.Digest)

	e, err := sy.Index(ctx, loc, clean.Digest)
	require.NoError(t, err)
	assert.Empty(t, e.Tags)
	assert.Equal(t, before, marshalAll(t, fresh), "rebuilt entries with Index differ")
	again, err := sy.Index(ctx, loc, clean.Digest)
	require.NoError(t, err, "indexing again")
	assert.Equal(t, e.Digest, again.Digest)

	_, err = sy.Index(ctx, loc, digest.FromString("not there"))
	require.ErrorIs(t, err, registry.ErrNotFound, "a digest the registry does not have")
	_, err = sy.Index(ctx, loc, "sha256:short")
	require.ErrorIs(t, err, catalog.ErrInvalidEntry)
}
