package requests_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/internal/pgtest"
	"github.com/cssc-go/cssc/internal/proctest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Environment of a worker process (TestRequestWorkerProcess).
const (
	envWorker    = "CSSC_REQUESTS_WORKER" // instance name; set: run as a worker
	envDSN       = "CSSC_REQUESTS_DSN"
	envSrc       = "CSSC_REQUESTS_SRC" // host:port of the source registry
	envDst       = "CSSC_REQUESTS_DST" // host:port of the quarantine and golden registry
	envPKI       = "CSSC_REQUESTS_PKI" // directory of golden.key, golden.crt, ca.crt
	envSignDelay = "CSSC_REQUESTS_SIGN_DELAY"
)

// TestRequestWorkerProcess is not a test: run with envWorker set (by
// TestKillWorkerMidAcquisition), it is one catalog instance that runs
// request acquisitions through the real pipeline until it is told to stop
// (SIGTERM) or killed. It prints "signing <digest>" before each
// signature, for the parent to time its kill.
func TestRequestWorkerProcess(t *testing.T) {
	name := os.Getenv(envWorker)
	if name == "" {
		t.Skip("runs only as a worker process of TestKillWorkerMidAcquisition")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	store, err := postgres.Open(ctx, os.Getenv(envDSN), postgres.Options{})
	require.NoError(t, err)
	defer store.Close()
	w := world{src: os.Getenv(envSrc), dst: os.Getenv(envDst), pkiDir: os.Getenv(envPKI)}
	delay, _ := time.ParseDuration(os.Getenv(envSignDelay))
	p := w.newParts(t, store, func(real sign.Signer) sign.Signer { return proctest.Signer(real, delay) })
	s, err := requests.New(requests.Options{Requests: store, Queue: store, Store: store, Golden: w.golden(), Acquirer: p.acquirer,
		Syncer: p.syncer, Rules: w.rules(), Instance: name, Lease: 2 * time.Second, Poll: 50 * time.Millisecond})
	require.NoError(t, err)
	proctest.Ready()
	if err := s.Run(ctx); err != nil && ctx.Err() == nil {
		t.Fatalf("run: %v", err)
	}
}

// TestKillWorkerMidAcquisition runs two real worker processes on one real
// PostgreSQL and kills the one that acquires a request with SIGKILL while
// the pipeline signs: the other takes the job when the lease expires, the
// image is promoted once (one golden tag record, one verification
// summary), and the request ends in one final state, promoted.
func TestKillWorkerMidAcquisition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes and PostgreSQL")
	}
	ctx := context.Background()
	dsn := pgtest.New(t)
	store, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	w := newWorld(t)
	p := w.newParts(t, store, nil)

	workers := map[string]*proctest.Worker{}
	for _, name := range []string{"w0", "w1"} {
		workers[name] = proctest.Start(t, name, "TestRequestWorkerProcess", envWorker+"="+name, envDSN+"="+dsn,
			envSrc+"="+w.src, envDst+"="+w.dst, envPKI+"="+w.pkiDir, envSignDelay+"=150ms")
	}

	// Submit from this process (an API instance): approved by the rule,
	// queued in PostgreSQL.
	s, err := requests.New(requests.Options{Requests: store, Queue: store, Store: store, Golden: w.golden(), Rules: w.rules()})
	require.NoError(t, err)
	a, err := s.Submit(ctx, requests.Submission{Reference: w.source(sample.Clean), Reason: "base of the web tier", Owner: "team-web", Requester: "alice"})
	require.NoError(t, err)
	require.Equal(t, catalog.RequestApproved, a.Request.State)

	// Kill the worker that signs, in the middle of a signature.
	var victim string
	require.Eventually(t, func() bool {
		for name, wk := range workers {
			if n, _ := wk.Signing(); n >= 2 {
				victim = name
				return true
			}
		}
		return false
	}, time.Minute, 5*time.Millisecond, "a worker signs")
	time.Sleep(20 * time.Millisecond) // inside the 150 ms before the signature is pushed
	require.NoError(t, workers[victim].Kill())
	r, err := s.Request(ctx, a.Request.ID)
	require.NoError(t, err)
	require.Equal(t, catalog.RequestAcquiring, r.State, "the kill leaves the request acquiring")
	t.Logf("%s killed while acquiring %s (attempt %d)", victim, r.Reference, r.Attempts)

	// The other worker takes the job when the lease expires and finishes.
	require.Eventually(t, func() bool {
		r, err = s.Request(ctx, a.Request.ID)
		return err == nil && r.State.Final()
	}, 2*time.Minute, 50*time.Millisecond, "the request ends")
	require.Equal(t, catalog.RequestPromoted, r.State, "reasons %v", r.Reasons)
	assert.Equal(t, 2, r.Attempts, "two acquisitions started: the killed one and the one that finished")
	var finals, acquiring []string
	for _, h := range r.History {
		if h.State.Final() {
			finals = append(finals, string(h.State))
		}
		if h.State == catalog.RequestAcquiring {
			acquiring = append(acquiring, h.By)
		}
	}
	assert.Equal(t, []string{"promoted"}, finals, "one final state")
	require.Len(t, acquiring, 2, "history: %+v", r.History)
	assert.Equal(t, victim, acquiring[0], "the killed worker started first")
	assert.NotEqual(t, victim, acquiring[1], "the other worker took over")

	// Promoted once: the golden tag has one record, and the image one
	// verification summary.
	hist, err := store.TagHistory(ctx, r.Golden, sample.Tag)
	require.NoError(t, err)
	require.Len(t, hist, 1, "one golden tag record: %+v", hist)
	assert.Equal(t, r.Digest, hist[0].Digest)
	repo, err := p.client.Repository(ctx, r.Golden)
	require.NoError(t, err)
	desc, err := repo.Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, r.Digest, desc.Digest, "the golden tag points at the promoted digest")
	refs, err := registry.Referrers(ctx, repo, desc, artifact.TypeInToto)
	require.NoError(t, err)
	summaries := 0
	for _, d := range refs {
		if d.Annotations[artifact.AnnotationPredicateType] == artifact.PredicateVerificationSummaryV1 {
			summaries++
		}
	}
	assert.Equal(t, 1, summaries, "one verification summary: the image was promoted once")
	// The worker completes the job after it has stored the request's end.
	var st *catalog.GroupStatus
	require.Eventually(t, func() bool {
		st, err = store.Status(ctx, "")
		return err == nil && st.Active() == 0
	}, time.Minute, 20*time.Millisecond, "no job left")
	assert.Equal(t, 1, st.Done, "the job ended once: %+v", st)
}
