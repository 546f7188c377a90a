// Package devpki creates an INSECURE development certificate authority and
// code signing certificates, so that demos and tests can sign with Notary
// Project signatures without any setup. Keys are generated in memory and
// nothing protects them: never trust these certificates in production.
//
// The certificates follow the Notary Project profile: the root has key
// usage keyCertSign (and cRLSign) and basic constraints CA; a leaf has key
// usage digitalSignature only, extended key usage codeSigning, and a
// subject with C, ST and O, so that a trust policy can name it as
// "x509.subject: C=US, ST=WA, O=...". Chains are leaf first, ending with the
// root, as notation expects them.
//
// LeafOptions can also make certificates that a verifier must reject
// (expired, not yet valid, wrong key usage or extended key usage), and a CA
// with a CRL URL issues certificates whose revocation can be tested online
// (CA.CRLHandler behind an httptest server) or offline (CA.CRL handed to the
// verifier).
//
// NewInsecureDevelopmentTSA adds an RFC 3161 timestamp authority (root CA
// and timestamping certificate, RSA-2048) whose Handler answers timestamp
// requests over HTTP, so that timestamped signatures can be tested on
// loopback.
package devpki
