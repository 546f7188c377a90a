package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cssc-go/cssc/scan"
)

// Errors returned by Load and LoadFS, for errors.Is.
var (
	// ErrCorruptArchive is wrapped when a zip archive cannot be read: not a
	// zip, truncated, a bad checksum, an unsupported compression method.
	// A corrupt archive fails the load: skipping it would give a database
	// that silently lacks a whole ecosystem.
	ErrCorruptArchive = errors.New("corrupt osv archive")
	// ErrLimitExceeded is wrapped when MaxRecords or MaxTotalSize is
	// reached.
	ErrLimitExceeded = errors.New("osv database limit exceeded")
)

// Load reads an offline OSV database from path and indexes it.
//
// path may be:
//
//   - a directory, walked recursively in lexical order (entries whose name
//     starts with "." are skipped, symbolic links are not followed). Every
//     "*.json" file in it is one OSV record: this covers osv.dev's
//     per-ecosystem bucket layout (<ecosystem>/<ID>.json) and
//     advisory-database checkouts. Every "*.zip" file in it is an archive
//     of records, such as osv.dev's per-ecosystem export stored as
//     <ecosystem>/all.zip (Debian/all.zip, Go/all.zip) or renamed
//     <ecosystem>-all.zip (Debian-all.zip); every "*.json" entry of the
//     archive is one record. Directories and archives may be mixed.
//     Other files are ignored;
//   - a single "*.zip" archive or "*.json" record.
//
// Records that are malformed, larger than Options.MaxRecordSize, withdrawn,
// or only about ecosystems without version rules are skipped, logged (see
// Options.Logger) and counted in [DB.Stats]. A zip archive that cannot be
// read is an error wrapping [ErrCorruptArchive]; exceeding
// Options.MaxRecords or Options.MaxTotalSize is an error wrapping
// [ErrLimitExceeded]. Archives are read entry by entry and never held in
// memory whole.
func Load(ctx context.Context, path string, opts Options) (*DB, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("osv: %w", err)
	}
	if st.IsDir() {
		return load(ctx, os.DirFS(path), ".", opts)
	}
	return load(ctx, os.DirFS(filepath.Dir(path)), filepath.Base(path), opts)
}

// LoadFS is like [Load] but reads the database from the root of fsys. Zip
// archives in fsys must be opened as files that implement io.ReaderAt
// (os.DirFS, embed.FS and fstest.MapFS files do).
func LoadFS(ctx context.Context, fsys fs.FS, opts Options) (*DB, error) {
	return load(ctx, fsys, ".", opts)
}

// loader holds the state of one load.
type loader struct {
	opts    Options
	fsys    fs.FS
	allowed map[string]bool // nil: all

	warnMu sync.Mutex
	warned int

	// Counted by the producer only.
	files, inputs int
	declared      int64
}

// input is one record document to read and parse: a file of fsys, or an
// entry of a zip archive.
type input struct {
	seq      int
	path     string
	size     int64 // declared size
	zf       *zip.File
	oversize bool
}

// outcome is what a worker made of an input.
type outcome struct {
	seq      int
	path     string
	size     int64
	sum      [sha256.Size]byte // of the content; zero if not read
	v        *vuln
	modified time.Time
	skip     skipKind
	err      error    // why the record was skipped
	fatal    error    // the load must fail (corrupt archive, I/O error)
	unknown  []string // unknown ecosystems seen
}

type skipKind uint8

const (
	skipNone skipKind = iota
	skipMalformed
	skipWithdrawn
	skipUnknownEcosystem
	skipUnmatchable
	skipFiltered
	skipOversized
)

func load(ctx context.Context, fsys fs.FS, root string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	l := &loader{opts: opts, fsys: fsys}
	if len(opts.Ecosystems) > 0 {
		l.allowed = make(map[string]bool, len(opts.Ecosystems))
		for _, e := range opts.Ecosystems {
			l.allowed[ecosystemBase(e)] = true
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	inputs := make(chan input, 4*opts.Workers)
	outcomes := make(chan outcome, 4*opts.Workers)
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	g.Go(func() error {
		defer close(inputs)
		return l.produce(gctx, root, inputs, &closers)
	})
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			return l.work(gctx, inputs, outcomes)
		})
	}
	go func() { wg.Wait(); close(outcomes) }()

	db := &DB{index: make(map[key][]*entry), logger: opts.Logger, now: opts.Now, maxWarn: opts.MaxWarnings}
	if db.now == nil {
		db.now = time.Now
	}
	byID, unknown, sums := l.collect(db, outcomes)
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	db.build(byID, unknown)
	db.stats.Files = l.files
	db.stats.Inputs = l.inputs
	db.stamp(sums)
	db.logLoaded(opts)
	return db, nil
}

// withDefaults returns o with every zero limit set to its default.
func (o Options) withDefaults() Options {
	if o.MaxRecordSize <= 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxTotalSize <= 0 {
		o.MaxTotalSize = DefaultMaxTotalSize
	}
	if o.MaxWarnings <= 0 {
		o.MaxWarnings = DefaultMaxWarnings
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// sumEntry is what the database version hashes of one input.
type sumEntry struct {
	path string
	size int64
	sum  [sha256.Size]byte
}

// collect reads the workers' outcomes until the channel closes: it counts
// skipped records in db's stats and returns the records kept (the newest
// of each id), the unknown ecosystems seen and, in input order, what the
// database version hashes.
func (l *loader) collect(db *DB, outcomes <-chan outcome) (map[string]*vuln, map[string]bool, []sumEntry) {
	byID := make(map[string]*vuln)
	unknown := make(map[string]bool)
	var sums []sumEntry
	for o := range outcomes {
		for len(sums) < o.seq {
			sums = append(sums, sumEntry{})
		}
		sums[o.seq-1] = sumEntry{o.path, o.size, o.sum}
		if o.skip != skipOversized {
			db.stats.Bytes += o.size
		}
		if o.modified.After(db.modified) {
			db.modified = o.modified
		}
		for _, u := range o.unknown {
			unknown[u] = true
		}
		if l.skipped(db, o) {
			continue
		}
		o.v.sum = o.sum
		if old, ok := byID[o.v.id]; ok {
			db.stats.Duplicates++
			if old.modified.After(o.v.modified) || (old.modified.Equal(o.v.modified) && old.seq > o.v.seq) {
				continue
			}
		}
		byID[o.v.id] = o.v
	}
	return byID, unknown, sums
}

// skipped counts a skipped outcome in db's stats, with a warning where one
// is due, and reports whether o was skipped.
func (l *loader) skipped(db *DB, o outcome) bool {
	switch o.skip {
	case skipNone:
		return false
	case skipOversized:
		db.stats.Oversized++
		l.warn("osv: skipping oversized record", "path", o.path, "size", o.size, "limit", l.opts.MaxRecordSize)
	case skipMalformed:
		db.stats.Malformed++
		l.warn("osv: skipping malformed record", "path", o.path, "error", o.err)
	case skipWithdrawn:
		db.stats.Withdrawn++
	case skipUnknownEcosystem:
		db.stats.UnknownEcosystem++
		l.warn("osv: skipping record with unknown ecosystem", "path", o.path, "ecosystems", o.unknown)
	case skipUnmatchable:
		db.stats.Unmatchable++
	case skipFiltered:
		db.stats.Filtered++
	}
	return true
}

// build indexes the records kept and records up to 100 unknown ecosystems.
func (db *DB) build(byID map[string]*vuln, unknown map[string]bool) {
	for _, v := range byID {
		db.stats.Records++
		for _, e := range v.entries {
			k := key{e.eco, normalizeName(e.base, e.name)}
			db.index[k] = append(db.index[k], e)
			db.stats.Entries++
		}
	}
	db.sortIndex()
	for u := range unknown {
		if len(db.stats.UnknownEcosystems) == 100 {
			break
		}
		db.stats.UnknownEcosystems = append(db.stats.UnknownEcosystems, u)
	}
	slices.Sort(db.stats.UnknownEcosystems)
}

// stamp sets the database digest (over every input's path, size and
// content hash, in input order) and version (newest modification time and
// digest).
func (db *DB) stamp(sums []sumEntry) {
	h := sha256.New()
	var buf []byte
	for _, e := range sums {
		buf = append(buf[:0], e.path...)
		buf = append(buf, 0)
		buf = strconv.AppendInt(buf, e.size, 10)
		buf = append(buf, 0)
		buf = append(buf, e.sum[:]...)
		h.Write(buf)
	}
	db.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if db.modified.IsZero() {
		db.version = "empty/" + db.digest
	} else {
		db.version = db.modified.UTC().Format(time.RFC3339) + "/" + db.digest
	}
}

// logLoaded logs what was loaded and skipped.
func (db *DB) logLoaded(opts Options) {
	lg := opts.Logger
	if lg == nil {
		return
	}
	s := db.stats
	lg.Info("osv: database loaded", "version", db.version, "records", s.Records, "entries", s.Entries,
		"inputs", s.Inputs, "malformed", s.Malformed, "oversized", s.Oversized, "withdrawn", s.Withdrawn,
		"unknownEcosystem", s.UnknownEcosystem, "unmatchable", s.Unmatchable, "duplicates", s.Duplicates)
	if skipped := s.Malformed + s.Oversized + s.UnknownEcosystem; skipped > opts.MaxWarnings {
		lg.Warn("osv: more records were skipped than were logged", "skipped", skipped, "logged", opts.MaxWarnings)
	}
}

// warn logs a load warning, up to MaxWarnings of them.
func (l *loader) warn(msg string, args ...any) {
	if l.opts.Logger == nil {
		return
	}
	l.warnMu.Lock()
	l.warned++
	n := l.warned
	l.warnMu.Unlock()
	if n <= l.opts.MaxWarnings {
		l.opts.Logger.Warn(msg, args...)
	}
}

// produce walks the inputs in a fixed order (lexical paths, then archive
// order) and hands them to the workers, which read, hash and parse them.
// Zip archives stay open until the load ends; they are added to closers.
func (l *loader) produce(ctx context.Context, root string, out chan<- input, closers *[]io.Closer) error {
	seq := 0
	send := func(in input) error {
		l.inputs++
		if l.inputs > l.opts.MaxRecords {
			return fmt.Errorf("osv: %w: more than %d records", ErrLimitExceeded, l.opts.MaxRecords)
		}
		if n := in.size; n > 0 && !in.oversize {
			if l.declared > math.MaxInt64-n || l.declared+n > l.opts.MaxTotalSize {
				return fmt.Errorf("osv: %w: more than %d bytes", ErrLimitExceeded, l.opts.MaxTotalSize)
			}
			l.declared += n
		}
		seq++
		in.seq = seq
		select {
		case out <- in:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fs.WalkDir(l.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("osv: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if p != root && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		switch strings.ToLower(path.Ext(name)) {
		case ".json":
			l.files++
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("osv: %w", err)
			}
			return send(input{path: p, size: info.Size(), oversize: info.Size() > l.opts.MaxRecordSize})
		case ".zip":
			l.files++
			return l.produceZip(ctx, p, send, closers)
		}
		return nil
	})
}

// produceZip opens a zip archive and sends its JSON entries, in archive
// order.
func (l *loader) produceZip(ctx context.Context, p string, send func(input) error, closers *[]io.Closer) error {
	f, err := l.fsys.Open(p)
	if err != nil {
		return fmt.Errorf("osv: %w", err)
	}
	*closers = append(*closers, f)
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("osv: %w", err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return fmt.Errorf("osv: %s: %w: file does not support random access", p, ErrCorruptArchive)
	}
	zr, err := zip.NewReader(ra, st.Size())
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return fmt.Errorf("osv: %s: %w: %v", p, ErrCorruptArchive, err)
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(path.Ext(zf.Name), ".json") {
			continue
		}
		size := int64(min(zf.UncompressedSize64, math.MaxInt64))
		in := input{path: p + "!" + zf.Name, size: size, zf: zf, oversize: zf.UncompressedSize64 > uint64(l.opts.MaxRecordSize)}
		if err := send(in); err != nil {
			return err
		}
	}
	return nil
}

// read returns the content of an input, capped at MaxRecordSize.
func (l *loader) read(in input) (data []byte, oversize bool, err error) {
	switch {
	case in.zf != nil:
		rc, err := in.zf.Open()
		if err != nil {
			return nil, false, fmt.Errorf("osv: %s: %w: %v", in.path, ErrCorruptArchive, err)
		}
		defer rc.Close()
		data, over, err := readCapped(rc, l.opts.MaxRecordSize, in.size)
		if err != nil {
			return nil, false, fmt.Errorf("osv: %s: %w: %v", in.path, ErrCorruptArchive, err)
		}
		if over {
			return nil, false, fmt.Errorf("osv: %s: %w: entry larger than its declared size", in.path, ErrCorruptArchive)
		}
		return data, false, nil
	default:
		f, err := l.fsys.Open(in.path)
		if err != nil {
			return nil, false, fmt.Errorf("osv: %w", err)
		}
		defer f.Close()
		data, over, err := readCapped(f, l.opts.MaxRecordSize, in.size)
		if err != nil {
			return nil, false, fmt.Errorf("osv: read %s: %w", in.path, err)
		}
		return data, over, nil
	}
}

// readCapped reads r to the end, or until more than max bytes have been
// read (over is then true and data nil). hint is the expected size.
func readCapped(r io.Reader, max, hint int64) (data []byte, over bool, err error) {
	if hint < 0 || hint > max {
		hint = max
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		return nil, false, err
	}
	if int64(buf.Len()) > max {
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}

// work reads, hashes and parses inputs. A read error of an archive entry
// ends the load.
func (l *loader) work(ctx context.Context, in <-chan input, out chan<- outcome) error {
	supported := make(map[string]bool)
	for it := range in {
		var o outcome
		if it.oversize {
			o = outcome{seq: it.seq, path: it.path, size: it.size, skip: skipOversized}
		} else {
			data, over, err := l.read(it)
			switch {
			case err != nil:
				return err
			case over:
				o = outcome{seq: it.seq, path: it.path, size: it.size, skip: skipOversized}
			default:
				o = l.convert(it, data, supported)
				o.size = int64(len(data))
				o.sum = sha256.Sum256(data)
			}
		}
		select {
		case out <- o:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// convert turns the content of one input into an outcome.
func (l *loader) convert(it input, data []byte, supported map[string]bool) outcome {
	o := outcome{seq: it.seq, path: it.path}
	r, err := parseRecord(data)
	if err != nil {
		o.skip, o.err = skipMalformed, err
		return o
	}
	o.modified = r.modified
	if r.withdrawn {
		o.skip = skipWithdrawn
		return o
	}
	v := &vuln{
		id:       r.ID,
		aliases:  slices.Compact(slices.Sorted(slices.Values(r.Aliases))),
		summary:  r.Summary,
		modified: r.modified,
		seq:      it.seq,
	}
	v.aliases = slices.DeleteFunc(v.aliases, func(a string) bool { return a == r.ID })
	if len(v.aliases) == 0 {
		v.aliases = nil
	}
	v.severity, v.cvss = recordSeverity(r.Severity, textSeverity(r.DatabaseSpecific))
	var sawUnknown, sawFiltered bool
	for i := range r.Affected {
		a := &r.Affected[i]
		eco, name := strings.TrimSpace(a.Package.Ecosystem), strings.TrimSpace(a.Package.Name)
		if eco == "" || name == "" {
			continue
		}
		base := ecosystemBase(eco)
		ok, seen := supported[base]
		if !seen {
			ok = supportedEcosystem(base)
			supported[base] = ok
		}
		if !ok {
			sawUnknown = true
			if !slices.Contains(o.unknown, eco) && len(o.unknown) < 8 {
				o.unknown = append(o.unknown, eco)
			}
			continue
		}
		if l.allowed != nil && !l.allowed[base] {
			sawFiltered = true
			continue
		}
		if e := affectedEntry(v, eco, base, name, a); e != nil {
			v.entries = append(v.entries, e)
		}
	}
	switch {
	case len(v.entries) > 0:
		o.v = v
	case sawUnknown:
		o.skip = skipUnknownEcosystem
	case sawFiltered:
		o.skip = skipFiltered
	default:
		o.skip = skipUnmatchable
	}
	return o
}

// affectedEntry is the index entry of the affected package a (ecosystem
// eco, whose base is base, and name name) of v: its SEMVER and ECOSYSTEM
// ranges, its versions and its severity (the package's own, else v's). It
// returns nil when a lists no range or version cssc can match.
func affectedEntry(v *vuln, eco, base, name string, a *affectedJSON) *entry {
	e := &entry{vuln: v, eco: eco, base: base, name: name}
	for _, rg := range a.Ranges {
		if rr, ok := convertRange(base, name, rg); ok {
			e.ranges = append(e.ranges, rr)
		}
	}
	for _, ver := range a.Versions {
		if ver = canonicalVersion(base, name, ver); ver != "" {
			e.versions = append(e.versions, ver)
		}
	}
	if len(e.ranges) == 0 && len(e.versions) == 0 {
		return nil
	}
	e.severity, e.cvss = v.severity, v.cvss
	if len(a.Severity) > 0 || len(a.EcosystemSpecific) > 0 || len(a.DatabaseSpecific) > 0 {
		text := textSeverity(a.EcosystemSpecific)
		if text == "" {
			text = textSeverity(a.DatabaseSpecific)
		}
		if s, c := recordSeverity(a.Severity, text); s != scan.SeverityUnknown {
			e.severity, e.cvss = s, c
		}
	}
	return e
}

// convertRange converts a SEMVER or ECOSYSTEM range with canonical
// versions; it reports false for other types (GIT ranges need the
// repository; versions lists cover them) and for a range without events.
func convertRange(base, name string, rg rangeJSON) (rawRange, bool) {
	var semver bool
	switch strings.ToUpper(rg.Type) {
	case "SEMVER":
		semver = true
	case "ECOSYSTEM":
	default:
		return rawRange{}, false
	}
	rr := rawRange{semver: semver, events: make([]rawEvent, 0, len(rg.Events))}
	for _, ev := range rg.Events {
		switch {
		case ev.Introduced != nil:
			rr.events = append(rr.events, rawEvent{evIntroduced, canonicalVersion(base, name, *ev.Introduced)})
		case ev.Fixed != nil:
			rr.events = append(rr.events, rawEvent{evFixed, canonicalVersion(base, name, *ev.Fixed)})
		case ev.LastAffected != nil:
			rr.events = append(rr.events, rawEvent{evLastAffected, canonicalVersion(base, name, *ev.LastAffected)})
		case ev.Limit != nil:
			rr.events = append(rr.events, rawEvent{evLimit, canonicalVersion(base, name, *ev.Limit)})
		}
	}
	return rr, len(rr.events) > 0
}

// recordSeverity derives a severity and CVSS base score from OSV severity
// entries (CVSS v3.x vectors first, then CVSS v2; CVSS v4 vectors are not
// scored) and, failing those, from a textual severity ("HIGH",
// "moderate", an "Ubuntu" severity entry).
func recordSeverity(sevs []severity, text string) (scan.Severity, float64) {
	var best float64
	var bestRank int // 3: v3.1, 2: v3.0, 1: v2
	for _, s := range sevs {
		score := strings.TrimSpace(s.Score)
		switch strings.ToUpper(s.Type) {
		case "CVSS_V3":
			f, err := cvss3BaseScore(score)
			if err != nil {
				continue
			}
			rank := 2
			if strings.HasPrefix(score, "CVSS:3.1/") {
				rank = 3
			}
			if rank > bestRank || (rank == bestRank && f > best) {
				best, bestRank = f, rank
			}
		case "CVSS_V2":
			f, err := cvss2BaseScore(score)
			if err != nil || bestRank > 1 {
				continue
			}
			if bestRank < 1 || f > best {
				best, bestRank = f, 1
			}
		case "UBUNTU":
			if text == "" {
				text = score
			}
		}
	}
	if bestRank > 0 {
		if s := scan.SeverityFromCVSS(best); s != scan.SeverityUnknown {
			return s, best
		}
		// A base score of 0.0 ("None"): no impact, but still a finding.
		if text == "" {
			return scan.SeverityLow, best
		}
	}
	if text != "" {
		if s, err := scan.ParseSeverity(text); err == nil {
			return s, best
		}
	}
	return scan.SeverityUnknown, best
}
