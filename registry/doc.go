// Package registry is how every other cssc package talks to OCI storage.
//
// It opens repositories from location strings, over oras-go v2:
//
//	registry.corp/quarantine/library/nginx   a remote registry (HTTPS, or plain HTTP for hosts in Options.PlainHTTP)
//	oci:/var/lib/cssc/golden/library/nginx   an OCI image layout directory
//	mem:quarantine/library/nginx             an in-memory repository, shared within one Client
//
// All three kinds implement the same Repository interface (push, fetch,
// resolve, tag, list tags, delete, list referrers) and satisfy oras.Target,
// so they can be handed straight to oras-go. A Client holds one HTTP client
// with retries (429, 5xx and network errors, exponential backoff honouring
// Retry-After up to a documented ceiling), one shared token cache and the
// caller's credentials (docker config.json with credential helpers, static
// credentials, or anonymous).
//
// A registry that accepts a request and then sends nothing (a slow loris)
// cannot hold a Client: a request that receives no byte for
// Options.StallTimeout (30 s by default) is abandoned and retried, and
// fails with a *StallError (ErrStalled) once the retries are spent; a
// response body that stops is reported the same way by Read. With the
// defaults a registry that never answers is given up after about three
// minutes (six attempts of 30 s, plus backoff); callers that want a
// shorter bound lower StallTimeout or MaxRetries, or set a deadline on
// their context.
//
// Referrers are listed with Referrers (artifactType filtered on the client
// side too, capped at MaxReferrers) and attached with Attach, which writes a
// deterministic OCI 1.1 artifact manifest: attaching the same content twice
// gives the same digest. Registries without the referrers API are handled
// through the referrers tag schema; old referrers indexes are kept
// (SkipReferrersGC), since deleting them races with concurrent writers.
//
// Everything read into memory is capped: manifests, indexes and referrers
// responses at Options.MaxManifestBytes (4 MiB by default), referrer lists at
// MaxReferrers. Errors are *Error values that wrap one of the sentinels
// (ErrNotFound, ErrUnauthorized, ErrDigestMismatch, ErrSizeExceeded,
// ErrSizeMismatch, ErrStalled, ErrInvalidReference, ErrInvalidManifest,
// ...), so callers branch with errors.Is: content whose size is not the
// one its descriptor says (a manifest that lies about the sizes of what it
// refers to) is ErrSizeMismatch, not an untyped oras-go error.
package registry
