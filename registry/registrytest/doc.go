// Package registrytest starts real OCI registries in-process on loopback, for
// the tests of code built on cssc: cuelabs ociregistry with the referrers API
// ([OCI]) and without it ([OCINoReferrers], so clients fall back to the
// referrers tag schema), and the CNCF distribution registry v3 with its
// in-memory driver ([Distribution]), which has no referrers API.
//
// [Start] runs one registry for the length of a test and returns a
// registry.Client that reaches it over plain HTTP; [Options].Middleware
// wraps the registry's handler, to count requests or inject faults (drop a
// connection, corrupt a blob, answer 500). [Stores] returns every storage
// kind cssc supports (the three registries, an OCI layout directory and
// memory) as a table, so that one set of test cases runs against all of
// them. [NewHandler] gives the bare handler to programs that serve it
// themselves.
//
// Nothing here is a fake: the servers are the real registry
// implementations. Importing this package pulls those registries into the
// build; import it from tests and examples, not from production code.
package registrytest
