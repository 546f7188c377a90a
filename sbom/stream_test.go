package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeWhole is the reference: tools-golang decodes the whole document
// into its model, which is then reduced as the streaming reader reduces
// each element.
func decodeWhole(data []byte) (*Document, error) {
	sd, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	parts, err := partsOf(sd)
	if err != nil {
		return nil, err
	}
	return parts.document()
}

// TestStreamSPDXMatchesWholeDocument: the streaming SPDX 2.3 reader gives
// the document decoding the whole model gives, on real tools' output,
// cssc's own and hand-written edge cases (documentDescribes, null
// elements, relationships before packages, extracted licences after).
func TestStreamSPDXMatchesWholeDocument(t *testing.T) {
	inputs := map[string][]byte{}
	paths, err := filepath.Glob("testdata/*.spdx.json")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		inputs[filepath.Base(p)] = data
	}
	doc := &Document{Name: "x", Packages: []Package{
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", PURL: "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12&upstream=zlib", Licenses: []string{"Zlib"}, Layer: "sha256:aa", Locations: []string{"var/lib/dpkg/status"}},
		{Name: "left-pad", Version: "1.3.0", PURL: "pkg:npm/left-pad@1.3.0", Licenses: []string{"LicenseRef-custom"}},
	}, Skipped: []SkippedFile{{Path: "big.jar", Reason: "too big"}}}
	out, err := EncodeSPDX(doc, SPDXOptions{Subject: "sha256:0000000000000000000000000000000000000000000000000000000000000000"})
	require.NoError(t, err)
	inputs["cssc"] = out
	inputs["edge"] = []byte(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"edge","documentNamespace":"https://x",
		"creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: x"]},
		"relationships":[null,{"spdxElementId":"SPDXRef-f1","relatedSpdxElement":"SPDXRef-p1","relationshipType":"DEPENDENCY_MANIFEST_OF"},
			{"spdxElementId":"SPDXRef-p2","relatedSpdxElement":"SPDXRef-f2","relationshipType":"OTHER","comment":"evident-by: indicates the package's existence is evident by the given file"}],
		"documentDescribes":["SPDXRef-root"],
		"packages":[{"name":"main","SPDXID":"SPDXRef-root"},{"name":"a","SPDXID":"SPDXRef-p1","licenseDeclared":"LicenseRef-x","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:golang/example.com/a@v1.0.0"}]},
			{"name":"b","SPDXID":"SPDXRef-p2","sourceInfo":"acquired package info from installed python package manifest file: /usr/lib/b/METADATA"},{}],
		"files":[{"fileName":"/go.mod","SPDXID":"SPDXRef-f1"},{"fileName":"/b/METADATA","SPDXID":"SPDXRef-f2","comment":"layerID: sha256:bb"}],
		"hasExtractedLicensingInfos":[{"licenseId":"LicenseRef-x","name":"Custom Licence","extractedText":"..."}],
		"snippets":[],"annotations":[]}`)
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			want, err := decodeWhole(data)
			require.NoError(t, err)
			got, err := Decode(data, MediaTypeSPDX)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// FuzzStreamSPDX: whatever the whole-document reader accepts, the
// streaming reader accepts and reads the same way.
func FuzzStreamSPDX(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.spdx.json")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","documentDescribes":["SPDXRef-a"],"packages":[{"name":"a","SPDXID":"SPDXRef-a"},{"name":"b","SPDXID":"SPDXRef-b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := func() (doc *Document, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = errors.New("panic")
				}
			}()
			return decodeWhole(data)
		}()
		if err != nil || want == nil {
			return
		}
		var probe struct {
			V string `json:"spdxVersion"`
		}
		if json.Unmarshal(data, &probe) != nil || probe.V != "SPDX-2.3" {
			return
		}
		got, err := Decode(data, MediaTypeSPDX)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
}
