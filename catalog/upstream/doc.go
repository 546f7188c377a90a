// Package upstream keeps golden images in step with their publishers: it
// watches the source tag of every golden tag acquired from a tag, and
// when a publisher moves the tag (a patched rebuild), it acquires the new
// digest through the full Acquire pipeline; the golden tag moves only if
// the new image passes.
//
// # Watching with HEAD requests only
//
// A check is one HEAD request on the source tag, never a manifest GET (a
// GET counts as a pull on Docker Hub, whose anonymous limit is 10 pulls an
// hour; a HEAD does not). A sweep checks every tracked tag once per
// Options.Interval. The tracker reaches source registries with a client
// of its own (Options.Registry) whose transport reads every response: a
// 429, or a 503 with Retry-After, leaves that host alone until the time
// it names; a rate-limit header saying that no request is left
// (RateLimit-Remaining, X-RateLimit-Remaining, Docker Hub's
// ratelimit-remaining) leaves it alone until the reset it names. Each host
// also has a request budget (Options.Budgets). A check that its host's
// limits defer is not made, and its track waits for the next sweep; so
// does a track whose registry could not answer (an outage): tracks are
// changed only by definitive answers (a digest, or "not found").
//
// # What a move does
//
// A source tag seen on a new digest becomes an acquisition job. The
// embedding service supplies the acquisition (Acquirer; PipelineAcquirer
// runs an *acquire.Pipeline), pinned to the digest seen, under the golden
// tag. If the image passes, the golden tag has moved: the tracker has
// the golden repository indexed (Options.Syncer, a *catalog.Syncer: new
// entry, tag history, and the TagMoved event of its OnTagEvent), has the
// image it replaced superseded (Options.Lifecycle, a *lifecycle.Runner:
// replacement pointer and deprecation as the lifecycle configuration
// says, with a signed marker and an event), and emits TypePromoted. If it
// fails (denied by the policy, or a step could not complete), the golden
// tag stays where it was, the track records the failure
// (catalog.TrackFailed, Track.Failure) and TypeFailed is emitted; the
// same digest is tried again after Options.RetryFailed, doubling each
// time.
//
// A source tag or repository that disappears is recorded
// (catalog.TrackGone, TypeGone) and golden keeps serving what it has. So
// is a repository that the registry refuses with 401 or 403 and the error
// code "insufficient_scope" to a HEAD carrying the token it has just
// issued: Docker Hub's answer for a repository that does not exist or is
// private, even to an anonymous client. The track's reason says "gone or
// private upstream". Our own credentials refused (by the token service,
// or with "invalid_token") are a failure instead: the track is left as
// it was.
//
// No promotion loop: a tag that goes back to a digest golden already
// followed and replaced is held (catalog.TrackHeld, TypeFlapping) until
// someone releases it (Release); and at most
// Options.MaxAcquisitionsPerDay acquisitions start per tag in any 24
// hours (catalog.TrackCapped, TypeCapped), which also bounds a registry
// whose HEAD names a digest its GET does not serve.
//
// # State and several instances
//
// The tracking state of each golden tag is a catalog.Track in the store
// (catalog.TrackStore: catalog/sqlite, catalog/postgres,
// catalog.MemoryStore), written by compare-and-swap, so it survives
// restarts and instances share it. Sweeps are catalog.Sweep records of
// kind SweepKind; their checks and acquisitions are jobs in the store's
// queue, claimed with leases that expire (KindCheck, KindAcquire), as the
// rescans' are: several instances share a sweep, and an acquisition runs
// under a cluster-wide lock of its track.
//
// # Wiring
//
//	tracker, err := upstream.New(upstream.Options{
//		Tracks: st, Queue: st, Coordinator: st, Sweeps: st, Store: st, // a catalog/postgres or catalog/sqlite store
//		Registry:  registry.Options{Credentials: creds},               // how to reach the source registries
//		Acquirer:  upstream.PipelineAcquirer{Pipeline: pipeline, Golden: "registry.corp/golden"},
//		Syncer:    syncer,    // *catalog.Syncer, with OnTagEvent sending event.TagMoved
//		Lifecycle: lifecycleRunner,
//		Events:    sink,
//		Interval:  time.Hour,
//		Budgets:   map[string]upstream.Budget{"docker.io": {Requests: 600, Per: time.Hour}},
//	})
//	// Tracks come from promotions and from the catalog:
//	//   acquire.Config.OnPromoted: func(ctx, rec) { syncer.Promoted(ctx, rec); tracker.Promoted(ctx, rec) }
//	//   tracker.Discover(ctx) (each sweep does it too)
//	go tracker.Run(ctx) // on every instance
//
// Tracker.Track returns a track's state for an API or a page to show;
// catalog/server shows every golden tag's state on the image's API answer
// and page when its Options.Tracks is the store (so a failed acquisition
// shows on the entry).
package upstream
