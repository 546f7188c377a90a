package sample

import (
	"context"
	"crypto/x509"
	"embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"

	"crypto/x509/pkix"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

//go:embed osv/*.json osv-update/*.json
var osvFS embed.FS

// OSV returns the bundled OSV database (a directory of OSV JSON records).
func OSV() fs.FS {
	sub, _ := fs.Sub(osvFS, "osv")
	return sub
}

// OSVUpdate returns the records an update of the bundled database adds:
// the critical Expat advisory DSA-5770-1 (CVE-2024-45490), which affects
// the Multi image alone. A database directory holding OSV() and then
// OSVUpdate() is the updated database, with which a rescan finds a new
// finding in that image only.
func OSVUpdate() fs.FS {
	sub, _ := fs.Sub(osvFS, "osv-update")
	return sub
}

// Names of the sample images (repository paths); every one is tagged "1.0".
const (
	Clean      = "library/clean"
	Vulnerable = "library/vulnerable"
	Signed     = "publisher/signed"
	Multi      = "library/multi"
	Malware    = "library/malware"
	Tag        = "1.0"
)

// Image is one seeded image.
type Image struct {
	Name        string // repository path
	Location    string // source location with tag, for Pipeline.Run
	Description string
}

// World is what Seed made.
type World struct {
	Images []Image
	// PublisherCA is the (insecure, development) CA of the publisher that
	// signed the Signed image; PublisherIdentity is its signer's subject.
	PublisherCA       *devpki.CA
	PublisherIdentity string
}

// Options configure Seed.
type Options struct {
	// Malware adds the image carrying the EICAR test file; eicar is its
	// content (clamdtest.EICAR builds it at run time). Nil means no
	// malware image.
	EICAR []byte
}

var epoch = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

func debian(pkgs ...imagetest.Package) []imagetest.File {
	return []imagetest.File{
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(pkgs...),
		{Path: "etc/debian_version", Data: []byte("12.7\n")},
	}
}

var cleanPackages = []imagetest.Package{
	{Name: "base-files", Version: "12.4+deb12u7"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"},
	{Name: "libc6", Version: "2.36-9+deb12u8", Source: "glibc"},
}

// multiPackages are the Multi image's: the clean ones and Expat, which
// only this image has (the advisory of OSVUpdate affects it alone).
var multiPackages = append(cleanPackages[:len(cleanPackages):len(cleanPackages)],
	imagetest.Package{Name: "libexpat1", Version: "2.5.0-1", Source: "expat"})

// Seed pushes the sample images to the repositories under prefix (a
// location prefix such as "127.0.0.1:5000" or "mem:upstream").
func Seed(ctx context.Context, client *registry.Client, prefix string, opts Options) (*World, error) {
	w := &World{}
	push := func(name, desc string, img imagetest.Image) (registry.Repository, ocispec.Descriptor, error) {
		repo, err := client.Repository(ctx, registry.Join(prefix, name))
		if err != nil {
			return nil, ocispec.Descriptor{}, err
		}
		d, err := img.Push(ctx, repo)
		if err != nil {
			return nil, ocispec.Descriptor{}, err
		}
		if err := repo.Tag(ctx, d, Tag); err != nil {
			return nil, ocispec.Descriptor{}, err
		}
		w.Images = append(w.Images, Image{Name: name, Location: registry.Join(prefix, name) + ":" + Tag, Description: desc})
		return repo, d, nil
	}

	if _, _, err := push(Clean, "Debian 12, up to date but for an unfixed low-severity zlib issue", imagetest.Image{
		Layers: []imagetest.Blob{imagetest.Layer(debian(cleanPackages...)...)},
	}); err != nil {
		return nil, err
	}
	if _, _, err := push(Vulnerable, "Debian 12 with an OpenSSL affected by a critical advisory (DSA-5764-1)", imagetest.Image{
		Layers: []imagetest.Blob{imagetest.Layer(debian(append(cleanPackages[:2:2],
			imagetest.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl"},
			imagetest.Package{Name: "openssl", Version: "3.0.11-1~deb12u2"})...)...)},
	}); err != nil {
		return nil, err
	}

	// The publisher's image: Alpine, signed with the publisher's key, with
	// the publisher's SPDX SBOM attached.
	signedRepo, signed, err := push(Signed, "Alpine 3.20, signed by its publisher (Notary Project) with a publisher SPDX SBOM", imagetest.Image{
		Layers: []imagetest.Blob{imagetest.Layer(
			imagetest.OSRelease("alpine", "3.20.3", ""),
			imagetest.APKInstalled(
				imagetest.Package{Name: "musl", Version: "1.2.5-r1", License: "MIT"},
				imagetest.Package{Name: "busybox", Version: "1.36.1-r29", License: "GPL-2.0-only"},
			),
		)},
	})
	if err != nil {
		return nil, err
	}
	doc := &sbom.Document{Name: Signed, Created: epoch, Creators: []string{"Organization: Example Publisher"}, Packages: []sbom.Package{
		{Name: "musl", Version: "1.2.5-r1", PURL: "pkg:apk/alpine/musl@1.2.5-r1?arch=x86_64&distro=3.20.3", Ecosystem: "Alpine:v3.20", SourceName: "musl", Licenses: []string{"MIT"}},
		{Name: "busybox", Version: "1.36.1-r29", PURL: "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=3.20.3", Ecosystem: "Alpine:v3.20", SourceName: "busybox", Licenses: []string{"GPL-2.0-only"}},
	}}
	spdx, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{Subject: signed.Digest.String()})
	if err != nil {
		return nil, err
	}
	if _, err := registry.Attach(ctx, signedRepo, signed, registry.Artifact{
		ArtifactType: artifact.TypeSPDX,
		Blobs:        []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: spdx}},
		Created:      epoch,
	}); err != nil {
		return nil, err
	}
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Example Publisher"}, CommonName: "Example Publisher Root CA"}})
	if err != nil {
		return nil, err
	}
	leafSubject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Example Publisher"}, CommonName: "Example Publisher Release Signing"}
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: leafSubject})
	if err != nil {
		return nil, err
	}
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := signer.Sign(ctx, signedRepo, signed); err != nil {
		return nil, fmt.Errorf("sample: publisher signature: %w", err)
	}
	w.PublisherCA, w.PublisherIdentity = ca, "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"

	// A multi-arch index.
	repo, err := client.Repository(ctx, registry.Join(prefix, Multi))
	if err != nil {
		return nil, err
	}
	var children []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := imagetest.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: arch},
			Layers:   []imagetest.Blob{imagetest.Layer(debian(multiPackages...)...)},
			Env:      []string{"ARCH=" + arch},
		}.Push(ctx, repo)
		if err != nil {
			return nil, err
		}
		children = append(children, d)
	}
	idx, err := imagetest.PushIndex(ctx, repo, children...)
	if err != nil {
		return nil, err
	}
	if err := repo.Tag(ctx, idx, Tag); err != nil {
		return nil, err
	}
	w.Images = append(w.Images, Image{Name: Multi, Location: registry.Join(prefix, Multi) + ":" + Tag, Description: "Debian 12 with Expat for linux/amd64 and linux/arm64 (an index)"})

	if opts.EICAR != nil {
		if _, _, err := push(Malware, "Debian 12 carrying the EICAR test file", imagetest.Image{
			Layers: []imagetest.Blob{
				imagetest.Layer(debian(cleanPackages...)...),
				imagetest.Layer(imagetest.File{Path: "usr/share/doc/readme.com", Data: opts.EICAR}),
			},
		}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// patchedMultiPackages are those of the publisher's patched rebuild of the
// Multi image: Expat fixed for DSA-5770-1.
var patchedMultiPackages = append(cleanPackages[:len(cleanPackages):len(cleanPackages)],
	imagetest.Package{Name: "libexpat1", Version: "2.5.0-1+deb12u1", Source: "expat"})

// RebuildMulti pushes the publisher's patched rebuild of the Multi image
// under prefix (a multi-arch index whose Expat, 2.5.0-1+deb12u1, is fixed
// for the advisory of OSVUpdate) and moves its tag to it, as a publisher
// does. It returns the new index.
func RebuildMulti(ctx context.Context, client *registry.Client, prefix string) (ocispec.Descriptor, error) {
	repo, err := client.Repository(ctx, registry.Join(prefix, Multi))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var children []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		d, err := imagetest.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: arch},
			Layers:   []imagetest.Blob{imagetest.Layer(debian(patchedMultiPackages...)...)},
			Env:      []string{"ARCH=" + arch},
		}.Push(ctx, repo)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		children = append(children, d)
	}
	idx, err := imagetest.PushIndex(ctx, repo, children...)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return idx, repo.Tag(ctx, idx, Tag)
}

// Verifier returns a notation verifier that trusts ca for signatures made
// by identity (an X.509 subject as trust policies write it,
// "C=US, ST=WA, O=..., CN=..."), at level strict, offline revocation, in
// the registry scopes given (the repositories, "registry.corp/golden/app",
// as notation users write them; none means every scope, "*"). The demo and
// the tests verify publisher and enterprise signatures with it.
func Verifier(name string, ca *devpki.CA, identity string, scopes ...string) (*notation.Verifier, error) {
	return verifier(name, identity, scopes, ca.Certificate)
}

// VerifierPEM is Verifier for a CA given as PEM: it trusts every
// certificate in caPEM (a worker process reads them from a file).
func VerifierPEM(name string, caPEM []byte, identity string, scopes ...string) (*notation.Verifier, error) {
	var cas []*x509.Certificate
	for block, rest := pem.Decode(caPEM); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		cas = append(cas, c)
	}
	return verifier(name, identity, scopes, cas...)
}

func verifier(name, identity string, scopes []string, cas ...*x509.Certificate) (*notation.Verifier, error) {
	tp, err := notation.ParseTrustPolicy(TrustPolicy(name, identity, scopes...))
	if err != nil {
		return nil, err
	}
	ts := &notation.TrustStore{}
	for _, c := range cas {
		if err := ts.Add(notation.StoreCA, name, c); err != nil {
			return nil, err
		}
	}
	return notation.NewVerifier(notation.VerifierOptions{TrustPolicy: tp, TrustStore: ts, Revocation: notation.RevocationOffline})
}

// TrustPolicy returns a notation trust policy document (JSON), as the
// notation CLI reads it from trustpolicy.oci.json, with one statement named
// name that trusts the CA trust store "ca:<name>" for identity, at level
// strict, in the registry scopes given (none means "*").
func TrustPolicy(name, identity string, scopes ...string) []byte {
	if len(scopes) == 0 {
		scopes = []string{"*"}
	}
	sc, _ := json.Marshal(scopes)
	id, _ := json.Marshal("x509.subject: " + identity)
	return fmt.Appendf(nil, `{"version":"1.0","trustPolicies":[{"name":%q,"registryScopes":%s,`+
		`"signatureVerification":{"level":"strict"},"trustStores":["ca:%s"],"trustedIdentities":[%s]}]}`, name, sc, name, id)
}
