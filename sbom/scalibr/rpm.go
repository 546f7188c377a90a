package scalibr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/sbom"
)

// needsRealFile reports whether e opens its file by path instead of reading
// ScanInput.Reader: osv-scalibr's rpm extractor hands the path to go-rpmdb,
// which opens SQLite, Berkeley DB and NDB databases itself.
func needsRealFile(e filesystem.Extractor) bool {
	return e.Name() == rpm.Name
}

// spool copies the file f, read from r, to a new file under the generator's
// temporary directory for the extractors exs, records it as pending and
// returns the copy opened at its start (for the other extractors that may
// want the same file). It returns nil and no error when the file is
// skipped (too large, with a warning; or a hard link without content).
// The copy is capped by MaxFileSize; an error reading the image or writing
// the copy is returned.
func (g *generator) spool(f *imagefs.File, r io.Reader, exs []filesystem.Extractor) (*os.File, error) {
	layer := f.LayerDigest.String()
	if f.Size > g.maxFile {
		g.skip(f.Path, layer, exs[0].Name(), fmt.Errorf("file of %d bytes exceeds the %d-byte limit", f.Size, g.maxFile))
		return nil, nil
	}
	rel := filepath.FromSlash(f.Path)
	if !filepath.IsLocal(rel) {
		g.skip(f.Path, layer, exs[0].Name(), errors.New("path not local"))
		return nil, nil
	}
	tmp, err := g.tempDir(f.Path)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(tmp, strconv.Itoa(g.spooled))
	g.spooled++
	dst := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, fmt.Errorf("sbom/scalibr: copy %s: %w", f.Path, err)
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sbom/scalibr: copy %s: %w", f.Path, err)
	}
	n, err := io.Copy(out, io.LimitReader(r, f.Size))
	if err == nil {
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			err = fmt.Errorf("sbom/scalibr: more content than the declared %d bytes", f.Size)
		}
	}
	if err == nil {
		_, err = out.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("sbom/scalibr: copy %s: %w", f.Path, err)
	}
	if f.Hardlink && n == 0 && f.Size > 0 {
		_ = out.Close()
		return nil, nil
	}
	g.pending = append(g.pending, pendingFile{path: f.Path, layer: layer, root: root, size: n, mode: f.Mode, extractors: exs})
	return out, nil
}

// extractOnDisk runs the extractors of a spooled file on its copy, with
// the in-memory FS (os-release) as ScanInput.FS.
func (g *generator) extractOnDisk(ctx context.Context, p pendingFile) {
	real := filepath.Join(p.root, filepath.FromSlash(p.path))
	info := fileInfo{name: filepath.Base(real), size: p.size, mode: p.mode}
	for _, e := range p.extractors {
		fh, err := os.Open(real)
		if err != nil {
			g.warn(Warning{Path: p.path, Layer: p.layer, Extractor: e.Name(), Err: err})
			continue
		}
		input := &filesystem.ScanInput{FS: g.mem, Path: p.path, Root: p.root, Info: info, Reader: fh}
		pkgs, err := safeExtract(ctx, e, input)
		_ = fh.Close()
		if err != nil {
			g.warn(Warning{Path: p.path, Layer: p.layer, Extractor: e.Name(), Err: err})
		}
		for _, pkg := range pkgs {
			g.found = append(g.found, found{pkg: pkg, path: p.path, layer: p.layer})
		}
	}
}

// tempDir returns the generator's private temporary directory (mode 0700),
// creating it on first use; forPath names the file that needs it, for the
// error.
func (g *generator) tempDir(forPath string) (string, error) {
	g.tmpMu.Lock()
	defer g.tmpMu.Unlock()
	if g.tmpDir == "" {
		dir, err := os.MkdirTemp(g.opts.TempDir, "cssc-sbom-")
		if err != nil {
			return "", fmt.Errorf("sbom/scalibr: temporary directory for %s: %w", forPath, err)
		}
		g.tmpDir = dir
	}
	return g.tmpDir, nil
}

// removeTemp removes the temporary directory, if one was created.
func (g *generator) removeTemp() {
	if g.tmpDir == "" {
		return
	}
	if err := os.RemoveAll(g.tmpDir); err != nil {
		g.log.Warn("sbom: cannot remove temporary directory", "dir", g.tmpDir, "err", err)
	}
	g.tmpDir = ""
}

// splitSourceRPM returns the name and version-release of a source rpm file
// name ("chkconfig-1.20-2.el9.src.rpm" -> "chkconfig", "1.20-2.el9"), or
// empty strings if it is not one.
func splitSourceRPM(s string) (name, version string) {
	s, ok := strings.CutSuffix(s, ".rpm")
	if !ok {
		return "", ""
	}
	if t, ok := strings.CutSuffix(s, ".nosrc"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, ".src")
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", ""
	}
	j := strings.LastIndexByte(s[:i], '-')
	if j <= 0 || i == len(s)-1 || j == i-1 {
		return "", ""
	}
	return s[:j], s[j+1:]
}

// rpmEcosystem returns the OSV ecosystem of an rpm package: the one
// package sbom derives from the purl (namespace and distro qualifier, e.g.
// "Rocky Linux:9", "AlmaLinux:9", "Red Hat:9") when it has a release, else
// osv-scalibr's (e.g. "openSUSE:Leap 15.5", "SUSE:15.5", "Mageia:9", or a
// bare "Red Hat"), else whatever package sbom gives ("" for distributions
// OSV does not cover, such as Fedora or CentOS).
func rpmEcosystem(purl string, p *extractor.Package) string {
	eco := sbom.Ecosystem(purl)
	if strings.Contains(eco, ":") {
		return eco
	}
	if s := p.Ecosystem().String(); s != "" {
		return s
	}
	return eco
}
