// Package notation signs and verifies Notary Project signatures with
// notation-go: step 9 (sign the image and every attached artifact with
// enterprise keys) and part of step 3 (verify publisher signatures) of the
// Acquire flow.
//
// # Signing
//
// A Signer signs by digest and stores the signature as a referrer of the
// subject with exactly the manifest shape of the notation CLI (it goes
// through notation-go's own registry adapter): an OCI image manifest whose
// config media type is application/vnd.cncf.notary.signature, one layer
// holding the JWS (default) or COSE envelope, and the annotations
// io.cncf.notary.x509chain.thumbprint#S256 and
// org.opencontainers.image.created. It works with every registry.Repository:
// registries with the referrers API, registries without it (the referrers
// tag schema), OCI layout directories and memory.
//
// Signers come from a PEM key and chain (NewSignerFromFiles), from any
// crypto.Signer such as a cloud KMS client (NewSigner adapts it: RSASSA-PSS
// for RSA, raw r||s for ECDSA) or from an installed notation plugin
// (NewPluginSigner, plugin directory given explicitly). SignerOptions adds
// RFC 3161 timestamping, expiry and user metadata.
//
// # Verifying
//
// A Verifier takes a trust policy document and a trust store, as Go values
// (ParseTrustPolicy, TrustStore.Add) or read from the notation CLI's file
// layout (LoadConfigDir, or LoadTrustPolicy and LoadTrustStore over any
// fs.FS). The revocation mode must be chosen explicitly: online, offline
// with supplied CRLs, or RevocationSkipUnsafe.
//
// Every signature of the subject is verified on its own and reported with
// each check (integrity, authenticity including the trusted identity,
// authenticTimestamp, expiry, revocation, subject, user metadata), its
// result and whether the verification level enforces it. A signature is
// sign.StateVerified only when every performed check passed: notation's
// "permissive" and "audit" levels accept signatures with failed checks
// (an expired certificate, an untrusted signer), and those are reported as
// sign.StateFailed with the failed check marked Enforced=false, never as
// verified. Signatures the verifier could not check (fetch errors, unknown
// revocation status, level "skip", no applicable trust policy) are
// sign.StateInconclusive.
//
// # Trust policy scope
//
// The trust policy statement that applies is chosen by repository name,
// as `notation verify docker.io/library/nginx@sha256:...` chooses it: the
// statement whose registryScopes hold "docker.io/library/nginx", else the
// "*" statement. Verify uses the name of the repository the signatures are
// read from. VerifyAs (sign.VerifyAs, sign.ScopedVerifier) reads them from
// one repository and chooses the statement by another name: the Acquire
// pipeline verifies publisher signatures in quarantine under the source
// repository's name, and its own signatures under golden's, so that a
// trust policy is written for the repositories people know:
//
//	{
//	  "version": "1.0",
//	  "trustPolicies": [{
//	    "name": "nginx-publisher",
//	    "registryScopes": ["docker.io/library/nginx"],
//	    "signatureVerification": {"level": "strict"},
//	    "trustStores": ["ca:publisher"],
//	    "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"]
//	  }]
//	}
//
// OCI layout directories and memory repositories have no registry name;
// they select VerifierOptions.LocalScope. LoadConfigDir reads
// trustpolicy.oci.json, or trustpolicy.json when there is no
// trustpolicy.oci.json, as the notation CLI does.
//
// # Identities
//
// Signature.Identity and Signature.Issuer are the signing certificate's
// subject and issuer distinguished names in the spelling of the trust
// policy's x509.subject identities: "C=US, ST=WA, O=Example, CN=Signer"
// (package sign/dn; Go's pkix.Name.String prints the reverse). Policies
// compare them as names, so either spelling works there. Signature.Timestamp is
// the RFC 3161 timestamp's time when a trusted timestamp was verified
// (Timestamped is then true), else the signing time the signer claimed.
//
// Nothing in this package reads fixed paths, environment variables or
// global state; loggers are passed in options.
package notation
