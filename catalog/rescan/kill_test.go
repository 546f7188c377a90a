package rescan_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/internal/pgtest"
	"github.com/cssc-go/cssc/internal/proctest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan/osv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Environment of a worker process (TestWorkerProcess).
const (
	envWorker    = "CSSC_RESCAN_WORKER" // instance name; set: run as a worker
	envDSN       = "CSSC_RESCAN_DSN"
	envRegistry  = "CSSC_RESCAN_REGISTRY" // host:port of the golden registry
	envPKI       = "CSSC_RESCAN_PKI"      // directory of golden.key, golden.crt, ca.crt
	envDB        = "CSSC_RESCAN_OSV"      // OSV database directory
	envSignDelay = "CSSC_RESCAN_SIGN_DELAY"
)

// TestWorkerProcess is not a test: run with envWorker set (by
// TestKillOneOfThreeInstances), it is one catalog instance that loads the
// database, sweeps, and works until it is told to stop (SIGTERM) or
// killed. It prints "signing <digest>" before each signature, for the
// parent to time its kill.
func TestWorkerProcess(t *testing.T) {
	name := os.Getenv(envWorker)
	if name == "" {
		t.Skip("runs only as a worker process of TestKillOneOfThreeInstances")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	store, err := postgres.Open(ctx, os.Getenv(envDSN), postgres.Options{})
	require.NoError(t, err)
	defer store.Close()
	host := os.Getenv(envRegistry)
	client := registry.NewClient(registry.Options{PlainHTTP: []string{host}, MaxRetries: -1})
	dir := os.Getenv(envPKI)
	p := pki{keyPath: filepath.Join(dir, "golden.key"), chainPath: filepath.Join(dir, "golden.crt"), caPath: filepath.Join(dir, "ca.crt")}
	real := p.signer(t)
	delay, _ := time.ParseDuration(os.Getenv(envSignDelay))
	signer := proctest.Signer(real, delay)
	r, err := rescan.New(rescan.Options{Store: store, Queue: store, Coordinator: store, Sweeps: store,
		Open: client.Repository, Signer: signer, Verifier: p.verifier(t), Instance: name,
		Lease: 2 * time.Second, Poll: 50 * time.Millisecond, Retry: 100 * time.Millisecond, Interval: -1, Concurrency: 2})
	require.NoError(t, err)
	db, err := osv.Load(ctx, os.Getenv(envDB), osv.Options{})
	require.NoError(t, err)
	if _, err := r.SetDatabase(ctx, db); err != nil {
		t.Fatalf("set database: %v", err)
	}
	proctest.Ready()
	if err := r.Run(ctx); err != nil && ctx.Err() == nil {
		t.Fatalf("run: %v", err)
	}
}

// TestKillOneOfThreeInstances runs three real instances on one real
// PostgreSQL and kills one with SIGKILL while it signs a report: every
// image is rescanned exactly once for the database version, no report is
// attached twice, and none is left unsigned.
func TestKillOneOfThreeInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	ctx := context.Background()
	dsn := pgtest.New(t)
	store, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	f := newFixture(t, fixtureOptions{store: store, queue: store})
	const n = 48
	var lists [][]catalog.Package
	for i := range n {
		lists = append(lists, images()[i%len(images())])
	}
	f.seed(lists...)
	dbDir := filepath.Join(t.TempDir(), "osv")
	db := osvDB(t, dbDir, db1Records())

	var workers []*proctest.Worker
	for i := range 3 {
		name := fmt.Sprintf("w%d", i)
		workers = append(workers, proctest.Start(t, name, "TestWorkerProcess", envWorker+"="+name, envDSN+"="+dsn,
			envRegistry+"="+f.reg.Host, envPKI+"="+filepath.Dir(f.pki.keyPath), envDB+"="+dbDir, envSignDelay+"=150ms"))
	}

	// Kill w1 in the middle of a signature, after it signed a few.
	require.Eventually(t, func() bool {
		n, _ := workers[1].Signing()
		return n >= 3
	}, time.Minute, 5*time.Millisecond, "w1 signs reports")
	time.Sleep(20 * time.Millisecond) // inside the 150 ms before the signature is pushed
	require.NoError(t, workers[1].Kill())
	signed, victim := workers[1].Signing()
	t.Logf("w1 killed after starting %d signatures", signed)

	// What w1 was signing is attached and unsigned: the state a crash
	// leaves, which the others must repair.
	findRepo := func(d string) (registry.Repository, ocispec.Descriptor) {
		for i := range 7 {
			repo, err := f.open(ctx, f.reg.Location(fmt.Sprintf("golden/app%d", i)))
			require.NoError(t, err)
			if desc, err := repo.Resolve(ctx, d); err == nil {
				return repo, desc
			}
		}
		t.Fatalf("report %s is not in the registry", d)
		return nil, ocispec.Descriptor{}
	}
	repo, desc := findRepo(victim)
	sigs, err := registry.Referrers(ctx, repo, desc, artifact.TypeNotarySignature)
	require.NoError(t, err)
	require.Empty(t, sigs, "the report w1 was signing is left unsigned by the kill")

	// The two others finish the sweep.
	var sweep *catalog.Sweep
	require.Eventually(t, func() bool {
		sweeps, err := store.Sweeps(ctx, 10)
		if err != nil || len(sweeps) == 0 {
			return false
		}
		sweep = sweeps[0]
		return sweep.State == catalog.SweepFinished
	}, 2*time.Minute, 50*time.Millisecond, "the sweep finishes without w1")
	require.Len(t, mustSweeps(t, store), 1, "one sweep for one database version, whoever loaded it")
	assert.Equal(t, catalog.SweepFull, sweep.Kind)
	assert.Equal(t, db.Version(), sweep.DatabaseVersion)
	assert.Equal(t, map[string]int{rescan.OutcomeWritten: n}, sweep.Outcomes, "every image done once, none failed")

	// The queue: one job per image, done, and w1's were taken over.
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var jobs, done, retaken int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE attempts > 1)
		FROM cssc_jobs`).Scan(&jobs, &done, &retaken))
	assert.Equal(t, n, jobs, "one job per image and database version")
	assert.Equal(t, n, done)
	assert.Positive(t, retaken, "jobs w1 held when it died were taken over")
	t.Logf("%d jobs taken over from the killed instance", retaken)

	sigs, err = registry.Referrers(ctx, repo, desc, artifact.TypeNotarySignature)
	require.NoError(t, err)
	assert.Len(t, sigs, 1, "the report w1 left unsigned was signed by the instance that took its job over")

	// The registry: exactly one report per image, signed once, verified.
	for i := range n {
		reps := f.reports(i, artifact.ReportKindVulnerability)
		require.Len(t, reps, 1, "image %d: one report, never attached twice", i)
		assert.True(t, reps[0].signed, "image %d: the report is signed by the enterprise key", i)
		assert.Equal(t, 1, reps[0].sigCount, "image %d: signed once", i)
		e := f.entry(i)
		require.Len(t, e.Reports, 1, "image %d: the entry lists the report", i)
		assert.Equal(t, reps[0].desc.Digest, e.Reports[0].Digest, "image %d: the entry is on the report", i)
		assert.Empty(t, e.Problems, "image %d: no problem left", i)
		assert.Equal(t, findingIDs(reps[0].report), entryFindingIDs(e), "image %d", i)
	}
}

func mustSweeps(t *testing.T, s catalog.SweepLog) []*catalog.Sweep {
	t.Helper()
	out, err := s.Sweeps(context.Background(), 100)
	require.NoError(t, err)
	return out
}
