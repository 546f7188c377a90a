// Package dn parses, compares and prints X.509 distinguished names the way
// people who use notation write them.
//
// The notation CLI's trust policy names a signer as
// "x509.subject: C=US, ST=WA, O=Example Publisher, CN=Release Signing": the
// attributes in certificate order, most significant first, separated by
// ", ". Go's pkix.Name.String and RFC 4514 print the same name the other
// way round and without spaces ("CN=Release Signing,O=Example
// Publisher,ST=WA,C=US"). Comparing the two as strings denies every signer;
// this package compares them as names.
//
// [Parse] reads either spelling (RFC 4514 escaping, any spacing around
// separators, attribute types in any case or as OIDs, multi-valued RDNs
// joined with '+'). [FromPKIX] takes a certificate's subject or issuer.
// [Name.String] prints the one canonical form cssc reports everywhere: the
// notation spelling, attributes ordered from country down to common name
// (DC, C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER, UID, E, then
// any other type as written), values escaped as RFC 4514 requires.
// [Name.Equal] compares two names regardless of order and spacing.
//
// In the flow: sign/notation reports signer identities with Name.String,
// and the policy matches its identity patterns against them with this
// package, so a policy may use either spelling.
package dn
