package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"sync"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/cssc-go/cssc/sign"
)

// TrustPolicy is a notation OCI trust policy document (trustpolicy.oci.json
// or the older trustpolicy.json), as notation-go defines it.
type TrustPolicy = trustpolicy.Document

// Trust store types.
const (
	// StoreCA holds root CA certificates of signing certificate chains.
	StoreCA = truststore.TypeCA
	// StoreSigningAuthority holds root certificates of signing authorities.
	StoreSigningAuthority = truststore.TypeSigningAuthority
	// StoreTSA holds root certificates of timestamp authorities.
	StoreTSA = truststore.TypeTSA
)

// Caps on trust material read from files.
const (
	// MaxTrustPolicyBytes caps a trust policy document.
	MaxTrustPolicyBytes = 1 << 20
	// MaxCertificateFileBytes caps one certificate file of a trust store.
	MaxCertificateFileBytes = 1 << 20
)

// ParseTrustPolicy parses and validates a trust policy document (JSON).
// Unknown fields are an error, so that a misspelt setting cannot weaken
// verification silently. At most MaxTrustPolicyBytes are accepted.
func ParseTrustPolicy(data []byte) (*TrustPolicy, error) {
	if len(data) > MaxTrustPolicyBytes {
		return nil, fmt.Errorf("%w: trust policy larger than %d bytes", sign.ErrInvalidConfig, MaxTrustPolicyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc TrustPolicy
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: trust policy: %w", sign.ErrInvalidConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trust policy: trailing data", sign.ErrInvalidConfig)
	}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: trust policy: %w", sign.ErrInvalidConfig, err)
	}
	return &doc, nil
}

// LoadTrustPolicy reads the trust policy of a notation configuration
// directory given as fsys: "trustpolicy.oci.json", or "trustpolicy.json"
// when the former does not exist (the notation CLI's order).
func LoadTrustPolicy(fsys fs.FS) (*TrustPolicy, error) {
	for _, name := range []string{"trustpolicy.oci.json", "trustpolicy.json"} {
		data, err := readCapped(fsys, name, MaxTrustPolicyBytes)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", sign.ErrInvalidConfig, name, err)
		}
		return ParseTrustPolicy(data)
	}
	return nil, fmt.Errorf("%w: no trustpolicy.oci.json or trustpolicy.json", sign.ErrInvalidConfig)
}

// TrustStore is an in-memory X.509 trust store: named sets of trusted root
// certificates per store type, referenced from a trust policy as
// "<type>:<name>" (for example "ca:acme"). It implements notation-go's
// truststore.X509TrustStore. The zero value is an empty store; a TrustStore
// is safe for concurrent use.
type TrustStore struct {
	mu    sync.RWMutex
	certs map[truststore.Type]map[string][]*x509.Certificate
}

var _ truststore.X509TrustStore = (*TrustStore)(nil)

// Add adds certificates to the named store of type t. Every certificate
// must be a CA certificate or self-signed, as notation requires; TSA stores
// take root CA certificates only (checked at verification).
func (s *TrustStore) Add(t truststore.Type, name string, certs ...*x509.Certificate) error {
	if !slices.Contains(truststore.Types, t) {
		return fmt.Errorf("%w: unknown trust store type %q", sign.ErrInvalidConfig, t)
	}
	if !validStoreName(name) {
		return fmt.Errorf("%w: trust store name %q must match [a-zA-Z0-9_.-]+", sign.ErrInvalidConfig, name)
	}
	if err := truststore.ValidateCertificates(certs); err != nil {
		return fmt.Errorf("%w: trust store %s:%s: %w", sign.ErrInvalidConfig, t, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs == nil {
		s.certs = map[truststore.Type]map[string][]*x509.Certificate{}
	}
	if s.certs[t] == nil {
		s.certs[t] = map[string][]*x509.Certificate{}
	}
	s.certs[t][name] = append(s.certs[t][name], certs...)
	return nil
}

// AddPEM adds the PEM certificates in data to the named store of type t.
func (s *TrustStore) AddPEM(t truststore.Type, name string, data []byte) error {
	certs, err := parseCertificates(data)
	if err != nil {
		return fmt.Errorf("%w: trust store %s:%s: %w", sign.ErrInvalidConfig, t, name, err)
	}
	return s.Add(t, name, certs...)
}

// GetCertificates returns the certificates of the named store of type t.
func (s *TrustStore) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	certs := s.certs[t][name]
	if len(certs) == 0 {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the trust store %q of type %q does not exist or is empty", name, t)}
	}
	return slices.Clone(certs), nil
}

// Names returns the stores as "<type>:<name>", sorted.
func (s *TrustStore) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for t, m := range s.certs {
		for n := range m {
			out = append(out, string(t)+":"+n)
		}
	}
	sort.Strings(out)
	return out
}

// LoadTrustStore reads a trust store in the notation CLI's layout from
// fsys: "x509/<type>/<name>/<file>" where each file holds PEM or DER
// certificates. fsys is usually the "truststore" directory of a notation
// configuration directory. Missing store types are fine; a directory
// holding something other than regular certificate files is an error.
func LoadTrustStore(fsys fs.FS) (*TrustStore, error) {
	s := &TrustStore{}
	for _, t := range truststore.Types {
		base := path.Join("x509", string(t))
		names, err := fs.ReadDir(fsys, base)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: trust store %s: %w", sign.ErrInvalidConfig, base, err)
		}
		for _, n := range names {
			if !n.IsDir() {
				return nil, fmt.Errorf("%w: trust store %s: %s is not a directory", sign.ErrInvalidConfig, base, n.Name())
			}
			dir := path.Join(base, n.Name())
			files, err := fs.ReadDir(fsys, dir)
			if err != nil {
				return nil, fmt.Errorf("%w: trust store %s: %w", sign.ErrInvalidConfig, dir, err)
			}
			for _, f := range files {
				if !f.Type().IsRegular() {
					return nil, fmt.Errorf("%w: trust store %s: %s is not a regular file", sign.ErrInvalidConfig, dir, f.Name())
				}
				data, err := readCapped(fsys, path.Join(dir, f.Name()), MaxCertificateFileBytes)
				if err != nil {
					return nil, fmt.Errorf("%w: trust store %s: %w", sign.ErrInvalidConfig, dir, err)
				}
				if err := s.AddPEM(t, n.Name(), data); err != nil {
					return nil, fmt.Errorf("%s: %w", path.Join(dir, f.Name()), err)
				}
			}
		}
	}
	return s, nil
}

// LoadConfigDir reads the trust policy and trust store of a notation
// configuration directory in the CLI's layout: dir/trustpolicy.oci.json
// (or dir/trustpolicy.json) and dir/truststore/x509/<type>/<name>/*.
// dir is given by the caller; no default location is read.
func LoadConfigDir(dir string) (*TrustPolicy, *TrustStore, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("%w: empty configuration directory", sign.ErrInvalidConfig)
	}
	fsys := os.DirFS(dir)
	doc, err := LoadTrustPolicy(fsys)
	if err != nil {
		return nil, nil, err
	}
	sub, err := fs.Sub(fsys, "truststore")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
	}
	store, err := LoadTrustStore(sub)
	if err != nil {
		return nil, nil, err
	}
	return doc, store, nil
}

func readCapped(fsys fs.FS, name string, max int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}

// parseCertificates reads PEM certificates, or one DER certificate.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	if len(rest) > 0 && rest[0] != '-' {
		c, err := x509.ParseCertificate(rest)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificates found")
	}
	return certs, nil
}

func validStoreName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}
