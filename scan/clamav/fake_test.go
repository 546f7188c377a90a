package clamav_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClamd speaks just enough of clamd's protocol to misbehave on cue:
// reply(stream) decides the INSTREAM verdict ("" means hang up).
type fakeClamd struct {
	addr    string
	accepts atomic.Int32
	streams atomic.Int32
	reply   func(data []byte) string
	version string
	delay   time.Duration
	// oneShot makes sessions end after one request, as if clamd had
	// dropped them as idle.
	oneShot bool
}

func startFake(t *testing.T, reply func([]byte) string) *fakeClamd {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "c.sock")
	if len(sock) > 100 {
		t.Skip("temp dir too long for a unix socket")
	}
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	f := &fakeClamd{addr: "unix://" + sock, reply: reply, version: "ClamAV 9.9.9/12345/Thu Jan  1 00:00:00 2026"}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.accepts.Add(1)
			wg.Go(func() { f.serve(c) })
		}
	})
	return f
}

func (f *fakeClamd) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	id := 0
	session := false
	for {
		cmd, err := r.ReadString(0)
		if err != nil {
			return
		}
		cmd = strings.TrimSuffix(strings.TrimPrefix(cmd, "z"), "\x00")
		prefix := func() string {
			if session {
				id++
				return itoa(id) + ": "
			}
			return ""
		}
		switch cmd {
		case "IDSESSION":
			session = true
		case "END":
			return
		case "PING":
			c.Write([]byte(prefix() + "PONG\x00"))
		case "VERSION":
			c.Write([]byte(prefix() + f.version + "\x00"))
		case "INSTREAM":
			var data []byte
			for {
				var n uint32
				if err := binary.Read(r, binary.BigEndian, &n); err != nil {
					return
				}
				if n == 0 {
					break
				}
				chunk := make([]byte, n)
				if _, err := io.ReadFull(r, chunk); err != nil {
					return
				}
				data = append(data, chunk...)
			}
			f.streams.Add(1)
			time.Sleep(f.delay)
			ans := f.reply(data)
			if ans == "" {
				return
			}
			c.Write([]byte(prefix() + ans + "\x00"))
		default:
			c.Write([]byte("UNKNOWN COMMAND\x00"))
		}
		if !session || (f.oneShot && id > 0) {
			return
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func manyFiles(t *testing.T, n int) *scan.Image {
	var files []imagetest.File
	for i := range n {
		files = append(files, file("f/"+itoa(i), []byte("content "+itoa(i))))
	}
	return pushImage(t, imagetest.Layer(files...))
}

// TestFailClosed: anything but OK or FOUND fails the scan.
func TestFailClosed(t *testing.T) {
	ctx := context.Background()
	for name, reply := range map[string]string{
		"error":        "stream: Can't allocate memory ERROR",
		"size limit":   "INSTREAM size limit exceeded. ERROR",
		"hang up":      "",
		"garbage":      "banana",
		"empty found":  "stream:  FOUND",
		"wrong prefix": "file: OK",
		"long reply":   "stream: " + strings.Repeat("A", 10000) + " FOUND",
	} {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t, func(data []byte) string {
				if strings.Contains(string(data), "7") {
					return reply
				}
				return "stream: OK"
			})
			s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 2})
			r, err := s.Scan(ctx, manyFiles(t, 20))
			assert.Nil(t, r, "never a clean report")
			assert.ErrorIs(t, err, scan.ErrScanFailed)
		})
	}
}

func TestTimeout(t *testing.T) {
	fake := startFake(t, func([]byte) string { return "stream: OK" })
	fake.delay = time.Second
	s := newScanner(t, clamav.Options{Address: fake.addr, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := s.Scan(context.Background(), manyFiles(t, 2))
	assert.ErrorIs(t, err, scan.ErrScanFailed)
	assert.Less(t, time.Since(start), 900*time.Millisecond, "the per-file timeout must stop the scan")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s2 := newScanner(t, clamav.Options{Address: fake.addr})
	_, err = s2.Scan(ctx, manyFiles(t, 2))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, scan.ErrScanFailed)
}

func TestSessionReuse(t *testing.T) {
	fake := startFake(t, func(data []byte) string {
		if strings.HasSuffix(string(data), " 13") {
			return "stream: Fake.Sig FOUND"
		}
		return "stream: OK"
	})
	s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 3})
	img := manyFiles(t, 100)
	for range 3 {
		r, err := s.Scan(context.Background(), img)
		require.NoError(t, err)
		require.Len(t, r.Findings, 1)
		assert.Equal(t, "f/13", r.Findings[0].Path)
		assert.Equal(t, "12345", r.Tool.DatabaseVersion)
		assert.Equal(t, "ClamAV 9.9.9", r.Tool.Version)
	}
	assert.Equal(t, int32(300), fake.streams.Load())
	assert.LessOrEqual(t, fake.accepts.Load(), int32(3), "sessions must be reused across files and scans")
}

func TestVersionWithoutDatabase(t *testing.T) {
	fake := startFake(t, func([]byte) string { return "stream: OK" })
	fake.version = "ClamAV 1.4.6"
	s := newScanner(t, clamav.Options{Address: fake.addr})
	v, err := s.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, clamav.Version{Engine: "ClamAV 1.4.6"}, v)
	fake.version = "nonsense"
	_, err = s.Version(context.Background())
	assert.ErrorIs(t, err, scan.ErrScanFailed)
}

// TestLostSessionRetried: a reused session that clamd closed (IdleTimeout)
// is replaced transparently for buffered files and commands.
func TestLostSessionRetried(t *testing.T) {
	fake := startFake(t, func(data []byte) string { return "stream: OK" })
	fake.oneShot = true
	s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 1})
	r, err := s.Scan(context.Background(), manyFiles(t, 10))
	require.NoError(t, err)
	assert.Empty(t, r.Findings)
	assert.Equal(t, int32(10), fake.streams.Load())
	assert.GreaterOrEqual(t, fake.accepts.Load(), int32(11), "every request needed a new session")
}

// readAll is a second visitor of a shared walk: it wants and reads every
// regular file, so that imagefs.WalkAll copies the large ones to a
// temporary file for both.
type readAll struct{ files atomic.Int32 }

func (v *readAll) Wants(f *imagefs.File) bool { return f.Mode.IsRegular() }
func (v *readAll) Visit(_ context.Context, f *imagefs.File, r io.Reader) error {
	if f.Mode.IsRegular() {
		v.files.Add(1)
	}
	_, err := io.Copy(io.Discard, r)
	return err
}

// TestSharedWalkDoesNotWaitForLargeFiles: in a walk shared with another
// visitor (imagefs.WalkAll, as the pipeline's one pass), large files go to
// the workers through their own handle on the walk's temporary copy: the
// walk ends while clamd still holds every large file, every file is
// scanned all the same, a detection in a large file is reported, and a
// failure on a large file fails the scan (fail closed).
func TestSharedWalkDoesNotWaitForLargeFiles(t *testing.T) {
	ctx := context.Background()
	var files []imagetest.File
	for i := range 3 {
		data := imagetest.Random(uint64(i+10), 2<<20)
		if i == 1 {
			data = append(data, []byte("BIG-MARKER")...)
		}
		files = append(files, file("opt/big"+itoa(i), data))
	}
	for i := range 10 {
		files = append(files, file("etc/small"+itoa(i), []byte("small "+itoa(i))))
	}
	img := pushImage(t, imagetest.Layer(files...))

	for _, verdict := range []string{"stream: Big.Marker FOUND", "stream: Can't allocate memory ERROR"} {
		t.Run(verdict, func(t *testing.T) {
			release := make(chan struct{})
			var heldBig, answeredBig atomic.Int32
			fake := startFake(t, func(data []byte) string {
				if len(data) > 1<<20 {
					heldBig.Add(1)
					select {
					case <-release: // the walk is over
					case <-time.After(5 * time.Second): // guard against a deadlock, not a timing check
					}
					answeredBig.Add(1)
					if strings.HasSuffix(string(data), "BIG-MARKER") {
						return verdict
					}
				}
				return "stream: OK"
			})
			s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 4})
			fs, other := walkShared(t, s, img, t.TempDir())
			assert.Zero(t, answeredBig.Load(), "the walk waited for clamd's answer on a large file")
			// Every large file reached clamd before the walk ended and none
			// was answered yet: the walk did not wait for them.
			assert.Eventually(t, func() bool { return heldBig.Load() == 3 }, 10*time.Second, 10*time.Millisecond, "large files in flight")
			// The last small file may still be on its way to clamd after the
			// walk returned: wait for it before a large file's error cancels
			// the scan (which stops sending what is left, as it should).
			assert.Eventually(t, func() bool { return fake.streams.Load() == 13 }, 10*time.Second, 10*time.Millisecond,
				"every file reached clamd while the large ones were held")
			close(release)
			r, err := fs.Finish(ctx, nil)
			assert.Equal(t, int32(13), fake.streams.Load(), "every file scanned")
			assert.Equal(t, int32(13), other.files.Load())
			if strings.HasSuffix(verdict, "FOUND") {
				require.NoError(t, err)
				require.Len(t, r.Findings, 1)
				assert.Equal(t, "opt/big1", r.Findings[0].Path)
				assert.Equal(t, "Big.Marker", r.Findings[0].ID)
				return
			}
			assert.Nil(t, r, "never a clean report")
			assert.ErrorIs(t, err, scan.ErrScanFailed)
			var se *clamav.ScanError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "opt/big1", se.Path)
		})
	}
}

// holdingClamd is a clamd that answers no stream until release is called
// (by the test, or 10 seconds after the first stream: a guard against a
// deadlock, not a timing check), then answers reply. answered counts its
// answers.
func holdingClamd(t *testing.T, reply string) (fake *fakeClamd, release func(), answered *atomic.Int32) {
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(release)
	answered = new(atomic.Int32)
	fake = startFake(t, func(data []byte) string {
		select {
		case <-released:
		case <-time.After(10 * time.Second):
			release()
		}
		answered.Add(1)
		return reply
	})
	return fake, release, answered
}

// smallAndLarge is an image of n small files and m large ones (over the 1
// MiB a visitor gets in memory).
func smallAndLarge(t *testing.T, n, m int) *scan.Image {
	var files []imagetest.File
	for i := range m {
		files = append(files, file("opt/big"+itoa(i), imagetest.Random(uint64(i+20), 1<<20+300)))
	}
	for i := range n {
		files = append(files, file("etc/small"+itoa(i), []byte(strings.Repeat("x", 300)+itoa(i))))
	}
	return pushImage(t, imagetest.Layer(files...))
}

// TestWalkRunsAheadOfClamd: files wait in a queue for a free connection, so
// a shared walk (the pipeline's one pass) is not held by clamd: with two
// connections and clamd answering nothing, the walk of 40 small and 3
// large files ends, then every file is scanned. (Before the queue, the
// walk waited for a free connection at the third file, and clamd sat idle
// while the walk decompressed a layer or copied a large file.)
func TestWalkRunsAheadOfClamd(t *testing.T) {
	ctx := context.Background()
	fake, release, answered := holdingClamd(t, "stream: OK")
	img := smallAndLarge(t, 40, 3)
	s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 2})
	fs, _ := walkShared(t, s, img, t.TempDir())
	assert.Zero(t, answered.Load(), "the walk waited for clamd")
	release()
	r, err := fs.Finish(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, r.Findings)
	assert.Equal(t, int32(43), fake.streams.Load(), "every file scanned")
}

// TestQueueIsBounded: the queue holds at most Options.MaxBuffered bytes of
// small files and 2 x Concurrency large ones; past that the walk waits for
// clamd.
func TestQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		small, big  int
		maxBuffered int64
		// most is how many files the walk may hand out while clamd holds
		// the first: the next one waits in Visit.
		most int32
	}{
		// 12 KiB hold three 303-byte files (the one at the connection
		// included): each is held in a buffer rounded up to a power of
		// two, 4 KiB at least.
		{name: "small files", small: 30, maxBuffered: 12 << 10, most: 3},
		// A budget smaller than one buffer lets one file through at a
		// time instead of blocking the walk for ever.
		{name: "tiny budget", small: 5, maxBuffered: 100, most: 1},
		// One large file at the connection, one queued.
		{name: "large files", big: 8, most: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, release, _ := holdingClamd(t, "stream: OK")
			img := smallAndLarge(t, tc.small, tc.big)
			s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 1, MaxBuffered: tc.maxBuffered})
			// Cancelled when the test ends, so that a walk stuck past the
			// bound (a failed test) ends too.
			ctx, cancel := context.WithCancel(ctx)
			fs, err := s.StartFiles(ctx, img)
			require.NoError(t, err)
			other := &readAll{}
			var walkErr error
			walked := make(chan struct{})
			tmp := t.TempDir()
			go func() {
				defer close(walked)
				_, walkErr = imagefs.WalkAll(ctx, img.Repository, img.Manifest, imagefs.WalkOptions{}, imagefs.ShareOptions{TempDir: tmp}, fs, other)
			}()
			t.Cleanup(func() { release(); cancel(); <-walked; fs.Finish(ctx, nil) })
			// The walk reaches the bound (clamd holds the first stream)...
			require.Eventually(t, func() bool { return fake.streams.Load() == 1 && other.files.Load() >= tc.most }, 10*time.Second, 5*time.Millisecond)
			// ...and stays there until clamd answers.
			time.Sleep(100 * time.Millisecond)
			assert.Equal(t, tc.most, other.files.Load(), "files handed out while clamd held the first")
			select {
			case <-walked:
				t.Fatal("the walk ended while clamd held every file: the queue is not bounded")
			default:
			}
			release()
			<-walked
			require.NoError(t, walkErr)
			r, err := fs.Finish(ctx, nil)
			require.NoError(t, err)
			assert.Empty(t, r.Findings)
			assert.Equal(t, int32(tc.small+tc.big), fake.streams.Load())
		})
	}
}

// TestFailureReleasesQueuedFiles: when a file fails, the files still
// queued are dropped and their handles on the walk's temporary copies
// closed (their disk space freed), and the scan fails.
func TestFailureReleasesQueuedFiles(t *testing.T) {
	ctx := context.Background()
	fake, release, _ := holdingClamd(t, "stream: Can't allocate memory ERROR")
	img := smallAndLarge(t, 5, 4)
	tmp := t.TempDir()
	s := newScanner(t, clamav.Options{Address: fake.addr, Concurrency: 2})
	fs, _ := walkShared(t, s, img, tmp)
	assert.NotZero(t, openUnder(t, tmp), "queued large files hold their copies")
	release()
	r, err := fs.Finish(ctx, nil)
	assert.Nil(t, r, "never a clean report")
	assert.ErrorIs(t, err, scan.ErrScanFailed)
	assert.Zero(t, openUnder(t, tmp), "handles on temporary copies left open")
}

// openUnder counts this process's open descriptors on files that were
// under dir (removed ones included).
func openUnder(t *testing.T, dir string) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd")
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// walkShared starts a scan with s and feeds it a walk of img shared with a
// second visitor that reads every file (temporary copies under tmp), as
// the pipeline's one pass does; the walk must succeed.
func walkShared(t *testing.T, s *clamav.Scanner, img *scan.Image, tmp string) (scan.FileScan, *readAll) {
	t.Helper()
	ctx := context.Background()
	fs, err := s.StartFiles(ctx, img)
	require.NoError(t, err)
	other := &readAll{}
	errs, walkErr := imagefs.WalkAll(ctx, img.Repository, img.Manifest, imagefs.WalkOptions{}, imagefs.ShareOptions{TempDir: tmp}, fs, other)
	require.NoError(t, walkErr)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	return fs, other
}
