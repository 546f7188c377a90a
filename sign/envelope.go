package sign

import (
	"context"
	"fmt"
	"maps"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
)

// EnvelopeSigner makes a signature envelope over a subject and stores
// nothing: signing apart from storage, as notation-go's Signer is apart from
// its repository. A cloud KMS, an HSM or a remote signing service needs to
// implement only this; AsReferrer turns it into a Signer that stores the
// envelope as a referrer of the subject (StoreSignature).
// sign/notation's Signer implements both.
//
// subject carries its digest, media type and size (see CheckSubject); the
// envelope must cover exactly that descriptor.
type EnvelopeSigner interface {
	SignEnvelope(ctx context.Context, subject ocispec.Descriptor) (*Envelope, error)
}

// EnvelopeSignerFunc adapts a function to the EnvelopeSigner interface.
type EnvelopeSignerFunc func(ctx context.Context, subject ocispec.Descriptor) (*Envelope, error)

// SignEnvelope calls f.
func (f EnvelopeSignerFunc) SignEnvelope(ctx context.Context, subject ocispec.Descriptor) (*Envelope, error) {
	return f(ctx, subject)
}

// MaxEnvelopeBytes caps the envelope StoreSignature stores: 4 MiB.
const MaxEnvelopeBytes = 4 << 20

// Envelope is a signature over one subject, ready to be stored.
type Envelope struct {
	// ArtifactType is the artifact type of the signature manifest. Empty
	// means artifact.TypeNotarySignature.
	ArtifactType string
	// MediaType is the media type of the envelope ("application/jose+json"
	// or "application/cose" for Notary Project signatures). Required.
	MediaType string
	// Data is the envelope. Required, at most MaxEnvelopeBytes.
	Data []byte
	// Annotations are written on the signature manifest (for Notary
	// Project signatures, "io.cncf.notary.x509chain.thumbprint#S256": the
	// JSON list of the SHA-256 thumbprints of the certificate chain, leaf
	// first). Nil means none.
	Annotations map[string]string
	// Created is the signing time, written as the manifest's
	// org.opencontainers.image.created. Zero means the Unix epoch.
	Created time.Time
}

// AsReferrer returns a Signer that signs with es and stores each envelope
// as a referrer of its subject with StoreSignature.
func AsReferrer(es EnvelopeSigner) SignerFunc {
	return func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
		if es == nil {
			return ocispec.Descriptor{}, fmt.Errorf("%w: nil envelope signer", ErrSigningFailed)
		}
		if err := checkStored(ctx, repo, subject); err != nil {
			return ocispec.Descriptor{}, err
		}
		env, err := es.SignEnvelope(ctx, subject)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%w: %s: %w", ErrSigningFailed, subject.Digest, err)
		}
		return storeSignature(ctx, repo, subject, env)
	}
}

// StoreSignature stores env in repo as a signature manifest whose subject
// is subject (the referrers API, the fallback tag schema, or the graph of a
// local repository; see registry.Attach) and returns the manifest's
// descriptor. The manifest has the shape notation-go writes: the OCI empty
// config and the envelope as its one layer. subject must be in repo with
// exactly this media type and size; otherwise StoreSignature fails with
// ErrInvalidSubject before anything is pushed.
func StoreSignature(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, env *Envelope) (ocispec.Descriptor, error) {
	if err := checkStored(ctx, repo, subject); err != nil {
		return ocispec.Descriptor{}, err
	}
	return storeSignature(ctx, repo, subject, env)
}

// storeSignature is StoreSignature once subject is checked.
func storeSignature(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, env *Envelope) (ocispec.Descriptor, error) {
	switch {
	case env == nil:
		return ocispec.Descriptor{}, fmt.Errorf("%w: nil envelope for %s", ErrSigningFailed, subject.Digest)
	case env.MediaType == "" || len(env.Data) == 0:
		return ocispec.Descriptor{}, fmt.Errorf("%w: envelope for %s has no media type or no data", ErrSigningFailed, subject.Digest)
	case len(env.Data) > MaxEnvelopeBytes:
		return ocispec.Descriptor{}, fmt.Errorf("%w: envelope for %s: %d bytes, cap %d", ErrSigningFailed, subject.Digest, len(env.Data), MaxEnvelopeBytes)
	}
	at := env.ArtifactType
	if at == "" {
		at = artifact.TypeNotarySignature
	}
	d, err := registry.Attach(ctx, repo, subject, registry.Artifact{
		ArtifactType: at,
		Blobs:        []registry.Blob{{MediaType: env.MediaType, Data: env.Data}},
		Annotations:  maps.Clone(env.Annotations),
		Created:      env.Created,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: store signature of %s: %w", ErrSigningFailed, subject.Digest, err)
	}
	return d, nil
}

// checkStored checks subject and that repo holds it as described.
func checkStored(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) error {
	if err := CheckSubject(subject); err != nil {
		return err
	}
	if repo == nil {
		return fmt.Errorf("%w: nil repository", ErrSigningFailed)
	}
	got, err := repo.Resolve(ctx, subject.Digest.String())
	if err != nil {
		return fmt.Errorf("%w: resolve %s in %s: %w", ErrSigningFailed, subject.Digest, repo.Location(), err)
	}
	if got.Digest != subject.Digest || got.Size != subject.Size || got.MediaType != subject.MediaType {
		return fmt.Errorf("%w: %s resolves to %s %s (%d bytes), not %s (%d bytes)", ErrInvalidSubject,
			subject.Digest, got.MediaType, got.Digest, got.Size, subject.MediaType, subject.Size)
	}
	return nil
}
