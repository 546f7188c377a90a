// Command notation-cssc-test is a minimal notation signing plugin used by
// the tests of package notation: it implements get-plugin-metadata,
// describe-key and generate-signature (SIGNATURE_GENERATOR.RAW) with an
// ECDSA P-256 key read from the pluginConfig "key" (PEM path) and the chain
// from "chain" (PEM path). Standard library only.
package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

type request struct {
	KeyID        string            `json:"keyId"`
	Payload      []byte            `json:"payload"`
	PluginConfig map[string]string `json:"pluginConfig"`
}

func main() {
	if len(os.Args) < 2 {
		fail("missing command")
	}
	in, _ := io.ReadAll(os.Stdin)
	var req request
	_ = json.Unmarshal(in, &req)
	var out any
	switch os.Args[1] {
	case "get-plugin-metadata":
		out = map[string]any{"name": "cssc-test", "description": "test plugin", "version": "1.0.0", "url": "https://example.com",
			"supportedContractVersions": []string{"1.0"}, "capabilities": []string{"SIGNATURE_GENERATOR.RAW"}}
	case "describe-key":
		out = map[string]any{"keyId": req.KeyID, "keySpec": "EC-256"}
	case "generate-signature":
		keyPEM, err := os.ReadFile(req.PluginConfig["key"])
		if err != nil {
			fail(err.Error())
		}
		b, _ := pem.Decode(keyPEM)
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			fail(err.Error())
		}
		h := sha256.Sum256(req.Payload)
		r, s, err := ecdsa.Sign(rand.Reader, k.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			fail(err.Error())
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		chainPEM, err := os.ReadFile(req.PluginConfig["chain"])
		if err != nil {
			fail(err.Error())
		}
		var chain [][]byte
		for rest := chainPEM; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			chain = append(chain, blk.Bytes)
		}
		out = map[string]any{"keyId": req.KeyID, "signature": sig, "signingAlgorithm": "ECDSA-SHA-256", "certificateChain": chain}
	default:
		fail("unsupported command " + os.Args[1])
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, `{"errorCode":"ERROR","errorMessage":%q}`, msg)
	os.Exit(1)
}
