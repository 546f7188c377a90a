// Package sample seeds a registry with the realistic sample images that the
// demo and the pipeline tests acquire: a clean Debian image, one with a
// critical vulnerability, an Alpine image signed by its publisher with a
// publisher SBOM, a multi-arch index, and (optionally) one carrying the
// EICAR test file. It also bundles a small offline OSV database whose records
// are modelled on real ones.
package sample
