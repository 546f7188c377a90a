package acquire

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/sign"
)

// sign signs the root, every platform manifest and every artifact cssc
// attached (sign.SignTree over the quarantined image, the publisher's
// artifacts left out), reusing a verified enterprise signature where one
// exists.
func (r *run) sign(ctx context.Context) (Verdict, string, map[string]any, error) {
	subjects := []digest.Digest{r.root.Digest}
	if manifest.IsIndex(r.root.MediaType) {
		for _, pi := range r.images {
			subjects = append(subjects, pi.desc.Digest)
		}
	}
	for _, a := range r.attached {
		subjects = append(subjects, a.Digest)
	}
	want := map[digest.Digest]bool{}
	for _, d := range subjects {
		want[d] = true
	}
	signed, err := sign.SignTree(ctx, r.p.cfg.Signer, r.qrepo, r.root, sign.TreeOptions{
		IndexManifests: true,
		Select:         func(d ocispec.Descriptor) bool { return want[d.Digest] },
		Reuse:          r.p.cfg.EnterpriseVerifier,
		ReuseAs:        r.rec.Golden, // enterprise signatures are trusted for golden's names
	})
	if err != nil {
		return "", "", nil, err
	}
	bySubject := map[digest.Digest]sign.Signed{}
	for _, s := range signed {
		bySubject[s.Subject.Digest] = s
	}
	var made, reused int
	for _, d := range subjects {
		s, ok := bySubject[d]
		if !ok {
			return "", "", nil, fmt.Errorf("sign %s: not found among the manifests and referrers of %s", d, r.root.Digest)
		}
		if s.Reused {
			reused++
		} else {
			made++
		}
		r.signatures = append(r.signatures, s.Signature)
		for j := range r.attached {
			if r.attached[j].Digest == d {
				r.attached[j].Signature = s.Signature.Digest
			}
		}
	}
	r.rec.Artifacts = r.attached
	return VerdictOK, fmt.Sprintf("%d subject(s) signed: %d new signature(s), %d reused", len(subjects), made, reused), nil, nil
}
