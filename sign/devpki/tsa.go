package devpki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/notaryproject/tspclient-go"
	"github.com/notaryproject/tspclient-go/pki"
)

// TSA is an INSECURE development RFC 3161 timestamp authority: a root CA
// and a timestamping certificate whose keys live in memory. Serve Handler
// on loopback (httptest) and point a signer's timestamping at it; put
// Root in the verifier's "tsa" trust store. Never trust it in production.
type TSA struct {
	// Root is the TSA's self-signed root certificate.
	Root *x509.Certificate
	// Certificate is the timestamping certificate (extended key usage
	// timeStamping only, marked critical), issued by Root.
	Certificate *x509.Certificate

	key  *rsa.PrivateKey
	now  func() time.Time
	fail bool
}

// TSAOptions configure NewInsecureDevelopmentTSA. The zero value is
// usable.
type TSAOptions struct {
	// Now returns the time put into timestamps. Nil means time.Now.
	Now func() time.Time
	// Reject makes the TSA reject every request (status "rejection"), to
	// test failing timestamping. False means it grants requests.
	Reject bool
}

var (
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA256WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidExtKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping         = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidTSAPolicy            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 4146, 2, 3} // any test policy
)

// NewInsecureDevelopmentTSA creates a development timestamp authority with
// RSA-2048 keys. For demos and tests only.
func NewInsecureDevelopmentTSA(opts TSAOptions) (*TSA, error) {
	ca, err := NewInsecureDevelopmentCA(CAOptions{Key: RSA2048, Subject: pkix.Name{
		Country: []string{"US"}, Organization: []string{"cssc development"}, CommonName: "cssc INSECURE development TSA root",
	}})
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	nb, na := validity(time.Time{}, time.Time{}, 365*24*time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Country: []string{"US"}, Organization: []string{"cssc development"}, CommonName: "cssc INSECURE development TSA"},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devpki: create TSA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &TSA{Root: ca.Certificate, Certificate: cert, key: key, now: now, fail: opts.Reject}, nil
}

// RootPool returns a pool holding Root, for the signer's timestamping
// options.
func (t *TSA) RootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(t.Root)
	return p
}

// Handler serves RFC 3161 over HTTP: a POST of an
// application/timestamp-query (capped at 64 KiB) answered with an
// application/timestamp-reply.
func (t *TSA) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req tspclient.Request
		if err := req.UnmarshalBinary(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := t.Timestamp(&req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out, err := resp.MarshalBinary()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		_, _ = w.Write(out)
	})
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, written pre-encoded
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     []byte `asn1:"explicit,optional,tag:0"`
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttributes   []attribute `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type signingCertificateV2 struct {
	Certificates []essCertIDv2
}

type essCertIDv2 struct {
	CertHash []byte
}

// Timestamp answers one timestamp request: a signed TSTInfo over the
// request's message imprint, with the TSA certificate and root included.
func (t *TSA) Timestamp(req *tspclient.Request) (*tspclient.Response, error) {
	if t.fail {
		return &tspclient.Response{Status: pki.StatusInfo{Status: pki.StatusRejection}}, nil
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	info, err := asn1.Marshal(tspclient.TSTInfo{
		Version:        1,
		Policy:         oidTSAPolicy,
		MessageImprint: req.MessageImprint,
		SerialNumber:   serial,
		GenTime:        t.now().UTC().Truncate(time.Second),
		Accuracy:       tspclient.Accuracy{Seconds: 1},
		Nonce:          req.Nonce,
	})
	if err != nil {
		return nil, err
	}
	attrs, err := t.signedAttributes(info)
	if err != nil {
		return nil, err
	}
	encAttrs, err := asn1.MarshalWithParams(attrs, "set")
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(encAttrs)
	sig, err := rsa.SignPKCS1v15(rand.Reader, t.key, crypto.SHA256, h[:])
	if err != nil {
		return nil, err
	}
	var issuer asn1.RawValue
	if _, err := asn1.Unmarshal(t.Certificate.RawIssuer, &issuer); err != nil {
		return nil, err
	}
	sd := signedData{
		Version:          3,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: oidSHA256}},
		EncapContentInfo: encapContentInfo{ContentType: oidTSTInfo, Content: info},
		Certificates: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
			Bytes: append(append([]byte{}, t.Certificate.Raw...), t.Root.Raw...)},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerAndSerial{Issuer: issuer, SerialNumber: t.Certificate.SerialNumber},
			DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
			SignedAttributes:   attrs,
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA},
			Signature:          sig,
		}},
	}
	tokenRaw, err := timestampToken(sd)
	if err != nil {
		return nil, err
	}
	return &tspclient.Response{Status: pki.StatusInfo{Status: pki.StatusGranted}, TimestampToken: tokenRaw}, nil
}

// signedAttributes returns the signed attributes of a token over the
// encoded TSTInfo info (content type, message digest, signing time, the
// TSA certificate's hash), in DER order.
func (t *TSA) signedAttributes(info []byte) ([]attribute, error) {
	set := func(v any) (asn1.RawValue, error) {
		b, err := asn1.MarshalWithParams([]any{v}, "set")
		if err != nil {
			return asn1.RawValue{}, err
		}
		var raw asn1.RawValue
		_, err = asn1.UnmarshalWithParams(b, &raw, "set")
		return raw, err
	}
	infoDigest := sha256.Sum256(info)
	certHash := sha256.Sum256(t.Certificate.Raw)
	var attrs []attribute
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   any
	}{
		{oidContentType, oidTSTInfo},
		{oidMessageDigest, infoDigest[:]},
		{oidSigningTime, t.now().UTC()},
		{oidSigningCertificateV2, signingCertificateV2{Certificates: []essCertIDv2{{CertHash: certHash[:]}}}},
	} {
		raw, err := set(a.v)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, attribute{Type: a.oid, Values: raw})
	}
	// DER orders SET OF by encoding; keep the same order in the signer
	// info so that verifiers re-encoding the attributes get these bytes.
	slices.SortFunc(attrs, func(a, b attribute) int {
		ea, _ := asn1.Marshal(a)
		eb, _ := asn1.Marshal(b)
		return bytes.Compare(ea, eb)
	})
	return attrs, nil
}

// timestampToken wraps the signed data sd in a CMS ContentInfo, the
// timestamp token of a response.
func timestampToken(sd signedData) (asn1.RawValue, error) {
	sdBytes, err := asn1.Marshal(sd)
	if err != nil {
		return asn1.RawValue{}, err
	}
	token, err := asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{FullBytes: mustExplicit(sdBytes)}})
	if err != nil {
		return asn1.RawValue{}, err
	}
	var tokenRaw asn1.RawValue
	_, err = asn1.Unmarshal(token, &tokenRaw)
	return tokenRaw, err
}

// mustExplicit wraps der in an explicit [0] tag.
func mustExplicit(der []byte) []byte {
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der})
	return b
}
