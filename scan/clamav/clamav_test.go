package clamav_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
	"github.com/cssc-go/cssc/scan/scantest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newScanner(t testing.TB, opts clamav.Options) *clamav.Scanner {
	t.Helper()
	s, err := clamav.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// pushImage pushes layers to a fresh in-memory repository.
func pushImage(t testing.TB, layers ...imagetest.Blob) *scan.Image {
	t.Helper()
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:clamav")
	require.NoError(t, err)
	desc, err := imagetest.Image{Layers: layers}.Push(ctx, repo)
	require.NoError(t, err)
	return &scan.Image{Repository: repo, Manifest: desc, Reference: "mem:clamav@" + desc.Digest.String()}
}

func file(path string, data []byte) imagetest.File { return imagetest.File{Path: path, Data: data} }

// infected builds an image with detections in several places: a plain
// file, the middle of a file streamed in chunks (over the 1 MiB
// buffering limit), a hard link whose target was deleted, and a deleted
// file that must not be reported.
func infected(t testing.TB) (*scan.Image, []imagetest.Blob) {
	big := append(append(imagetest.Random(1, 3<<20), []byte(clamdtest.Marker)...), imagetest.Random(2, 1<<20)...)
	var small []imagetest.File
	for i := range 60 {
		small = append(small, file(fmt.Sprintf("usr/share/doc/f%02d.txt", i), []byte(strings.Repeat("clean text ", i+1))))
	}
	l0 := imagetest.Layer(append(small,
		file("tmp/deleted.com", clamdtest.EICAR()),
		file("opt/hidden-target", clamdtest.EICAR()),
		imagetest.File{Path: "opt/link", Type: tar.TypeLink, Linkname: "opt/hidden-target"},
		file("etc/os-release", []byte("ID=debian\n")),
	)...)
	l1 := imagetest.LayerWith(imagetest.Zstd,
		imagetest.Whiteout("tmp/deleted.com"),
		imagetest.Whiteout("opt/hidden-target"),
		file("usr/share/eicar.com", clamdtest.EICAR()),
		file("srv/big.bin", big),
		file("srv/empty", nil),
	)
	return pushImage(t, l0, l1), []imagetest.Blob{l0, l1}
}

func TestScanDetections(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(fmt.Sprintf("tcp=%v", tcp), func(t *testing.T) {
			srv := clamdtest.Start(t, clamdtest.Options{TCP: tcp})
			s := newScanner(t, clamav.Options{Address: srv.Address, Concurrency: 3})
			img, layers := infected(t)
			r, err := s.Scan(context.Background(), img)
			require.NoError(t, err, "clamd log:\n%s", srv.Log())
			assert.Equal(t, artifact.ReportKindMalware, r.Kind)
			assert.Equal(t, clamav.ToolName, r.Tool.Name)
			assert.True(t, strings.HasPrefix(r.Tool.Version, "ClamAV "), "tool version %q", r.Tool.Version)
			assert.Equal(t, img.Manifest.Digest, r.Subject)
			want := []scan.Finding{
				{ID: clamdtest.EICARSignature, Path: "opt/link", Layer: layers[0].Desc.Digest.String()},
				{ID: clamdtest.MarkerSignature, Path: "srv/big.bin", Layer: layers[1].Desc.Digest.String()},
				{ID: clamdtest.EICARSignature, Path: "usr/share/eicar.com", Layer: layers[1].Desc.Digest.String()},
			}
			var got []scan.Finding
			for _, f := range r.Findings {
				assert.Equal(t, scan.SeverityCritical, f.Severity)
				got = append(got, scan.Finding{ID: f.ID, Path: f.Path, Layer: f.Layer})
			}
			assert.ElementsMatch(t, want, got)
			data, err := r.SARIF()
			require.NoError(t, err)
			assert.NoError(t, scan.ValidateSARIF(data))
		})
	}
}

func TestScanClean(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{})
	// A bare socket path works as well as unix://.
	s := newScanner(t, clamav.Options{Address: strings.TrimPrefix(srv.Address, "unix://")})
	img := pushImage(t, imagetest.Layer(file("etc/hostname", []byte("clean\n")), file("bin/sh", imagetest.Random(3, 200<<10))))
	r, err := s.Scan(context.Background(), img)
	require.NoError(t, err)
	assert.Empty(t, r.Findings)
	v, err := s.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v.Engine, r.Tool.Version)
	assert.Equal(t, v.Database, r.Tool.DatabaseVersion)
	assert.NoError(t, s.Ping(context.Background()))
}

func TestOversize(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{StreamMaxLength: 1 << 20})
	img := pushImage(t, imagetest.Layer(file("big", imagetest.Random(4, 2<<20)), file("eicar", clamdtest.EICAR())))
	ctx := context.Background()

	t.Run("fail by default", func(t *testing.T) {
		s := newScanner(t, clamav.Options{Address: srv.Address, StreamMaxLength: 1 << 20})
		r, err := s.Scan(ctx, img)
		assert.Nil(t, r)
		require.ErrorIs(t, err, scan.ErrScanFailed)
		var se *clamav.ScanError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "big", se.Path)
	})
	t.Run("server limit lower than ours", func(t *testing.T) {
		// The client thinks 25 MiB is fine; clamd refuses at 1 MiB: the
		// "INSTREAM size limit exceeded" reply must fail the scan.
		s := newScanner(t, clamav.Options{Address: srv.Address})
		r, err := s.Scan(ctx, img)
		assert.Nil(t, r, "a refused file must never give a clean report")
		require.ErrorIs(t, err, scan.ErrScanFailed)
		assert.Contains(t, err.Error(), "size limit")
	})
	t.Run("report", func(t *testing.T) {
		s := newScanner(t, clamav.Options{Address: srv.Address, StreamMaxLength: 1 << 20, Oversize: clamav.OversizeReport})
		r, err := s.Scan(ctx, img)
		require.NoError(t, err)
		ids := map[string]string{}
		for _, f := range r.Findings {
			ids[f.Path] = f.ID
		}
		assert.Equal(t, map[string]string{"big": clamav.OversizeFindingID, "eicar": clamdtest.EICARSignature}, ids)
	})
	t.Run("skip unsafe", func(t *testing.T) {
		s := newScanner(t, clamav.Options{Address: srv.Address, StreamMaxLength: 1 << 20, Oversize: clamav.OversizeSkipUnsafe})
		r, err := s.Scan(ctx, img)
		require.NoError(t, err)
		require.Len(t, r.Findings, 1)
		assert.Equal(t, "eicar", r.Findings[0].Path)
	})
	t.Run("ScanReader", func(t *testing.T) {
		s := newScanner(t, clamav.Options{Address: srv.Address})
		res, err := s.ScanReader(ctx, bytes.NewReader(clamdtest.EICAR()))
		require.NoError(t, err)
		assert.Equal(t, clamav.Result{Found: true, Signature: clamdtest.EICARSignature}, res)
		_, err = s.ScanReader(ctx, bytes.NewReader(make([]byte, 3<<20)))
		assert.ErrorIs(t, err, scan.ErrScanFailed)
		s2 := newScanner(t, clamav.Options{Address: srv.Address, StreamMaxLength: 100})
		_, err = s2.ScanReader(ctx, bytes.NewReader(make([]byte, 101)))
		assert.ErrorIs(t, err, scan.ErrScanFailed)
	})
}

func TestScanHostileImageFailsClosed(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{})
	s := newScanner(t, clamav.Options{Address: srv.Address, Walk: imagefs.WalkOptions{MaxTotalBytes: 1 << 20}})
	bomb := imagetest.Layer(file("zeros", make([]byte, 4<<20)))
	_, err := s.Scan(context.Background(), pushImage(t, bomb))
	assert.ErrorIs(t, err, scan.ErrScanFailed)
	assert.ErrorIs(t, err, imagefs.ErrLimitExceeded)
}

func TestConformance(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{})
	s := newScanner(t, clamav.Options{Address: srv.Address})
	img, _ := infected(t)
	scantest.Run(t, s, scantest.Options{Kind: artifact.ReportKindMalware})
	scantest.Run(t, s, scantest.Options{Kind: artifact.ReportKindMalware, Image: img, Check: func(t *testing.T, r *scan.Report) {
		assert.Len(t, r.Findings, 3)
	}})
}

func TestRegistries(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{})
	s := newScanner(t, clamav.Options{Address: srv.Address})
	for _, kind := range registrytest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind)
			repo := reg.Repository(t, "quarantine/app")
			desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(file("eicar.com", clamdtest.EICAR()))}}.Push(context.Background(), repo)
			require.NoError(t, err)
			r, err := s.Scan(context.Background(), &scan.Image{Repository: repo, Manifest: desc})
			require.NoError(t, err)
			require.Len(t, r.Findings, 1)
			assert.Equal(t, "eicar.com", r.Findings[0].Path)
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, addr := range []string{"", "http://x", "tcp://", "tcp://host", "unix://", "::"} {
		_, err := clamav.New(clamav.Options{Address: addr})
		assert.Error(t, err, "address %q", addr)
	}
	_, err := clamav.New(clamav.Options{Address: "/run/clamd.sock", Oversize: 7})
	assert.Error(t, err)
	for _, addr := range []string{"/run/clamd.sock", "unix:///run/clamd.sock", "tcp://127.0.0.1:3310"} {
		_, err := clamav.New(clamav.Options{Address: addr})
		assert.NoError(t, err, "address %q", addr)
	}
}

func TestUnreachable(t *testing.T) {
	s := newScanner(t, clamav.Options{Address: "unix://" + t.TempDir() + "/nothing.sock", DialTimeout: time.Second})
	img := pushImage(t, imagetest.Layer(file("a", []byte("a"))))
	_, err := s.Scan(context.Background(), img)
	assert.ErrorIs(t, err, scan.ErrScanFailed)
	assert.Error(t, s.Ping(context.Background()))
	_, err = s.Scan(context.Background(), nil)
	assert.ErrorIs(t, err, scan.ErrNoImage)
}

// TestClamdLimitsNotSilent: with AlertExceedsMax, clamd's own limits
// become detections, so an unscanned file never reads as clean.
func TestClamdLimitsNotSilent(t *testing.T) {
	srv := clamdtest.Start(t, clamdtest.Options{Extra: []string{"AlertExceedsMax yes", "MaxFileSize 1K", "MaxScanSize 1K"}})
	s := newScanner(t, clamav.Options{Address: srv.Address})
	r, err := s.Scan(context.Background(), pushImage(t, imagetest.Layer(file("big.txt", []byte(strings.Repeat("x", 4096))))))
	require.NoError(t, err, "clamd log:\n%s", srv.Log())
	require.Len(t, r.Findings, 1)
	assert.True(t, strings.HasPrefix(r.Findings[0].ID, "Heuristics.Limits.Exceeded"), "finding %q", r.Findings[0].ID)
	assert.Equal(t, "big.txt", r.Findings[0].Path)
}
