package acquire

import (
	"context"
	"strings"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
)

// evaluate decides from the evidence the steps gathered.
func (r *run) evaluate(ctx context.Context) (Verdict, string, map[string]any, error) {
	ev := r.evidence()
	d := r.p.cfg.Policy.Evaluate(ctx, ev)
	r.decision = &d
	r.rec.Decision = &d
	verdict := VerdictOK
	if !d.Allowed || d.WouldDeny {
		verdict = VerdictFailed
	}
	return verdict, summary(&d), map[string]any{"evidence": ev}, nil
}

// evidence assembles the policy evidence from what the steps found
// (attest.BuildEvidence). The image passes only if every platform does:
// findings of all platforms are merged.
func (r *run) evidence() *policy.Evidence {
	in := &attest.EvidenceInput{
		Time:         r.p.cfg.Now().UTC(),
		Source:       r.sourceRef(),
		Root:         r.root,
		Verification: r.verification,
		Metadata:     r.meta,
		Reports:      r.reports,
	}
	for _, pi := range r.images {
		in.Images = append(in.Images, attest.EvidenceImage{Descriptor: pi.desc, SBOM: pi.sbom, SBOMSource: pi.sbomFrom, PublisherSBOM: pi.pubSBOM})
	}
	for _, a := range r.attached {
		if a.Kind == "provenance" {
			in.GeneratedProvenance = a.Digest
		}
	}
	in.EndOfLife = r.eol
	return attest.BuildEvidence(in)
}

// sourceRef is the source of the run as the policy sees it: a local
// source's registry is its kind ("oci", "mem").
func (r *run) sourceRef() policy.Reference {
	ref := policy.Reference{
		Registry: r.src.Ref.Registry, Repository: r.src.Ref.Repository, Tag: r.src.Tag, Digest: r.rec.SourceDigest.String(),
	}
	if r.src.Kind != registry.KindRemote {
		ref.Registry = r.src.Kind
		ref.Repository = strings.TrimPrefix(r.src.Repository, r.src.Kind+":")
	}
	return ref
}
