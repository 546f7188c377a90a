package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go/plugin/proto"
	pluginframework "github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/cssc-go/cssc/sign"
)

// keyPluginKeyID is the key id the in-process key plugin answers to.
const keyPluginKeyID = "cssc-crypto-signer"

// keyPlugin is an in-process notation signing plugin (capability
// SIGNATURE_GENERATOR.RAW) backed by a crypto.Signer. notation-go's
// PluginSigner builds the envelope around it, the same code path remote
// KMS plugins take, and verifies the envelope after signing, so a key that
// does not match the certificate fails at the first signature.
type keyPlugin struct {
	key     crypto.Signer
	chain   [][]byte
	keySpec signature.KeySpec
}

func newKeyPlugin(key crypto.Signer, chain []*x509.Certificate) (*keyPlugin, error) {
	ks, err := signature.ExtractKeySpec(chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: leaf certificate: %w", sign.ErrInvalidConfig, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("%w: the key does not match the leaf certificate", sign.ErrInvalidConfig)
	}
	p := &keyPlugin{key: key, keySpec: ks}
	for _, c := range chain {
		p.chain = append(p.chain, c.Raw)
	}
	return p, nil
}

func (p *keyPlugin) GetMetadata(context.Context, *pluginframework.GetMetadataRequest) (*pluginframework.GetMetadataResponse, error) {
	return &pluginframework.GetMetadataResponse{
		Name:                      "cssc-crypto-signer",
		Description:               "in-process crypto.Signer adapter of cssc",
		Version:                   "1.0.0",
		URL:                       "https://github.com/cssc-go/cssc",
		SupportedContractVersions: []string{pluginframework.ContractVersion},
		Capabilities:              []pluginframework.Capability{pluginframework.CapabilitySignatureGenerator},
	}, nil
}

func (p *keyPlugin) DescribeKey(_ context.Context, req *pluginframework.DescribeKeyRequest) (*pluginframework.DescribeKeyResponse, error) {
	ks, err := proto.EncodeKeySpec(p.keySpec)
	if err != nil {
		return nil, err
	}
	return &pluginframework.DescribeKeyResponse{KeyID: req.KeyID, KeySpec: ks}, nil
}

func (p *keyPlugin) GenerateSignature(_ context.Context, req *pluginframework.GenerateSignatureRequest) (*pluginframework.GenerateSignatureResponse, error) {
	sig, alg, err := signRaw(p.key, p.keySpec, req.Payload)
	if err != nil {
		return nil, err
	}
	return &pluginframework.GenerateSignatureResponse{
		KeyID:            req.KeyID,
		Signature:        sig,
		SigningAlgorithm: alg,
		CertificateChain: p.chain,
	}, nil
}

func (p *keyPlugin) GenerateEnvelope(context.Context, *pluginframework.GenerateEnvelopeRequest) (*pluginframework.GenerateEnvelopeResponse, error) {
	return nil, errors.New("cssc-crypto-signer: envelope generation is not supported")
}

// signRaw signs payload as the Notary Project signature specification
// wants it: hash per key spec, RSASSA-PSS (salt length = hash length) for
// RSA, raw r||s (each padded to the curve size) for ECDSA.
func signRaw(key crypto.Signer, ks signature.KeySpec, payload []byte) ([]byte, pluginframework.SignatureAlgorithm, error) {
	alg, err := proto.EncodeSigningAlgorithm(ks.SignatureAlgorithm())
	if err != nil {
		return nil, "", err
	}
	h := ks.SignatureAlgorithm().Hash()
	if !h.Available() {
		return nil, "", fmt.Errorf("hash %v unavailable", h)
	}
	hh := h.New()
	hh.Write(payload)
	digest := hh.Sum(nil)
	switch ks.Type {
	case signature.KeyTypeRSA:
		sig, err := key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		if err != nil {
			return nil, "", fmt.Errorf("rsa-pss sign: %w", err)
		}
		return sig, alg, nil
	case signature.KeyTypeEC:
		der, err := key.Sign(rand.Reader, digest, h)
		if err != nil {
			return nil, "", fmt.Errorf("ecdsa sign: %w", err)
		}
		raw, err := ecdsaRaw(der, (ks.Size+7)/8)
		if err != nil {
			return nil, "", err
		}
		return raw, alg, nil
	}
	return nil, "", fmt.Errorf("unsupported key type %v", ks.Type)
}

// ecdsaRaw converts an ASN.1 ECDSA signature to r||s, each size bytes. A
// signer that already returns raw r||s of the right length is accepted as
// is.
func ecdsaRaw(sig []byte, size int) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil {
		if len(sig) == 2*size {
			return sig, nil
		}
		return nil, fmt.Errorf("ecdsa signature is neither ASN.1 nor raw r||s of %d bytes", 2*size)
	}
	if v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 8*size || v.S.BitLen() > 8*size {
		return nil, errors.New("ecdsa signature values out of range")
	}
	out := make([]byte, 2*size)
	v.R.FillBytes(out[:size])
	v.S.FillBytes(out[size:])
	return out, nil
}

var _ pluginframework.SignPlugin = (*keyPlugin)(nil)
var _ = ecdsa.PublicKey{}
