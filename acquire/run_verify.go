package acquire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/sign"
)

func (r *run) verifySignatures(ctx context.Context) (Verdict, string, map[string]any, error) {
	if r.p.cfg.PublisherVerifier == nil {
		return VerdictSkipped, "no verifier configured", nil, nil
	}
	// The publisher signed the image where it published it: its
	// signatures are judged under the source repository's name, as
	// `notation verify` upstream would (trust policy registryScopes).
	v, err := sign.VerifyAs(ctx, r.p.cfg.PublisherVerifier, r.qrepo, r.src.Repository, r.root)
	if err != nil {
		return "", "", nil, err
	}
	if v == nil {
		return "", "", nil, errors.New("publisher verifier returned no verification")
	}
	// Signatures cssc made in an earlier run of this image are not the
	// publisher's: leave them out of the evidence.
	own := map[digest.Digest]bool{}
	if r.p.cfg.EnterpriseVerifier != nil {
		mine, err := sign.VerifyAs(ctx, r.p.cfg.EnterpriseVerifier, r.qrepo, r.rec.Golden, r.root)
		if err != nil {
			return "", "", nil, fmt.Errorf("enterprise signatures of %s: %w", r.root.Digest, err)
		}
		if mine != nil {
			for _, s := range mine.Signatures {
				if s.State == sign.StateVerified {
					own[s.Digest] = true
				}
			}
		}
	}
	v.Signatures = slices.DeleteFunc(v.Signatures, func(s sign.Signature) bool { return s.Digest != "" && own[s.Digest] })
	r.verification = v
	out := map[string]any{"verification": v}
	switch {
	case len(v.Signatures) == 0:
		return VerdictOK, "no publisher signature found", out, nil
	case v.Verified():
		return VerdictOK, "verified: " + strings.Join(v.VerifiedIdentities(), ", "), out, nil
	default:
		return VerdictFailed, fmt.Sprintf("%d signature(s), none verified", len(v.Signatures)), out, nil
	}
}

func (r *run) checkMetadata(ctx context.Context) (Verdict, string, map[string]any, error) {
	md, err := attest.Discover(ctx, r.qrepo, r.root, r.discoverOptions())
	if err != nil {
		return "", "", nil, err
	}
	r.meta = md
	var sboms, provs, broken int
	var errs []string
	for _, it := range md.Items {
		if it.Generated() {
			continue
		}
		switch {
		case it.Err != nil:
			broken++
			errs = append(errs, fmt.Sprintf("%s %s: %v", it.Form, it.Manifest.Digest, it.Err))
		case it.Kind == attest.KindSBOM:
			sboms++
		case it.Kind == attest.KindProvenance:
			provs++
		}
	}
	out := map[string]any{"sboms": sboms, "provenance": provs, "unreadable": errs, "truncated": md.Truncated}
	reason := fmt.Sprintf("publisher metadata: %d SBOM(s), %d provenance statement(s)", sboms, provs)
	if broken > 0 {
		return VerdictFailed, fmt.Sprintf("%s, %d unreadable", reason, broken), out, nil
	}
	return VerdictOK, reason, out, nil
}

// discoverOptions are the options of the publisher metadata discovery in
// quarantine and golden: the client's manifest cap, the publisher's budget
// (cssc's own artifacts do not count: the import drops publisher artifacts
// that claim to be cssc's).
func (r *run) discoverOptions() *attest.Options {
	return &attest.Options{
		MaxManifestBytes: r.p.cfg.Client.MaxManifestBytes(),
		MaxTotalBytes:    r.p.cfg.MaxPublisherMetadataBytes,
		ExemptGenerated:  true,
		Logger:           r.p.cfg.Logger,
	}
}
