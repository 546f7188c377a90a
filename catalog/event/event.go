package event

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// SpecVersion is the CloudEvents version of every Event.
const SpecVersion = "1.0"

// Event types. Each names the shape of its Data.
const (
	// TypeFindingsNew: a rescan found vulnerabilities an image did not
	// have; Data is a Findings.
	TypeFindingsNew = "dev.cssc.catalog.findings.new"
	// TypeFindingsResolved: a rescan no longer finds vulnerabilities an
	// image had (fixed advisories, withdrawn records); Data is a Findings.
	TypeFindingsResolved = "dev.cssc.catalog.findings.resolved"
	// TypeTagMoved: a golden tag points at another digest; Data is a
	// catalog.TagEvent.
	TypeTagMoved = "dev.cssc.catalog.tag.moved"
	// TypeRescanFailed: a rescan could not complete (registry, signer,
	// scanner); the previous signed report stays in force. Data is a
	// RescanFailed.
	TypeRescanFailed = "dev.cssc.catalog.rescan.failed"
)

// MaxDataBytes caps Event.Data: 1 MiB. New refuses larger data.
const MaxDataBytes = 1 << 20

// ErrInvalidEvent is wrapped by errors about events that lack required
// attributes or are too large.
var ErrInvalidEvent = errors.New("event: invalid event")

// Event is a CloudEvents 1.0 event, as its JSON format (structured mode)
// spells it.
type Event struct {
	// SpecVersion is SpecVersion.
	SpecVersion string `json:"specversion"`
	// ID identifies the event; equal ids are the same event.
	ID string `json:"id"`
	// Source identifies the producer (a URI reference such as
	// "/catalog/registry.corp/golden").
	Source string `json:"source"`
	// Type is one of the Type constants, or another reverse-DNS type.
	Type string `json:"type"`
	// Subject is what the event is about within the source: an image
	// reference "repository@digest" for catalog events.
	Subject string `json:"subject,omitempty"`
	// Time is when the occurrence happened.
	Time time.Time `json:"time,omitzero"`
	// DataContentType is "application/json" when Data is set.
	DataContentType string `json:"datacontenttype,omitempty"`
	// Data is the event's payload, JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// New returns an event of type typ with data marshalled to JSON, and an
// id derived from type, source, subject and data (the hex SHA-256 of
// them, cut to 32 characters), so that the same occurrence always gets the
// same id whatever its time. Errors wrap ErrInvalidEvent.
func New(typ, source, subject string, at time.Time, data any) (Event, error) {
	e := Event{SpecVersion: SpecVersion, Source: source, Type: typ, Subject: subject, Time: at.UTC()}
	if at.IsZero() {
		e.Time = time.Time{}
	}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return Event{}, fmt.Errorf("%w: data: %v", ErrInvalidEvent, err)
		}
		if len(b) > MaxDataBytes {
			return Event{}, fmt.Errorf("%w: %d bytes of data, cap %d", ErrInvalidEvent, len(b), MaxDataBytes)
		}
		e.Data, e.DataContentType = b, "application/json"
	}
	h := sha256.New()
	for _, s := range []string{typ, source, subject} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(e.Data)
	e.ID = hex.EncodeToString(h.Sum(nil))[:32]
	return e, e.Validate()
}

// Validate checks the attributes CloudEvents requires: id, source, type
// and specversion. Errors wrap ErrInvalidEvent.
func (e *Event) Validate() error {
	switch {
	case e.SpecVersion != SpecVersion:
		return fmt.Errorf("%w: specversion %q", ErrInvalidEvent, e.SpecVersion)
	case e.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalidEvent)
	case e.Source == "":
		return fmt.Errorf("%w: no source", ErrInvalidEvent)
	case e.Type == "":
		return fmt.Errorf("%w: no type", ErrInvalidEvent)
	}
	return nil
}

// Decode reads an event's JSON data into v.
func (e *Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("%w: no data", ErrInvalidEvent)
	}
	return json.Unmarshal(e.Data, v)
}

// Sink receives events. Emit returns once the sink has taken the events
// (delivered them, for a synchronous sink); an error means some were not.
// Implementations are safe for concurrent use.
type Sink interface {
	Emit(ctx context.Context, events ...Event) error
}

// Func adapts a callback to Sink: Emit calls f once per event, in order,
// and joins the errors.
type Func func(ctx context.Context, e Event) error

// Emit implements Sink.
func (f Func) Emit(ctx context.Context, events ...Event) error {
	var errs []error
	for _, e := range events {
		if err := f(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("event %s (%s): %w", e.ID, e.Type, err))
		}
	}
	return errors.Join(errs...)
}

// Multi returns a Sink that emits to every sink in turn and joins their
// errors (a failing sink does not keep events from the others). Nil sinks
// are skipped.
func Multi(sinks ...Sink) Sink { return multi(sinks) }

type multi []Sink

func (m multi) Emit(ctx context.Context, events ...Event) error {
	var errs []error
	for _, s := range m {
		if s == nil {
			continue
		}
		if err := s.Emit(ctx, events...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Image names an image of the catalog in event data.
type Image struct {
	// Repository and Digest identify the catalog entry.
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	// Subject is the platform manifest concerned (the entry's digest for
	// a single-platform image); Platform its platform.
	Subject  digest.Digest `json:"subject,omitempty"`
	Platform string        `json:"platform,omitempty"`
	// Tags are the entry's tags.
	Tags []string `json:"tags,omitempty"`
}

// Ref returns "repository@digest", the Subject of events about the
// image.
func (i Image) Ref() string { return i.Repository + "@" + i.Digest.String() }

// Findings is the data of TypeFindingsNew and TypeFindingsResolved.
type Findings struct {
	Image
	// Findings are the findings that appeared or went away, sorted.
	Findings []catalog.Finding `json:"findings"`
	// Scanner and DatabaseVersion say what the rescan matched against.
	Scanner         string `json:"scanner"`
	DatabaseVersion string `json:"databaseVersion"`
	// Report is the digest of the new signed report.
	Report digest.Digest `json:"report,omitempty"`
}

// RescanFailed is the data of TypeRescanFailed.
type RescanFailed struct {
	Image
	// Kind is the report kind ("vulnerability", "malware").
	Kind string `json:"kind"`
	// DatabaseVersion is the database the rescan was for.
	DatabaseVersion string `json:"databaseVersion,omitempty"`
	// Error says what failed.
	Error string `json:"error"`
	// Job is the key of the rescan job; Retry is true when it will be
	// tried again.
	Job   string `json:"job,omitempty"`
	Retry bool   `json:"retry"`
}

// TagMoved returns the TypeTagMoved event of a tag event (nil for events
// of other types: added and removed tags are not moves).
func TagMoved(source string, te catalog.TagEvent) (*Event, error) {
	if te.Type != catalog.TagMoved {
		return nil, nil
	}
	e, err := New(TypeTagMoved, source, te.Repository+":"+te.Tag, te.At, te)
	if err != nil {
		return nil, err
	}
	return &e, nil
}
