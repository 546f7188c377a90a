package scalibr

import (
	"bytes"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// memFS is a read-only, in-memory filesystem over the few files the
// deferred extractors need (package databases, os-release) plus the symbolic
// links seen during the walk, so that etc/os-release -> ../usr/lib/os-release
// resolves. It implements scalibr's fs.FS (fs.FS, fs.ReadDirFS, fs.StatFS).
// Directories are implied by the paths of the files and links it holds.
type memFS struct {
	files map[string]*memFile
	links map[string]string
	dirs  map[string]map[string]bool // dir -> child names
}

type memFile struct {
	name string
	data []byte
	mode fs.FileMode
}

func newMemFS() *memFS {
	return &memFS{
		files: map[string]*memFile{},
		links: map[string]string{},
		dirs:  map[string]map[string]bool{".": {}},
	}
}

func (m *memFS) addParents(p string) {
	for p != "." {
		dir := path.Dir(p)
		kids := m.dirs[dir]
		if kids == nil {
			kids = map[string]bool{}
			m.dirs[dir] = kids
		}
		kids[path.Base(p)] = true
		p = dir
	}
}

func (m *memFS) addFile(p string, data []byte, mode fs.FileMode) {
	m.files[p] = &memFile{name: path.Base(p), data: data, mode: mode.Perm()}
	m.addParents(p)
}

func (m *memFS) addLink(p, target string) {
	m.links[p] = target
	m.addParents(p)
}

func (m *memFS) addDir(p string) {
	if m.dirs[p] == nil {
		m.dirs[p] = map[string]bool{}
	}
	m.addParents(p)
}

// maxLinkHops bounds symbolic link resolution (as Linux's 40).
const maxLinkHops = 40

// resolve follows symbolic links in every component of name, staying inside
// the root: absolute targets are taken relative to the root and ".." never
// climbs above it.
func (m *memFS) resolve(name string) (string, error) {
	if len(m.links) == 0 {
		return name, nil
	}
	hops := 0
	parts := strings.Split(name, "/")
	cur := "."
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		target, isLink := m.links[next]
		if !isLink {
			cur = next
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", fs.ErrInvalid
		}
		var joined string
		if strings.HasPrefix(target, "/") {
			joined = path.Clean(strings.TrimLeft(target, "/"))
		} else {
			joined = path.Join(cur, target)
		}
		// Keep ".." from escaping the root.
		for joined == ".." || strings.HasPrefix(joined, "../") {
			joined = strings.TrimPrefix(strings.TrimPrefix(joined, ".."), "/")
		}
		if joined == "" {
			joined = "."
		}
		rest := parts[i+1:]
		parts = append(strings.Split(joined, "/"), rest...)
		cur = "."
		i = -1
	}
	return cur, nil
}

func (m *memFS) lookup(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p, err := m.resolve(name)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return p, nil
}

// Open opens the named file or directory.
func (m *memFS) Open(name string) (fs.File, error) {
	p, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if f, ok := m.files[p]; ok {
		return &openFile{memFile: f, r: bytes.NewReader(f.data)}, nil
	}
	if _, ok := m.dirs[p]; ok {
		return &openDir{fs: m, path: p}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Stat returns information about the named file or directory.
func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	p, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	if f, ok := m.files[p]; ok {
		return fileInfo{name: f.name, size: int64(len(f.data)), mode: f.mode}, nil
	}
	if _, ok := m.dirs[p]; ok {
		return fileInfo{name: path.Base(p), mode: fs.ModeDir | 0o755}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// ReadDir lists the named directory, sorted by name.
func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := m.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	kids, ok := m.dirs[p]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	names := make([]string, 0, len(kids))
	for k := range kids {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		child := path.Join(p, n)
		var fi fileInfo
		switch {
		case m.files[child] != nil:
			f := m.files[child]
			fi = fileInfo{name: n, size: int64(len(f.data)), mode: f.mode}
		case m.links[child] != "":
			fi = fileInfo{name: n, mode: fs.ModeSymlink | 0o777}
		default:
			fi = fileInfo{name: n, mode: fs.ModeDir | 0o755}
		}
		out = append(out, fs.FileInfoToDirEntry(fi))
	}
	return out, nil
}

type openFile struct {
	*memFile
	r *bytes.Reader
}

func (f *openFile) Stat() (fs.FileInfo, error) {
	return fileInfo{name: f.name, size: int64(len(f.data)), mode: f.mode}, nil
}
func (f *openFile) Read(b []byte) (int, error)                { return f.r.Read(b) }
func (f *openFile) ReadAt(b []byte, off int64) (int, error)   { return f.r.ReadAt(b, off) }
func (f *openFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
func (f *openFile) Close() error                              { return nil }

type openDir struct {
	fs      *memFS
	path    string
	entries []fs.DirEntry
	loaded  bool
	off     int
}

func (d *openDir) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(d.path), mode: fs.ModeDir | 0o755}, nil
}
func (d *openDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: fs.ErrInvalid}
}
func (d *openDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *openDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.loaded {
		entries, err := d.fs.ReadDir(d.path)
		if err != nil {
			return nil, err
		}
		d.entries, d.loaded = entries, true
	}
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}

// fileInfo is a minimal fs.FileInfo.
type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }
