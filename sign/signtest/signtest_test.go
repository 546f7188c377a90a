package signtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
	"github.com/cssc-go/cssc/sign/signtest"
)

// identity is the subject devpki gives its leaves by default.
const identity = "C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development signer"

// kit is a real Notary Project signer and a verifier that trusts it.
type kit struct {
	signer   *notation.Signer
	verifier sign.Verifier
}

func newKit(t *testing.T) kit {
	t.Helper()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(devpki.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := sample.Verifier("signtest", ca, identity)
	if err != nil {
		t.Fatal(err)
	}
	return kit{signer: s, verifier: v}
}

var repos atomic.Int64

func memRepo(t testing.TB) registry.Repository {
	repo, err := registry.NewClient(registry.Options{}).Repository(context.Background(), fmt.Sprintf("mem:signtest/%d", repos.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestRun: a real signer passes, also when its envelope is stored apart
// (sign.AsReferrer).
func TestRun(t *testing.T) {
	k := newKit(t)
	for name, s := range map[string]sign.Signer{"notation": k.signer, "envelope": sign.AsReferrer(k.signer)} {
		t.Run(name, func(t *testing.T) {
			signtest.Run(t, signtest.Config{Signer: s, Verifier: k.verifier, Repository: memRepo, Identity: identity, Untrusted: newKit(t).signer})
		})
	}
}

// badSigners each break one rule of the contract.
func badSigners(k kit) map[string]sign.Signer {
	return map[string]sign.Signer{
		"signs another subject": sign.SignerFunc(func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
			other, err := registry.Attach(ctx, repo, subject, registry.Artifact{ArtifactType: "application/vnd.example.decoy",
				Blobs: []registry.Blob{{MediaType: "text/plain", Data: []byte(subject.Digest)}}})
			if err != nil {
				return ocispec.Descriptor{}, err
			}
			return k.signer.Sign(ctx, repo, other)
		}),
		"stores nothing": sign.SignerFunc(func(ctx context.Context, _ registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
			if _, err := k.signer.SignEnvelope(ctx, subject); err != nil {
				return ocispec.Descriptor{}, err
			}
			return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("nowhere"), Size: 7, ArtifactType: artifact.TypeNotarySignature}, nil
		}),
		"accepts bad subjects": sign.SignerFunc(func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
			if sign.CheckSubject(subject) != nil {
				return ocispec.Descriptor{}, nil
			}
			return k.signer.Sign(ctx, repo, subject)
		}),
		"stores a corrupt envelope": sign.AsReferrer(sign.EnvelopeSignerFunc(func(ctx context.Context, subject ocispec.Descriptor) (*sign.Envelope, error) {
			env, err := k.signer.SignEnvelope(ctx, subject)
			if err != nil {
				return nil, err
			}
			env.Data = append([]byte(nil), env.Data...)
			env.Data[len(env.Data)/2] ^= 1
			return env, nil
		})),
		"fails": sign.SignerFunc(func(context.Context, registry.Repository, ocispec.Descriptor) (ocispec.Descriptor, error) {
			return ocispec.Descriptor{}, errors.New("signing service unavailable")
		}),
	}
}

// TestRunFailsBadSigners runs the kit on broken signers in a child process
// (a failing *testing.T cannot be captured in-process) and expects each to
// fail.
func TestRunFailsBadSigners(t *testing.T) {
	if name := os.Getenv("SIGNTEST_BAD"); name != "" {
		k := newKit(t)
		signtest.Run(t, signtest.Config{Signer: badSigners(k)[name], Verifier: k.verifier, Repository: memRepo, Identity: identity})
		return
	}
	if testing.Short() {
		t.Skip("spawns child test processes")
	}
	for name := range badSigners(kit{}) {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunFailsBadSigners$")
			cmd.Env = append(os.Environ(), "SIGNTEST_BAD="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("signtest.Run passed a signer that %s (err %v):\n%s", name, err, out)
			}
		})
	}
}
