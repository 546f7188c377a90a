// Package cssc is a Go SDK for the first two stages of a secure container
// supply chain, as laid out in Microsoft's Containers Secure Supply Chain
// framework: Acquire (bring external images in safely) and Catalog (host,
// discover, rescan and retire approved images).
//
// It is a library of small packages that platform teams wire into their own
// services:
//
//   - registry: OCI storage (remote registries, OCI layout directories,
//     memory), auth, retries, referrers;
//   - sign: signing and verification (sign/notation, sign/cosign);
//   - scan: the image filesystem, scanners (scan/osv, scan/clamav) and SARIF
//     reports; sbom: SBOM model, SPDX and CycloneDX, generation;
//   - attest: publisher metadata discovery and generated attestations
//     (SBOM, provenance, lifecycle, verification summary);
//   - policy: the policy document and the gate that reads only evidence;
//   - acquire: the importer and the pipeline that runs the ten Acquire steps
//     from an external registry through quarantine to the golden registry.
//
// Capability packages (registry, sign, scan, sbom, attest, policy) never
// import the stage package acquire. The examples directory holds main
// programs; `go run ./examples/demo` runs the whole flow offline.
package cssc
