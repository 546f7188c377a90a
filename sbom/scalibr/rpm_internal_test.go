package scalibr

import (
	"testing"

	"github.com/google/osv-scalibr/extractor"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	"github.com/google/osv-scalibr/purl"
	"github.com/stretchr/testify/assert"
)

func TestSplitSourceRPM(t *testing.T) {
	for in, want := range map[string][2]string{
		"chkconfig-1.20-2.el9.src.rpm":                             {"chkconfig", "1.20-2.el9"},
		"aaa_base-84.87+git20180409.04c9dae-150300.10.3.1.src.rpm": {"aaa_base", "84.87+git20180409.04c9dae-150300.10.3.1"},
		"java-17-openjdk-17.0.9.0.9-2.el9.src.rpm":                 {"java-17-openjdk", "17.0.9.0.9-2.el9"},
		"foo-1.0-1.nosrc.rpm":                                      {"foo", "1.0-1"},
		"":                                                         {"", ""},
		"(none)":                                                   {"", ""},
		"foo-1.0.src.rpm":                                          {"", ""},
		"-1.0-1.src.rpm":                                           {"", ""},
		"foo--1.src.rpm":                                           {"", ""},
		"foo-1.0-.src.rpm":                                         {"", ""},
	} {
		n, v := splitSourceRPM(in)
		assert.Equal(t, want, [2]string{n, v}, in)
	}
}

func TestRPMEcosystem(t *testing.T) {
	for _, tc := range []struct {
		id, version, want string
	}{
		{"rhel", "9.3", "Red Hat:9"},
		{"rocky", "9.2", "Rocky Linux:9"},
		{"almalinux", "9.4", "AlmaLinux:9"},
		{"opensuse-leap", "15.5", "openSUSE:Leap 15.5"},
		{"sles", "15.5", "SUSE:15.5"},
		{"azurelinux", "3.0", "Azure Linux:3.0"},
		{"fedora", "40", ""},
		{"centos", "7", ""},
	} {
		p := &extractor.Package{
			Name:     "openssl",
			Version:  "3.0.7-24.el9",
			PURLType: purl.TypeRPM,
			Metadata: &rpmmeta.Metadata{PackageName: "openssl", SourceRPM: "openssl-3.0.7-24.el9.src.rpm", OSID: tc.id, OSVersionID: tc.version, Architecture: "x86_64"},
		}
		got := convert(found{pkg: p, path: "var/lib/rpm/rpmdb.sqlite"})
		assert.Equal(t, tc.want, got.Ecosystem, tc.id)
		assert.Equal(t, "", got.SourceName, "source equal to the name is not repeated")
		assert.Contains(t, got.PURL, "pkg:rpm/", tc.id)
	}
}
