package catalog

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Store keeps catalog entries, the tag history of golden repositories, and
// the indexes that answer queries. Implementations: catalog/sqlite (the
// embedded default) and catalog/postgres; catalog/catalogtest.Run checks
// any implementation. A Store is safe for concurrent use.
//
// Entries are identified by repository and digest. A store keeps the
// entry as Marshal normalizes it (as Marshal's bytes or in an encoding of
// its own) and gives back an entry that marshals to the very same bytes.
type Store interface {
	// Put inserts the entry, or replaces the one with the same repository
	// and digest, with every index (text, facets, packages, findings). It
	// validates and normalizes a copy of e first (ErrInvalidEntry).
	Put(ctx context.Context, e *Entry) error
	// Get returns the entry, or an error wrapping ErrNotFound.
	Get(ctx context.Context, repository string, d digest.Digest) (*Entry, error)
	// Delete removes the entry and its indexes; its tag history stays.
	// Deleting a missing entry wraps ErrNotFound.
	Delete(ctx context.Context, repository string, d digest.Digest) error
	// Search returns the entries that match q, a page at a time, with the
	// total count and, when q.Facets is set, facet counts over every match
	// (not only the page). q is validated first (ErrInvalidQuery).
	Search(ctx context.Context, q Query) (*Result, error)

	// RecordTags records what a registry listing observed at time at:
	// tags maps each tag of repository to the digest it points at. A tag
	// seen on the digest it pointed at before extends that record's
	// LastSeen; a new tag, or a tag on another digest, starts a new record
	// (and ends the old one). When complete is true, tags is the whole
	// tag list of the repository and current tags missing from it are
	// ended as removed; when false, only the given tags are touched. It
	// returns the changes as events, sorted by tag.
	RecordTags(ctx context.Context, repository string, tags map[string]digest.Digest, at time.Time, complete bool) ([]TagEvent, error)
	// Tags returns the current tags of repository and their digests (an
	// empty map for an unknown repository).
	Tags(ctx context.Context, repository string) (map[string]digest.Digest, error)
	// TagHistory returns every record of repository's tag (every tag of
	// the repository when tag is empty), sorted by tag, then FirstSeen,
	// then digest.
	TagHistory(ctx context.Context, repository, tag string) ([]TagRecord, error)
	// Repositories returns the repositories that have entries or current
	// tags, sorted.
	Repositories(ctx context.Context) ([]string, error)

	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}

// TagRecord is one period during which a tag pointed at one digest.
type TagRecord struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag"`
	Digest     digest.Digest `json:"digest"`
	// FirstSeen and LastSeen are the first and the last observation of the
	// tag on the digest.
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	// Current is true while the tag still points at the digest.
	Current bool `json:"current"`
}

// TagEventType says what happened to a tag.
type TagEventType string

// Tag event types.
const (
	// TagAdded: a tag was seen for the first time (or again after it was
	// removed).
	TagAdded TagEventType = "tag-added"
	// TagMoved: a tag points at another digest than before.
	TagMoved TagEventType = "tag-moved"
	// TagRemoved: a complete listing no longer has the tag.
	TagRemoved TagEventType = "tag-removed"
)

// TagEvent is a change of a tag.
type TagEvent struct {
	Type       TagEventType `json:"type"`
	Repository string       `json:"repository"`
	Tag        string       `json:"tag"`
	// From is the previous digest (TagMoved, TagRemoved); To is the new
	// one (TagAdded, TagMoved).
	From digest.Digest `json:"from,omitempty"`
	To   digest.Digest `json:"to,omitempty"`
	// At is the observation time.
	At time.Time `json:"at"`
}
