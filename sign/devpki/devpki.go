package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// KeyType is the algorithm and size of a generated key.
type KeyType string

// Key types. Notation accepts RSA of at least 2048 bits and ECDSA on P-256,
// P-384 and P-521.
const (
	// ECDSAP256 is ECDSA on NIST P-256 (the default: fast to generate).
	ECDSAP256 KeyType = "ecdsa-p256"
	// ECDSAP384 is ECDSA on NIST P-384.
	ECDSAP384 KeyType = "ecdsa-p384"
	// ECDSAP521 is ECDSA on NIST P-521.
	ECDSAP521 KeyType = "ecdsa-p521"
	// RSA2048 is RSA with a 2048-bit modulus.
	RSA2048 KeyType = "rsa-2048"
	// RSA3072 is RSA with a 3072-bit modulus.
	RSA3072 KeyType = "rsa-3072"
	// RSA4096 is RSA with a 4096-bit modulus.
	RSA4096 KeyType = "rsa-4096"
)

// GenerateKey generates a private key of type t. The empty type means
// ECDSAP256.
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case "", ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("devpki: unknown key type %q", t)
}

// CAOptions configure NewInsecureDevelopmentCA. The zero value is usable.
type CAOptions struct {
	// Key is the CA key type. Empty means ECDSAP256.
	Key KeyType
	// Subject is the CA subject. The zero Name means C=US, ST=WA,
	// L=Seattle, O=cssc development, CN=cssc INSECURE development root CA.
	Subject pkix.Name
	// NotBefore and NotAfter bound the CA certificate's validity. Zero
	// NotBefore means an hour ago; zero NotAfter means a year after
	// NotBefore.
	NotBefore, NotAfter time.Time
	// CRLURL, if set, is written as the CRL distribution point of every
	// certificate the CA issues (unless LeafOptions overrides it). Serve
	// CA.CRL at that URL (CA.CRLHandler) for online revocation checks, or
	// hand CA.CRL to a verifier for offline checks. Empty means issued
	// certificates name no CRL (revocation status "non-revokable").
	CRLURL string
}

// CA is an INSECURE development certificate authority: a self-signed root
// whose private key lives in memory. It issues code signing certificates
// and CRLs for demos and tests. Never trust it in production.
//
// A CA is safe for concurrent use.
type CA struct {
	// Certificate is the self-signed root certificate (keyCertSign,
	// cRLSign, basic constraints CA).
	Certificate *x509.Certificate
	// Key is the root's private key.
	Key crypto.Signer

	crlURL string

	mu        sync.Mutex
	revoked   []x509.RevocationListEntry
	crlNumber int64
}

// NewInsecureDevelopmentCA creates a development root CA. The name says
// it: the key is generated in memory and nothing protects it. Use it for
// demos and tests only.
func NewInsecureDevelopmentCA(opts CAOptions) (*CA, error) {
	key, err := GenerateKey(opts.Key)
	if err != nil {
		return nil, err
	}
	subject := opts.Subject
	if subject.CommonName == "" && len(subject.Organization) == 0 {
		subject = defaultSubject("cssc INSECURE development root CA")
	}
	nb, na := validity(opts.NotBefore, opts.NotAfter, 365*24*time.Hour)
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devpki: create root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Certificate: cert, Key: key, crlURL: opts.CRLURL}, nil
}

// LeafOptions configure CA.Issue. The zero value gives a valid Notary
// Project code signing certificate: ECDSA P-256, key usage digitalSignature
// (critical), extended key usage codeSigning, valid from an hour ago for a
// week, subject C=US, ST=WA, L=Seattle, O=cssc development,
// CN=cssc INSECURE development signer.
//
// The other fields exist to make certificates that notation must reject.
type LeafOptions struct {
	// Key is the leaf key type. Empty means ECDSAP256. Ignored when
	// PublicKey is set.
	Key KeyType
	// PublicKey, if not nil, is the key the certificate certifies: the
	// public half of a key that lives elsewhere (a cloud KMS, an HSM) and
	// never leaves it. The Leaf then has no private key (Leaf.Key is nil);
	// sign with the external key, for example through
	// notation.NewSigner(kmsKey, leaf.Chain, ...). It must be an ECDSA
	// (P-256, P-384, P-521) or RSA (2048 bits or more) public key. Nil
	// means a fresh key of type Key is generated.
	PublicKey crypto.PublicKey
	// Subject is the leaf subject. The zero Name means the default above.
	Subject pkix.Name
	// NotBefore and NotAfter bound the validity. Zero NotBefore means an
	// hour ago; zero NotAfter means a week after NotBefore. Set both in the
	// past for an expired certificate, both in the future for a
	// not-yet-valid one.
	NotBefore, NotAfter time.Time
	// KeyUsage is the key usage. Zero means x509.KeyUsageDigitalSignature.
	KeyUsage x509.KeyUsage
	// ExtKeyUsage is the extended key usage. Nil means codeSigning; an
	// empty non-nil slice means no extension.
	ExtKeyUsage []x509.ExtKeyUsage
	// CRLDistributionPoints are written into the certificate. Nil means
	// the CA's CRLURL (if any); an empty non-nil slice means none.
	CRLDistributionPoints []string
}

// Leaf is an issued certificate with its private key.
type Leaf struct {
	// Certificate is the leaf certificate.
	Certificate *x509.Certificate
	// Key is its private key; nil when the certificate was issued for an
	// external key (LeafOptions.PublicKey).
	Key crypto.Signer
	// Chain is the certificate chain leaf first, ending with the root, as
	// notation expects it.
	Chain []*x509.Certificate
}

// Issue issues a code signing certificate configured by opts.
func (ca *CA) Issue(opts LeafOptions) (*Leaf, error) {
	var key crypto.Signer
	pub := opts.PublicKey
	if pub == nil {
		k, err := GenerateKey(opts.Key)
		if err != nil {
			return nil, err
		}
		key, pub = k, k.Public()
	} else if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	subject := opts.Subject
	if subject.CommonName == "" && len(subject.Organization) == 0 {
		subject = defaultSubject("cssc INSECURE development signer")
	}
	nb, na := validity(opts.NotBefore, opts.NotAfter, 7*24*time.Hour)
	ku := opts.KeyUsage
	if ku == 0 {
		ku = x509.KeyUsageDigitalSignature
	}
	eku := opts.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	crl := opts.CRLDistributionPoints
	if crl == nil && ca.crlURL != "" {
		crl = []string{ca.crlURL}
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		CRLDistributionPoints: crl,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devpki: issue certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Leaf{Certificate: cert, Key: key, Chain: []*x509.Certificate{cert, ca.Certificate}}, nil
}

// CertificatePEM returns the root certificate in PEM, the form a notation
// trust store holds.
func (ca *CA) CertificatePEM() []byte { return CertificatesPEM(ca.Certificate) }

// Revoke adds cert to the CA's revocation list, revoked at the given time
// (zero means now).
func (ca *CA) Revoke(cert *x509.Certificate, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked = append(ca.revoked, x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: at.UTC()})
}

// CRL returns a fresh DER-encoded certificate revocation list signed by the
// CA, listing every revoked certificate, valid from an hour ago for a day.
func (ca *CA) CRL() ([]byte, error) {
	ca.mu.Lock()
	ca.crlNumber++
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(ca.crlNumber),
		ThisUpdate:                time.Now().Add(-time.Hour),
		NextUpdate:                time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: append([]x509.RevocationListEntry(nil), ca.revoked...),
	}
	ca.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Certificate, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devpki: create CRL: %w", err)
	}
	return der, nil
}

// CRLHandler returns an http.Handler that serves the CA's current CRL on
// every GET, for online revocation checks against an httptest server.
func (ca *CA) CRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		der, err := ca.CRL()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
	})
}

// ChainPEM returns the chain (leaf first, root last) in PEM.
func (l *Leaf) ChainPEM() []byte { return CertificatesPEM(l.Chain...) }

// KeyPEM returns the private key as a PKCS #8 PEM block; an error for a
// leaf issued for an external key.
func (l *Leaf) KeyPEM() ([]byte, error) {
	if l.Key == nil {
		return nil, errors.New("devpki: the leaf was issued for an external key: no private key")
	}
	return KeyPEM(l.Key)
}

// checkPublicKey accepts the public keys Notary Project signatures use:
// ECDSA on P-256, P-384 or P-521, and RSA of 2048 bits or more.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("devpki: unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("devpki: RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		return nil
	}
	return fmt.Errorf("devpki: unsupported public key type %T", pub)
}

// WriteFiles writes the key (mode 0600) and the chain to dir as
// "<name>.key" and "<name>.crt", the layout `notation key add` uses, and
// returns both paths.
func (l *Leaf) WriteFiles(dir, name string) (keyPath, certPath string, err error) {
	k, err := l.KeyPEM()
	if err != nil {
		return "", "", err
	}
	keyPath = filepath.Join(dir, name+".key")
	certPath = filepath.Join(dir, name+".crt")
	if err := os.WriteFile(keyPath, k, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certPath, l.ChainPEM(), 0o644); err != nil {
		return "", "", err
	}
	return keyPath, certPath, nil
}

// CertificatesPEM encodes certificates as consecutive PEM blocks.
func CertificatesPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as a PKCS #8 PEM block.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("devpki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func validity(nb, na time.Time, d time.Duration) (time.Time, time.Time) {
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = nb.Add(d)
	}
	return nb.UTC().Truncate(time.Second), na.UTC().Truncate(time.Second)
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, errors.Join(errors.New("devpki: serial number"), err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// defaultSubject is the subject of certificates issued without one.
func defaultSubject(commonName string) pkix.Name {
	return pkix.Name{
		Country:      []string{"US"},
		Province:     []string{"WA"},
		Locality:     []string{"Seattle"},
		Organization: []string{"cssc development"},
		CommonName:   commonName,
	}
}
