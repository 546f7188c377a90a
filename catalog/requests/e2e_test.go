package requests_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
)

// TestRequestToPromotion runs requests through the real pipeline on each
// store: an auto-approved request is promoted and indexed, asking again
// answers with the golden image, a request that waits is approved by a
// person, and an image the policy denies ends denied with the policy's
// reasons; every change is an event.
func TestRequestToPromotion(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with real registries, notation, the OSV matcher and the pipeline")
	}
	for name, kind := range storeKinds() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			st := kind(t)()
			p := w.newParts(t, st.store, nil)
			events := &eventtest.Sink{}
			s, err := requests.New(requests.Options{Requests: st.reqs, Queue: st.queue, Store: st.store, Golden: w.golden(),
				Acquirer: p.acquirer, Syncer: p.syncer, Rules: w.rules(), Events: events, Poll: 10 * time.Millisecond})
			require.NoError(t, err)
			drain := func() {
				t.Helper()
				dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				defer cancel()
				require.NoError(t, s.Drain(dctx))
			}

			a, err := s.Submit(ctx, requests.Submission{Reference: w.source(sample.Clean), Reason: "base image of the web tier", Owner: "team-web", Requester: "alice"})
			require.NoError(t, err)
			require.NotNil(t, a.Request)
			assert.Equal(t, catalog.RequestApproved, a.Request.State, "approved by the library rule")
			drain()
			r, err := s.Request(ctx, a.Request.ID)
			require.NoError(t, err)
			require.Equal(t, catalog.RequestPromoted, r.State, "reasons %v, history %+v", r.Reasons, r.History)
			assert.Equal(t, registry.Join(w.golden(), sample.Clean), r.Golden)
			assert.NotEmpty(t, r.Digest, "the golden digest is recorded")
			var states []string
			for _, h := range r.History {
				states = append(states, string(h.State))
			}
			assert.Equal(t, "pending approved acquiring promoted", strings.Join(states, " "), "the request's path")
			assert.Equal(t, []string{requests.TypeSubmitted, requests.TypeApproved, requests.TypeAcquiring, requests.TypePromoted}, eventtest.Types(events.Take()))
			e, err := st.store.Get(ctx, r.Golden, r.Digest)
			require.NoError(t, err, "the promoted image is in the catalog")
			assert.Contains(t, e.Tags, sample.Tag)

			// Asking again answers with the golden image.
			again, err := s.Submit(ctx, requests.Submission{Reference: w.source(sample.Clean), Reason: "me too", Owner: "team-api", Requester: "bob"})
			require.NoError(t, err)
			require.NotNil(t, again.Golden, "the catalog has it now")
			assert.Equal(t, r.Golden+"@"+r.Digest.String(), again.Golden.Pull)

			// Outside the auto-approved namespace: waits, then an approver
			// approves it.
			b, err := s.Submit(ctx, requests.Submission{Reference: w.source(sample.Signed), Reason: "signed by its publisher", Owner: "team-web", Requester: "alice"})
			require.NoError(t, err)
			assert.Equal(t, catalog.RequestPending, b.Request.State)
			drain()
			b.Request, err = s.Request(ctx, b.Request.ID)
			require.NoError(t, err)
			assert.Equal(t, catalog.RequestPending, b.Request.State, "nothing happens without an approver")
			_, err = s.Approve(ctx, b.Request.ID, "dave", "checked the publisher")
			require.NoError(t, err)
			drain()
			b.Request, err = s.Request(ctx, b.Request.ID)
			require.NoError(t, err)
			assert.Equal(t, catalog.RequestPromoted, b.Request.State, "reasons %v", b.Request.Reasons)
			events.Take()

			// The policy denies an image with a critical vulnerability.
			c, err := s.Submit(ctx, requests.Submission{Reference: w.source(sample.Vulnerable), Reason: "legacy app", Owner: "team-legacy", Requester: "carol"})
			require.NoError(t, err)
			drain()
			c.Request, err = s.Request(ctx, c.Request.ID)
			require.NoError(t, err)
			assert.Equal(t, catalog.RequestDenied, c.Request.State)
			assert.Equal(t, "policy", c.Request.Decider)
			require.NotEmpty(t, c.Request.Reasons)
			assert.Contains(t, strings.Join(c.Request.Reasons, "; "), "vulnerabilities", "the policy's reasons: %v", c.Request.Reasons)
			evs := events.Take()
			require.Equal(t, []string{requests.TypeSubmitted, requests.TypeApproved, requests.TypeAcquiring, requests.TypeDenied}, eventtest.Types(evs))
			var ch requests.Change
			require.NoError(t, evs[3].Decode(&ch))
			assert.Equal(t, "carol", ch.Requester)
			assert.Equal(t, c.Request.Reasons, ch.Reasons, "the denial event carries the policy's reasons")

			// A reference pinned by digest alone (a multi-arch index):
			// promoted and catalogued by digest.
			srcRepo, err := p.client.Repository(ctx, registry.Join(w.src, sample.Multi))
			require.NoError(t, err)
			desc, err := srcRepo.Resolve(ctx, sample.Tag)
			require.NoError(t, err)
			pinned := registry.Join(w.src, sample.Multi) + "@" + desc.Digest.String()
			d, err := s.Submit(ctx, requests.Submission{Reference: pinned, Reason: "pinned in our Dockerfile", Owner: "team-web", Requester: "dave"})
			require.NoError(t, err)
			require.NotNil(t, d.Request)
			assert.Empty(t, d.Request.Tag)
			drain()
			d.Request, err = s.Request(ctx, d.Request.ID)
			require.NoError(t, err)
			require.Equal(t, catalog.RequestPromoted, d.Request.State, "reasons %v", d.Request.Reasons)
			_, err = st.store.Get(ctx, d.Request.Golden, d.Request.Digest)
			require.NoError(t, err, "the image requested by digest is catalogued")
			again, err = s.Submit(ctx, requests.Submission{Reference: pinned, Reason: "me too", Owner: "team-api", Requester: "erin"})
			require.NoError(t, err)
			require.NotNil(t, again.Golden, "asking again by digest answers with the golden image")
		})
	}
}
