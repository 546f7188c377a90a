// Package sample seeds a registry with the realistic sample images that the
// demo, the examples and the pipeline tests acquire: a clean Debian image,
// one with a critical vulnerability, an Alpine image signed by its publisher
// with a publisher SBOM, a multi-arch index, and (optionally) one carrying
// the EICAR test file; RebuildMulti pushes the publisher's patched rebuild
// of the multi-arch image under the same tag. It also bundles a small offline OSV database whose
// records are modelled on real ones, and builds the notation verifier and
// trust policy that trust the sample publisher.
//
// It uses public cssc packages only (artifact, registry, sbom,
// imagefs/imagetest, sign/devpki, sign/notation), so a program built on the
// demo can copy it.
package sample
