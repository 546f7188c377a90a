// Package testregistry starts real OCI registries in-process on loopback for
// tests: cuelabs ociregistry with and without the referrers API, and the CNCF
// distribution registry (v3, in-memory driver), which has no referrers API.
// It also lists every storage kind cssc supports as a table, so that one set
// of test cases can run against all of them.
//
// Nothing here is a fake: the servers are the real registry implementations,
// reached over HTTP on 127.0.0.1 through registry.Client.
package testregistry
