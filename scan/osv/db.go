package osv

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cssc-go/cssc/scan"
)

// Defaults for the zero values of [Options].
const (
	// DefaultMaxRecordSize is the default cap, in bytes, on one OSV record
	// (one JSON file or one zip entry): 4 MiB. Typical records are a few
	// KiB; the largest (advisories listing thousands of versions) are a few
	// hundred KiB.
	DefaultMaxRecordSize = 4 << 20
	// DefaultMaxRecords is the default cap on the number of records read:
	// 4,000,000, several times all of osv.dev.
	DefaultMaxRecords = 4_000_000
	// DefaultMaxTotalSize is the default cap, in bytes, on the total
	// uncompressed size of everything read: 32 GiB.
	DefaultMaxTotalSize = 32 << 30
	// DefaultMaxWarnings is the default number of skipped records logged
	// one by one before the rest are only counted: 100.
	DefaultMaxWarnings = 100
)

// Options configure [Load] and [LoadFS]. The zero value is ready to use.
type Options struct {
	// Logger receives a warning for each skipped record (malformed,
	// oversized, unknown ecosystem), up to MaxWarnings, and a summary at
	// the end of loading; and, during matching, warnings about versions
	// that cannot be parsed. Nil means silent.
	Logger *slog.Logger
	// MaxRecordSize caps the size in bytes of one record (a JSON file or
	// an uncompressed zip entry). Larger records are skipped with a
	// warning and counted in Stats.Oversized. If <= 0,
	// DefaultMaxRecordSize (4 MiB) is used.
	MaxRecordSize int64
	// MaxRecords caps the number of records (JSON files plus zip entries)
	// read. Reaching it is an error, never a silently partial database.
	// If <= 0, DefaultMaxRecords (4,000,000) is used.
	MaxRecords int
	// MaxTotalSize caps the total uncompressed bytes read. Reaching it is
	// an error. If <= 0, DefaultMaxTotalSize (32 GiB) is used.
	MaxTotalSize int64
	// MaxWarnings caps how many skipped records are logged one by one;
	// the rest are counted in Stats and summarised. If <= 0,
	// DefaultMaxWarnings (100) is used.
	MaxWarnings int
	// Ecosystems, if not empty, restricts the database to these base
	// ecosystems ("Debian", "Alpine", "Go", "npm", "PyPI", "Maven", ...):
	// affected entries of other ecosystems are dropped without warning and
	// records left with none are counted in Stats.Filtered. Nil or empty
	// means every ecosystem osv-scalibr's semantic package supports.
	Ecosystems []string
	// Workers is the number of goroutines parsing records. If <= 0,
	// runtime.GOMAXPROCS(0) is used.
	Workers int
	// Now returns the time stamped on reports. Nil means time.Now.
	Now func() time.Time
}

// Stats counts what loading a database read and skipped.
type Stats struct {
	// Files is the number of JSON files and zip archives opened.
	Files int `json:"files"`
	// Inputs is the number of record documents read: JSON files plus
	// JSON entries of zip archives.
	Inputs int `json:"inputs"`
	// Bytes is the total uncompressed size of the record documents read.
	Bytes int64 `json:"bytes"`
	// Records is the number of records indexed.
	Records int `json:"records"`
	// Entries is the number of (ecosystem, package) affected entries
	// indexed.
	Entries int `json:"entries"`
	// Withdrawn counts records ignored because they are withdrawn.
	Withdrawn int `json:"withdrawn"`
	// Malformed counts records skipped because they do not parse as OSV.
	Malformed int `json:"malformed"`
	// Oversized counts records skipped because they exceed MaxRecordSize.
	Oversized int `json:"oversized"`
	// UnknownEcosystem counts records skipped because none of their
	// affected packages is in an ecosystem with known version rules.
	UnknownEcosystem int `json:"unknownEcosystem"`
	// UnknownEcosystems lists, sorted, the ecosystems that were not
	// understood (at most 100).
	UnknownEcosystems []string `json:"unknownEcosystems,omitempty"`
	// Unmatchable counts records skipped because no affected entry has a
	// range or version list that can be evaluated offline (GIT-only
	// ranges, no affected packages).
	Unmatchable int `json:"unmatchable"`
	// Filtered counts records dropped by Options.Ecosystems.
	Filtered int `json:"filtered"`
	// Duplicates counts records whose id was seen more than once; the one
	// with the newest modified time is kept (on a tie, the one read last).
	Duplicates int `json:"duplicates"`
}

// DB is an offline OSV vulnerability database held in memory, indexed by
// (ecosystem, package name). It is safe for concurrent use: Match may be
// called from several goroutines.
type DB struct {
	index    map[key][]*entry
	version  string
	digest   string
	modified time.Time
	stats    Stats
	logger   *slog.Logger
	now      func() time.Time
	// warned limits match-time warnings about unparseable versions.
	warnMu  sync.Mutex
	warned  int
	maxWarn int
	// versions caches the versions parsed from range events.
	versions versionCache
}

// key is an index key: the ecosystem exactly as the record spells it
// ("Debian:12") and the normalised package name.
type key struct {
	eco, name string
}

// vuln is one indexed OSV record.
type vuln struct {
	id       string
	aliases  []string
	summary  string
	modified time.Time
	severity scan.Severity
	cvss     float64
	entries  []*entry
	seq      int      // input order, for deterministic duplicate resolution
	sum      [32]byte // SHA-256 of the record document, for Diff
}

// entry is one affected package of a record.
type entry struct {
	vuln     *vuln
	eco      string // as in the record, "Debian:12"
	base     string // "Debian"
	name     string // as in the record
	ranges   []rawRange
	versions []string // canonical spellings
	severity scan.Severity
	cvss     float64

	once     sync.Once
	compiled []compiledRange
	versSet  map[string]struct{}
	err      error // first compile error; the ranges concerned are dropped
}

// compile parses the entry's range events once, on first use, through
// cache (which may be nil).
func (e *entry) compile(cache *versionCache) {
	e.once.Do(func() {
		for _, r := range e.ranges {
			c, err := compileRange(e.base, r, cache)
			if err != nil {
				if e.err == nil {
					e.err = err
				}
				continue
			}
			e.compiled = append(e.compiled, c)
		}
		if len(e.versions) > 0 {
			e.versSet = make(map[string]struct{}, len(e.versions))
			for _, v := range e.versions {
				e.versSet[v] = struct{}{}
			}
		}
		e.ranges = nil // no longer needed
	})
}

// Version identifies the content of the database:
// "<newest modified, RFC 3339>/sha256:<hex>". The hash covers, in the fixed
// order Load reads them (lexical paths, then archive order), the path, size
// and SHA-256 of every record document read (JSON files and zip entries,
// skipped ones included), so two loads of the same inputs give the same
// version whatever the zip compression, and any change to a record gives
// another. An empty database is "empty/sha256:<hex>".
func (db *DB) Version() string { return db.version }

// Digest returns the content hash part of Version ("sha256:<hex>").
func (db *DB) Digest() string { return db.digest }

// Modified returns the newest modified time of the records read (withdrawn
// ones included); zero for an empty database.
func (db *DB) Modified() time.Time { return db.modified }

// Stats returns what loading read and skipped.
func (db *DB) Stats() Stats {
	s := db.stats
	s.UnknownEcosystems = slices.Clone(s.UnknownEcosystems)
	return s
}

// Len returns the number of records indexed.
func (db *DB) Len() int { return db.stats.Records }

// sortIndex puts every index slot in id order so that matching is
// deterministic whatever order the workers finished in.
func (db *DB) sortIndex() {
	for _, es := range db.index {
		slices.SortFunc(es, func(a, b *entry) int {
			return cmp.Or(cmp.Compare(a.vuln.id, b.vuln.id), cmp.Compare(a.eco, b.eco))
		})
	}
}

// warnMatch logs a match-time warning, up to the warning cap.
func (db *DB) warnMatch(msg string, args ...any) {
	if db.logger == nil {
		return
	}
	db.warnMu.Lock()
	db.warned++
	n := db.warned
	db.warnMu.Unlock()
	if n <= db.maxWarn {
		db.logger.Warn(msg, args...)
	}
}
