// Package resolve tells a team which golden images to use: given a
// Dockerfile or Kubernetes manifests, it maps each external image
// reference to its golden equivalent in the catalog, pinned by digest,
// and lists those that have none, that the caller may not use, or whose
// golden image is past its end of life.
//
// The parsers read real files: ParseDockerfile reads FROM lines with ARG
// substitution (defaults and build arguments, ${VAR:-default} and its
// kin), skips the file's own stage names and scratch, and also reads COPY
// --from and RUN --mount=...,from= images; it handles the escape
// directive, continuations, comment lines and heredocs. ParseKubernetes
// reads multi-document YAML and finds the containers, init containers and
// ephemeral containers of any pod spec (Pod, Deployment, StatefulSet,
// DaemonSet, ReplicaSet, Job, CronJob, PodTemplate, Lists, and custom
// resources that embed a pod template). Both are capped (MaxFileBytes,
// MaxReferences) and fuzzed.
//
// A Resolver (New) answers from the catalog store: an entry whose trusted
// provenance names the reference as its source (Entry.Source), the one
// that carries the tag now first (golden tags follow their source tags,
// see catalog/upstream); a reference pinned by digest matches the entry
// acquired from that digest. A reference that is already golden is
// pinned by digest. The result says golden, deprecated (usable, with the
// replacement), end-of-life (with the replacement), restricted
// (Options.Access is the hook; by default an entry with an access level
// is restricted; with access rules give the caller's visibility,
// catalog.AccessPolicy.For(groups...).Allows, which says who may use the
// image and how to ask), none, or unresolved (an ARG without a value).
// Rewrite
// puts the pinned references into the file, in place, and leaves
// everything else byte for byte.
//
//	refs, err := resolve.ParseDockerfile(f, resolve.DockerfileOptions{BuildArgs: args})
//	r, err := resolve.New(resolve.Options{Store: store})
//	results, err := r.Resolve(ctx, refs)
//	pinned, n, err := resolve.Rewrite(src, results)
//
// The example command examples/resolve prints the table and rewrites
// files.
package resolve
