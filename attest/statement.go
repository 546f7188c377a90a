package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cssc-go/cssc/artifact"
)

// Sentinel errors of this package. Errors recorded on an Item and returned
// by the parsers wrap one of them.
var (
	// ErrMalformed: a document (DSSE envelope, in-toto statement, sigstore
	// bundle, SBOM, provenance, lifecycle date) could not be parsed or does
	// not have the required shape.
	ErrMalformed = errors.New("malformed document")
	// ErrTooLarge: a document or a list is larger than a documented cap.
	ErrTooLarge = errors.New("document too large")
	// ErrUnsupportedFormat: the content is of a format cssc does not parse
	// (SPDX tag-value, CycloneDX XML, a DSSE payload that is not an in-toto
	// statement).
	ErrUnsupportedFormat = errors.New("unsupported format")
)

// MaxStatementBytes caps the size of an in-toto statement, a DSSE envelope
// and a sigstore bundle handed to ParseStatement and ParseDSSE or read by
// Discover (16 MiB: SBOM predicates can be large).
const MaxStatementBytes = 16 << 20

// Statement types that ParseStatement accepts.
const (
	// StatementTypeV1 is the in-toto Statement v1 type.
	StatementTypeV1 = intoto.StatementTypeUri
	// StatementTypeV01 is the legacy in-toto Statement v0.1 type, still
	// written by buildkit and cosign.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
)

// Statement is an in-toto statement as found, parsed with the in-toto Go
// bindings: its predicate type, subjects and predicate as a JSON object.
type Statement struct {
	// Proto is the statement parsed with the in-toto attestation bindings.
	// The legacy v0.1 type is accepted and kept as found in Proto.Type.
	Proto *intoto.Statement
}

// PredicateType returns the statement's predicate type URI.
func (s *Statement) PredicateType() string { return s.Proto.GetPredicateType() }

// Predicate returns the predicate as canonical JSON (sorted keys, no
// insignificant white space).
func (s *Statement) Predicate() ([]byte, error) {
	if s.Proto.GetPredicate() == nil {
		return []byte("{}"), nil
	}
	raw, err := protojson.Marshal(s.Proto.GetPredicate())
	if err != nil {
		return nil, err
	}
	return canonicalJSON(raw)
}

// MarshalJSON writes the statement as canonical in-toto JSON.
func (s *Statement) MarshalJSON() ([]byte, error) { return MarshalStatement(s.Proto) }

// ParseStatement parses an in-toto statement (v1 or v0.1) with the in-toto
// bindings. Unknown fields are ignored; the statement must name a type, at
// least one subject with a digest, a predicate type and a predicate object.
// Input larger than MaxStatementBytes fails with ErrTooLarge; anything else
// that is wrong fails with ErrMalformed.
func ParseStatement(data []byte) (*Statement, error) {
	if len(data) > MaxStatementBytes {
		return nil, fmt.Errorf("in-toto statement: %w: %d bytes, cap %d", ErrTooLarge, len(data), MaxStatementBytes)
	}
	var st intoto.Statement
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w: %w", ErrMalformed, err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w: %w", ErrMalformed, err)
	}
	return &Statement{Proto: &st}, nil
}

// MarshalStatement writes st as canonical JSON: the in-toto JSON field names
// (protojson), with object keys sorted and no insignificant white space, so
// that the same statement always gives the same bytes (protojson on its own
// deliberately varies its white space).
func MarshalStatement(st *intoto.Statement) ([]byte, error) {
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	return canonicalJSON(raw)
}

// canonicalJSON re-encodes a JSON document with sorted object keys and no
// insignificant white space. Numbers are kept as written.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// toStruct converts a proto message to a structpb.Struct through its JSON
// form, for use as an in-toto predicate.
func toStruct(m proto.Message) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

// fromStruct converts a predicate to a proto message through its JSON form,
// ignoring unknown fields.
func fromStruct(s *structpb.Struct, m proto.Message) error {
	raw, err := protojson.Marshal(s)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(raw, m)
}

// Envelope is a DSSE envelope (https://github.com/secure-systems-lab/dsse)
// as cosign, buildkit and sigstore bundles carry in-toto statements. cssc
// reads the payload; verifying the signatures is the sign package's job.
type Envelope struct {
	// PayloadType is the payload's media type, "application/vnd.in-toto+json"
	// for in-toto statements.
	PayloadType string `json:"payloadType"`
	// Payload is the decoded payload.
	Payload []byte `json:"-"`
	// Signatures are the envelope's signatures, as found (unverified).
	Signatures []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of a DSSE envelope.
type EnvelopeSignature struct {
	// KeyID is the signer's key hint, often empty.
	KeyID string `json:"keyid,omitempty"`
	// Sig is the base64 signature, as found.
	Sig string `json:"sig"`
}

// ParseDSSE parses a DSSE envelope and decodes its payload (standard or
// URL-safe base64, padded or not). Input larger than MaxStatementBytes
// fails with ErrTooLarge; a missing payload type or payload, or a payload
// that is not base64, fails with ErrMalformed.
func ParseDSSE(data []byte) (*Envelope, error) {
	if len(data) > MaxStatementBytes {
		return nil, fmt.Errorf("dsse envelope: %w: %d bytes, cap %d", ErrTooLarge, len(data), MaxStatementBytes)
	}
	var raw struct {
		PayloadType string              `json:"payloadType"`
		Payload     string              `json:"payload"`
		Signatures  []EnvelopeSignature `json:"signatures"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("dsse envelope: %w: %w", ErrMalformed, err)
	}
	if raw.PayloadType == "" || raw.Payload == "" {
		return nil, fmt.Errorf("dsse envelope: %w: payloadType or payload missing", ErrMalformed)
	}
	payload, err := decodeBase64(raw.Payload)
	if err != nil {
		return nil, fmt.Errorf("dsse envelope: %w: payload: %w", ErrMalformed, err)
	}
	return &Envelope{PayloadType: raw.PayloadType, Payload: payload, Signatures: raw.Signatures}, nil
}

// Statement parses the envelope's payload as an in-toto statement. A payload
// type other than in-toto JSON fails with ErrUnsupportedFormat.
func (e *Envelope) Statement() (*Statement, error) {
	if e.PayloadType != artifact.MediaTypeInToto {
		return nil, fmt.Errorf("dsse envelope: %w: payload type %q", ErrUnsupportedFormat, e.PayloadType)
	}
	return ParseStatement(e.Payload)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// bundle is the part of a sigstore bundle (v0.1 to v0.3) that discovery
// reads: its media type and either a DSSE envelope (an attestation) or a
// message signature (a plain signature, no statement). Verifying the bundle
// is the sign/cosign package's job.
type bundle struct {
	// MediaType is the bundle's own media type.
	MediaType string
	// Envelope is the DSSE envelope, nil for a message signature bundle.
	Envelope *Envelope
}

// parseBundle parses a sigstore bundle JSON document. Input larger than
// MaxStatementBytes fails with ErrTooLarge; a bundle with neither a DSSE
// envelope nor a message signature fails with ErrMalformed.
func parseBundle(data []byte) (*bundle, error) {
	if len(data) > MaxStatementBytes {
		return nil, fmt.Errorf("sigstore bundle: %w: %d bytes, cap %d", ErrTooLarge, len(data), MaxStatementBytes)
	}
	var raw struct {
		MediaType        string          `json:"mediaType"`
		DSSEEnvelope     json.RawMessage `json:"dsseEnvelope"`
		MessageSignature json.RawMessage `json:"messageSignature"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("sigstore bundle: %w: %w", ErrMalformed, err)
	}
	if !strings.HasPrefix(raw.MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("sigstore bundle: %w: media type %q", ErrMalformed, raw.MediaType)
	}
	b := &bundle{MediaType: raw.MediaType}
	switch {
	case len(raw.DSSEEnvelope) > 0 && string(raw.DSSEEnvelope) != "null":
		env, err := ParseDSSE(raw.DSSEEnvelope)
		if err != nil {
			return nil, fmt.Errorf("sigstore bundle: %w", err)
		}
		b.Envelope = env
	case len(raw.MessageSignature) > 0 && string(raw.MessageSignature) != "null":
	default:
		return nil, fmt.Errorf("sigstore bundle: %w: neither dsseEnvelope nor messageSignature", ErrMalformed)
	}
	return b, nil
}
