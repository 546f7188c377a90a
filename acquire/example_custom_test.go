package acquire_test

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// keyFinder is a custom scanner: it walks the image's final filesystem
// and reports every file that holds a PEM private key, as a report of its
// own kind, "secrets".
func keyFinder(ctx context.Context, img *scan.Image) (*scan.Report, error) {
	rep := &scan.Report{Kind: "secrets", Tool: scan.Tool{Name: "keyfinder", Version: "1.0"}}
	err := imagefs.Walk(ctx, img.Repository, img.Manifest, imagefs.WalkOptions{}, func(_ context.Context, f *imagefs.File, r io.Reader) error {
		head := make([]byte, 64)
		n, _ := io.ReadFull(r, head)
		if bytes.Contains(head[:n], []byte("PRIVATE KEY-----")) {
			rep.Findings = append(rep.Findings, scan.Finding{ID: "private-key", Severity: scan.SeverityHigh, Path: f.Path})
		}
		return nil
	})
	return rep, err
}

// teamRule is a custom policy rule: only the platform team's repositories
// may be acquired.
type teamRule struct{}

func (teamRule) Name() string { return "team-namespace" }

func (teamRule) Evaluate(_ context.Context, ev *policy.Evidence) policy.RuleResult {
	if strings.HasPrefix(ev.Source.Repository, "platform/") {
		return policy.RuleResult{Verdict: policy.Pass, Reason: "owned by the platform team"}
	}
	return policy.RuleResult{Verdict: policy.Fail, Reason: ev.Source.Repository + " is not a platform team repository"}
}

// kmsSigner is a custom signer that only makes envelopes, as a cloud KMS
// does; sign.AsReferrer stores them. Here the "KMS" is an in-memory key
// behind notation's envelope code, and it counts what it signs.
type kmsSigner struct {
	notary *notation.Signer
	signed atomic.Int64
}

func (k *kmsSigner) SignEnvelope(ctx context.Context, subject ocispec.Descriptor) (*sign.Envelope, error) {
	k.signed.Add(1)
	return k.notary.SignEnvelope(ctx, subject)
}

// A pipeline with a custom scanner, a custom policy rule and a custom
// signer, from an in-process registry into OCI layout directories.
func Example_custom() {
	ctx := context.Background()

	// The "external" registry: a real OCI registry, in-process.
	handler, err := registrytest.NewHandler(registrytest.OCI)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	upstream := strings.TrimPrefix(srv.URL, "http://")
	client := registry.NewClient(registry.Options{PlainHTTP: []string{upstream}})
	push := func(repository, tag string, files ...imagetest.File) {
		repo, err := client.Repository(ctx, registry.Join(upstream, repository))
		if err != nil {
			panic(err)
		}
		d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(files...)}}.Push(ctx, repo)
		if err != nil {
			panic(err)
		}
		if err := repo.Tag(ctx, d, tag); err != nil {
			panic(err)
		}
	}
	app := imagetest.File{Path: "app/run.sh", Data: []byte("#!/bin/sh\n"), Mode: 0o755}
	push("platform/app", "1.0", app)
	push("platform/app", "1.1", app, imagetest.File{Path: "etc/ssl/server.key", Data: []byte("-----BEGIN PRIVATE KEY-----\n...")})
	push("sandbox/tool", "1.0", app)

	// The enterprise key lives in a "KMS"; a development CA certifies its
	// public half, and the enterprise verifier trusts that CA.
	kmsKey, _ := devpki.GenerateKey(devpki.ECDSAP256)
	ca, _ := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	subject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Example"}, CommonName: "Example golden images"}
	leaf, _ := ca.Issue(devpki.LeafOptions{PublicKey: kmsKey.Public(), Subject: subject})
	notary, _ := notation.NewSigner(kmsKey, leaf.Chain, notation.SignerOptions{})
	kms := &kmsSigner{notary: notary}
	trust, _ := notation.ParseTrustPolicy([]byte(`{"version": "1.0", "trustPolicies": [{"name": "golden", "registryScopes": ["*"],
		"signatureVerification": {"level": "strict"}, "trustStores": ["ca:corp"],
		"trustedIdentities": ["x509.subject: C=US, ST=WA, O=Example, CN=Example golden images"]}]}`))
	store := &notation.TrustStore{}
	_ = store.Add(notation.StoreCA, "corp", ca.Certificate)
	enterprise, _ := notation.NewVerifier(notation.VerifierOptions{TrustPolicy: trust, TrustStore: store, Revocation: notation.RevocationOffline})

	// The policy: reports of kind "secrets" are required and must be
	// empty; the custom rule runs in every decision.
	doc, _ := policy.Parse([]byte("name: example\nreports:\n  - kind: secrets\n    maxSeverity: none\n    required: true\n"))
	pol, err := policy.Compile(doc, policy.WithRule(teamRule{}))
	if err != nil {
		panic(err)
	}

	dir, _ := os.MkdirTemp("", "cssc-example-")
	defer os.RemoveAll(dir)
	p, err := acquire.NewPipeline(acquire.Config{
		Client:             client,
		Quarantine:         "oci:" + filepath.Join(dir, "quarantine"),
		Golden:             "oci:" + filepath.Join(dir, "golden"),
		Scanners:           []scan.Scanner{scan.ScannerFunc(keyFinder)},
		Signer:             sign.AsReferrer(kms),
		EnterpriseVerifier: enterprise,
		Policy:             pol,
	})
	if err != nil {
		panic(err)
	}
	for _, src := range []string{"platform/app:1.0", "platform/app:1.1", "sandbox/tool:1.0"} {
		rec, _ := p.Run(ctx, registry.Join(upstream, src), acquire.RunOptions{})
		fmt.Printf("%s: %s\n", src, rec.Outcome)
		if rec.Decision != nil {
			for _, r := range rec.Decision.Failed() {
				fmt.Printf("  %s: %s\n", r.Rule, r.Reason)
			}
		}
	}

	// Golden holds the promoted image, signed by the KMS key.
	golden, _ := client.Repository(ctx, "oci:"+filepath.Join(dir, "golden", "platform/app"))
	img, _ := golden.Resolve(ctx, "1.0")
	v, _ := enterprise.Verify(ctx, golden, img)
	fmt.Println("golden platform/app:1.0 verified:", v.Verified())
	fmt.Println("envelopes the KMS signed:", kms.signed.Load())
	// Output:
	// platform/app:1.0: promoted
	// platform/app:1.1: denied
	//   reports: not accepted: secrets findings above none
	// sandbox/tool:1.0: denied
	//   team-namespace: sandbox/tool is not a platform team repository
	// golden platform/app:1.0 verified: true
	// envelopes the KMS signed: 4
}
