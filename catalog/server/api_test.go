package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
)

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "decode %s", r.body)
}

// apiError decodes an error body.
func (r reply) apiError(t *testing.T) server.Error {
	t.Helper()
	var b struct{ Error server.Error }
	r.json(t, &b)
	return b.Error
}

func (e *env) call(t *testing.T, method, path string, body io.Reader, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "read %s %s", method, path)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) get(t *testing.T, path string, header ...string) reply {
	t.Helper()
	return e.call(t, http.MethodGet, path, nil, header...)
}

func apiImage(en *catalog.Entry) string {
	return "/api/v1/images/" + en.Repository + "@" + en.Digest.String()
}

func TestSearchAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	total := len(e.demo.Entries)

	var res catalog.Result
	r := e.get(t, "/api/v1/search")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &res)
	assert.Equal(t, total, res.Total)
	assert.Len(t, res.Entries, total)
	assert.Nil(t, res.Facets, "no facets unless asked")
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))

	cases := []struct {
		query string
		want  catalog.Query
	}{
		{"q=nginx", catalog.Query{Text: "nginx"}},
		{"status=deprecated", catalog.Query{Status: catalog.StatusDeprecated}},
		{"maxSeverity=high", catalog.Query{MaxSeverity: "high"}},
		{"platform=linux%2Farm64", catalog.Query{Platform: "linux/arm64"}},
		{"fixable=true", catalog.Query{Fixable: true}},
		{"license=GPL-2.0-only", catalog.Query{License: "GPL-2.0-only"}},
		{"signer=" + url.QueryEscape(demodata.Signer), catalog.Query{Signer: demodata.Signer}},
		{"owner=team-web", catalog.Query{Owner: "team-web"}},
		{"label=pci%3Dtrue", catalog.Query{Label: "pci=true"}},
		{"trusted=false", catalog.Query{Trusted: new(false)}},
		{"cve=CVE-2024-45490", catalog.Query{Vulnerability: "CVE-2024-45490"}},
		{"package=openssl&range=%3C+3.0.14&ecosystem=Debian", catalog.Query{Package: &catalog.PackageQuery{Name: "openssl", Range: "< 3.0.14", Ecosystem: "Debian"}}},
		{"eolBefore=2026-04-01", catalog.Query{EndOfLifeBefore: mustDate("2026-04-01")}},
		{"tag=latest", catalog.Query{Tag: "latest"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			want, err := e.store.Search(context.Background(), c.want)
			require.NoError(t, err)
			r := e.get(t, "/api/v1/search?"+c.query)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var got catalog.Result
			r.json(t, &got)
			assert.Equal(t, want.Total, got.Total, "total")
			assert.Positive(t, got.Total, "the demo data has matches for %s", c.query)
			assert.Less(t, got.Total, total+1)
		})
	}

	t.Run("facets", func(t *testing.T) {
		r := e.get(t, "/api/v1/search?facets=true")
		var res catalog.Result
		r.json(t, &res)
		require.NotNil(t, res.Facets)
		st := map[string]int{}
		for _, f := range res.Facets.Status {
			st[f.Value] = f.Count
		}
		assert.Equal(t, map[string]int{"active": 7, "deprecated": 1, "retired": 1}, st)
	})

	t.Run("pages", func(t *testing.T) {
		var seen []string
		next := ""
		for range 10 {
			path := "/api/v1/search?limit=2"
			if next != "" {
				path += "&cursor=" + url.QueryEscape(next)
			}
			r := e.get(t, path)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			var res catalog.Result
			r.json(t, &res)
			assert.LessOrEqual(t, len(res.Entries), 2)
			for _, s := range res.Entries {
				seen = append(seen, s.Repository+"@"+s.Digest.String())
			}
			if next = res.Next; next == "" {
				break
			}
		}
		assert.Len(t, seen, total, "every entry once")
		assert.True(t, slices.IsSorted(seen), "in order")
		assert.Len(t, slices.Compact(slices.Clone(seen)), total, "no duplicates")
	})

	bad := []struct{ query, param string }{
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
		{"cursor=bm9wZQ", "cursor"},
		{"cursor=%%%", ""},
		{"color=blue", "color"},
		{"status=active&status=retired", "status"},
		{"status=bogus", "status"},
		{"maxSeverity=severe", "maxSeverity"},
		{"eol=soon", "eol"},
		{"eolAfter=yesterday", "eolAfter"},
		{"eolAfter=2027-01-01&eolBefore=2026-01-01", "eolBefore"},
		{"eolWithin=-1", "eolWithin"},
		{"range=%3C+1", "package"},
		{"package=openssl&range=%3E%3E1", "range"},
		{"fixable=maybe", "fixable"},
		{"trusted=perhaps", "trusted"},
		{"digest=sha256:xyz", "digest"},
		{"q=" + strings.Repeat("x", 600), "q"},
		{"q=" + strings.Repeat("x", 2000), "q"},
		{"q=%ff", "q"},
		{"facets=sometimes", "facets"},
	}
	for _, c := range bad {
		t.Run("bad "+c.query[:min(len(c.query), 40)], func(t *testing.T) {
			r := e.get(t, "/api/v1/search?"+c.query)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			er := r.apiError(t)
			assert.Equal(t, http.StatusBadRequest, er.Status)
			assert.NotEmpty(t, er.Message)
			assert.Equal(t, c.param, er.Parameter, "the error names the parameter: %s", er.Message)
		})
	}
}

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

type openerFunc func(ctx context.Context, location string) (registry.Repository, error)

func (f openerFunc) Repository(ctx context.Context, location string) (registry.Repository, error) {
	return f(ctx, location)
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestETagAndGzip(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/api/v1/search?facets=true", apiImage(e.demo.Entries[0]), "/", "/sweeps", "/api/v1/openapi.json"} {
		t.Run(path, func(t *testing.T) {
			r := e.get(t, path, "Accept-Encoding", "identity")
			require.Equal(t, http.StatusOK, r.status)
			require.Empty(t, r.header.Get("Content-Encoding"))
			tag := r.header.Get("ETag")
			require.NotEmpty(t, tag)
			again := e.get(t, path, "If-None-Match", tag)
			assert.Equal(t, http.StatusNotModified, again.status)
			assert.Empty(t, again.body)
			other := e.get(t, path, "If-None-Match", `"something-else"`)
			assert.Equal(t, http.StatusOK, other.status)

			z := e.get(t, path, "Accept-Encoding", "gzip")
			require.Equal(t, http.StatusOK, z.status)
			require.Equal(t, "gzip", z.header.Get("Content-Encoding"))
			zr, err := gzip.NewReader(bytes.NewReader(z.body))
			require.NoError(t, err)
			plain, err := io.ReadAll(zr)
			require.NoError(t, err)
			assert.Equal(t, string(r.body), string(plain), "same content compressed")
			assert.NotEqual(t, tag, z.header.Get("ETag"), "a compressed body has its own entity tag")
			assert.Equal(t, http.StatusNotModified, e.get(t, path, "Accept-Encoding", "gzip", "If-None-Match", z.header.Get("ETag")).status)
			assert.Equal(t, "", e.get(t, path, "Accept-Encoding", "gzip;q=0").header.Get("Content-Encoding"))
		})
	}

	t.Run("changes with the data", func(t *testing.T) {
		r := e.get(t, "/api/v1/search")
		en := e.demo.Entries[0].Clone()
		en.Owner = "someone-else"
		require.NoError(t, e.store.Put(context.Background(), en))
		after := e.get(t, "/api/v1/search", "If-None-Match", r.header.Get("ETag"))
		assert.Equal(t, http.StatusOK, after.status, "a changed result is sent again")
		assert.NotEqual(t, r.header.Get("ETag"), after.header.Get("ETag"))
	})
}

func TestImageAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	redis := e.demo.Entry("library/redis", "7.2")
	payments := e.demo.Entry("payments/api", "2.4.1")
	debian := e.demo.Entry("library/debian", "12")
	base := apiImage(nginx)

	t.Run("entry", func(t *testing.T) {
		r := e.get(t, base)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		want, err := catalog.Marshal(nginx)
		require.NoError(t, err)
		var got catalog.Entry
		r.json(t, &got)
		gotb, err := catalog.Marshal(&got)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(gotb))
		head := e.call(t, http.MethodHead, base, nil)
		assert.Equal(t, http.StatusOK, head.status)
		assert.Empty(t, head.body)
	})

	t.Run("tag reference redirects to the digest", func(t *testing.T) {
		r := e.get(t, "/api/v1/images/"+nginx.Repository+":1.27")
		require.Equal(t, http.StatusFound, r.status, "%s", r.body)
		assert.Equal(t, base, r.header.Get("Location"))
		assert.Equal(t, http.StatusNotFound, e.get(t, "/api/v1/images/"+nginx.Repository+":9.9").status)
	})

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{
			"/api/v1/images/" + nginx.Repository + "@" + digest.FromString("nope").String(),
			"/api/v1/images/nowhere/x@" + nginx.Digest.String(),
			"/api/v1/images/" + nginx.Repository + "@sha256:short",
			"/api/v1/images/" + nginx.Repository,
			base + "/nothing-here",
			base + "/reports/" + digest.FromString("nope").String(),
			base + "/reports/not-a-digest",
		} {
			r := e.get(t, p)
			assert.Equal(t, http.StatusNotFound, r.status, "%s: %s", p, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"), p)
		}
	})

	t.Run("tags", func(t *testing.T) {
		var out struct {
			Tags []catalog.TagRecord
		}
		r := e.get(t, base+"/tags")
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &out)
		var tags []string
		for _, rec := range out.Tags {
			assert.Equal(t, nginx.Digest, rec.Digest)
			tags = append(tags, rec.Tag)
		}
		assert.ElementsMatch(t, []string{"1.27", "1.27.3", "latest"}, tags)
	})

	t.Run("reports and SARIF download", func(t *testing.T) {
		var out struct{ Reports []server.ReportRow }
		r := e.get(t, base+"/reports")
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &out)
		require.Len(t, out.Reports, len(nginx.Reports))
		current := 0
		for _, rep := range out.Reports {
			if rep.Current {
				current++
			}
		}
		assert.Equal(t, 4, current, "one current vulnerability and malware report per platform")
		first := out.Reports[0]
		require.NotEmpty(t, first.Download)
		assert.True(t, first.Time.Equal(slices.MaxFunc(nginx.Reports, func(a, b catalog.Report) int { return a.Time.Compare(b.Time) }).Time), "newest first")
		d := e.get(t, first.Download)
		require.Equal(t, http.StatusOK, d.status, "%s", d.body)
		assert.Equal(t, "application/sarif+json", d.header.Get("Content-Type"))
		assert.Equal(t, `"`+first.Digest.String()+`"`, d.header.Get("ETag"))
		assert.Contains(t, d.header.Get("Content-Disposition"), "attachment")
		rep, err := scan.DecodeSARIF(d.body)
		require.NoError(t, err)
		assert.Equal(t, first.Subject, rep.Subject)
		assert.Equal(t, digest.FromBytes(d.body).String(), d.header.Get("Docker-Content-Digest"))
		assert.Equal(t, http.StatusNotModified, e.get(t, first.Download, "If-None-Match", d.header.Get("ETag")).status)

		// An untrusted report is listed but never served.
		u := e.get(t, apiImage(redis)+"/reports/"+redis.Reports[0].Digest.String())
		if redis.Reports[0].Trusted {
			u = e.get(t, apiImage(redis)+"/reports/"+redis.Reports[1].Digest.String())
		}
		assert.Equal(t, http.StatusNotFound, u.status)
		assert.Equal(t, "untrusted", u.apiError(t).Code)
	})

	t.Run("SBOM download", func(t *testing.T) {
		r := e.get(t, base+"/sbom")
		require.Equal(t, http.StatusBadRequest, r.status, "an index needs a platform")
		assert.Equal(t, "platform", r.apiError(t).Parameter)
		assert.Contains(t, r.apiError(t).Message, "linux/arm64")

		r = e.get(t, base+"/sbom?platform=linux%2Farm64")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "application/spdx+json", r.header.Get("Content-Type"))
		doc, err := sbom.Decode(r.body, "application/spdx+json")
		require.NoError(t, err)
		assert.Len(t, doc.Packages, nginx.Children[0].SBOM.Packages)

		single := e.get(t, apiImage(debian)+"/sbom")
		assert.Equal(t, http.StatusOK, single.status, "one platform needs no parameter")
		assert.Equal(t, http.StatusNotFound, e.get(t, base+"/sbom?platform=windows%2Famd64").status)
		assert.Equal(t, http.StatusNotFound, e.get(t, apiImage(payments)+"/sbom").status, "an untrusted SBOM is not served")
		assert.Equal(t, http.StatusBadRequest, e.get(t, base+"/sbom?digest=bogus").status)
		head := e.call(t, http.MethodHead, base+"/sbom?platform=linux%2Famd64", nil)
		assert.Equal(t, http.StatusOK, head.status)
		assert.NotEmpty(t, head.header.Get("Content-Length"))
	})

	t.Run("findings export", func(t *testing.T) {
		r := e.get(t, base+"/findings")
		require.Equal(t, http.StatusOK, r.status)
		var rows []server.ExportRow
		r.json(t, &rows)
		assert.Len(t, rows, nginx.Vulnerabilities.Total())
		for _, row := range rows {
			assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, row.Platforms)
		}
		c := e.get(t, base+"/findings?format=csv")
		require.Equal(t, http.StatusOK, c.status)
		assert.Equal(t, "text/csv; charset=utf-8", c.header.Get("Content-Type"))
		recs, err := csv.NewReader(bytes.NewReader(c.body)).ReadAll()
		require.NoError(t, err)
		assert.Len(t, recs, 1+nginx.Vulnerabilities.Total())
		assert.Equal(t, "repository", recs[0][0])
		assert.Equal(t, http.StatusBadRequest, e.get(t, base+"/findings?format=xml").status)
	})

	t.Run("changes since the last report", func(t *testing.T) {
		var d server.Diff
		r := e.get(t, base+"/changes")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &d)
		var ids []string
		for _, f := range d.New {
			ids = append(ids, f.ID)
		}
		assert.ElementsMatch(t, []string{"CVE-2024-45490", "CVE-2024-2961"}, ids)
		require.Len(t, d.Resolved, 1)
		assert.Equal(t, "CVE-2023-31484", d.Resolved[0].ID)
		assert.Equal(t, "osv-2026-02-14", d.Database)
	})

	t.Run("history", func(t *testing.T) {
		var h struct{ Points []server.SeverityPoint }
		r := e.get(t, base+"/history")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &h)
		require.Len(t, h.Points, 3)
		assert.Equal(t, 1, h.Points[2].Critical)
		assert.Equal(t, 5, h.Points[2].Total())
		assert.Equal(t, 4, h.Points[1].Total())
	})

	t.Run("parameters a route does not take", func(t *testing.T) {
		for _, p := range []string{base + "?x=1", base + "/tags?x=1", base + "/reports?limit=1", base + "/changes?x=1", base + "/history?x=1"} {
			assert.Equal(t, http.StatusBadRequest, e.get(t, p).status, p)
		}
	})
}

func TestRegistryFailures(t *testing.T) {
	t.Run("no registry", func(t *testing.T) {
		e := newEnv(t, envOptions{tweak: func(o *server.Options) { o.Registry = nil }})
		nginx := e.demo.Entry("library/nginx", "1.27.3")
		for _, p := range []string{"/sbom?platform=linux%2Farm64", "/changes", "/reports/" + nginx.Reports[0].Digest.String()} {
			r := e.get(t, apiImage(nginx)+p)
			assert.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", p, r.body)
			assert.Equal(t, "no_registry", r.apiError(t).Code)
		}
		assert.Equal(t, http.StatusOK, e.get(t, strings.TrimPrefix(apiImage(nginx), "/api/v1")).status, "the image page works without the registry")
	})

	t.Run("registry down", func(t *testing.T) {
		var down bool
		e := newEnv(t, envOptions{})
		nginx := e.demo.Entry("library/nginx", "1.27.3")
		// A second registry client pointed at a closed server.
		dead := registrytest.Start(t, registrytest.OCI)
		dead.Server.Close()
		down = true
		h, err := server.New(server.Options{Store: e.store, Registry: openerFunc(func(ctx context.Context, loc string) (registry.Repository, error) {
			return dead.Client.Repository(ctx, strings.Replace(loc, e.reg.Host, dead.Host, 1))
		})})
		require.NoError(t, err)
		e.srv.Config.Handler = h
		r := e.get(t, apiImage(nginx)+"/sbom?platform=linux%2Farm64")
		assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
		assert.Equal(t, "registry_error", r.apiError(t).Code)
		page := e.get(t, strings.TrimPrefix(apiImage(nginx), "/api/v1"))
		assert.Equal(t, http.StatusOK, page.status, "the image page still renders")
		assert.Contains(t, string(page.body), "could not be read", "and says what it could not show")
		assert.True(t, down)
	})

	t.Run("altered content aborts the download", func(t *testing.T) {
		var corrupt bool
		reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if corrupt && strings.Contains(r.URL.Path, "/blobs/") {
					next.ServeHTTP(&flipWriter{ResponseWriter: w}, r)
					return
				}
				next.ServeHTTP(w, r)
			})
		}})
		store := catalog.NewMemoryStore()
		d, err := demodata.Seed(context.Background(), reg.Client, reg.Host+"/golden", store, demodata.Now)
		require.NoError(t, err)
		h, err := server.New(server.Options{Store: store, Registry: reg.Client})
		require.NoError(t, err)
		e := &env{srv: httptestServer(t, h)}
		corrupt = true
		nginx := d.Entry("library/nginx", "1.27.3")
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+apiImage(nginx)+"/sbom?platform=linux%2Farm64", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		require.Error(t, err, "a body that does not match its digest must not arrive complete")
	})
}

func TestReverseQueries(t *testing.T) {
	e := newEnv(t, envOptions{})
	t.Run("vulnerability", func(t *testing.T) {
		var v server.VulnerabilityResult
		r := e.get(t, "/api/v1/vulnerabilities/CVE-2024-45490")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &v)
		assert.Equal(t, 2, v.Total)
		assert.Equal(t, "critical", v.Severity)
		assert.Contains(t, v.Aliases, "GHSA-8ghw-xcm5-w6rw")
		for _, img := range v.Images {
			require.Len(t, img.Findings, 1)
			assert.Equal(t, "2.5.0-1+deb12u1", img.Findings[0].FixedVersion)
		}
		var alias server.VulnerabilityResult
		e.get(t, "/api/v1/vulnerabilities/ghsa-8ghw-xcm5-w6rw").json(t, &alias)
		assert.Equal(t, 2, alias.Total, "by alias, any case")
		var none server.VulnerabilityResult
		r = e.get(t, "/api/v1/vulnerabilities/CVE-1999-0001")
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &none)
		assert.Zero(t, none.Total)
		assert.NotNil(t, none.Images)
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/vulnerabilities/CVE-2024-45490?cve=CVE-1").status)
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/vulnerabilities/"+url.PathEscape("a b")).status)
	})
	t.Run("package", func(t *testing.T) {
		var out struct {
			Total  int
			Images []server.ImagePackages
		}
		r := e.get(t, "/api/v1/packages/openssl?range=%3C%3D+3.0.11-1~deb12u2&ecosystem=Debian")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &out)
		assert.Equal(t, 6, out.Total, "the Debian images")
		for _, img := range out.Images {
			require.NotEmpty(t, img.Packages)
			for _, p := range img.Packages {
				assert.True(t, p.Name == "openssl" || p.SourceName == "openssl", "%s is openssl or built from it", p.Name)
			}
		}
		var none struct{ Total int }
		e.get(t, "/api/v1/packages/openssl?range=%3C+3.0.0").json(t, &none)
		assert.Zero(t, none.Total)
		var src struct{ Total int }
		e.get(t, "/api/v1/packages/glibc").json(t, &src)
		assert.Equal(t, 6, src.Total, "by source package name")
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/packages/openssl?range=%3E%3E1").status)
	})
	t.Run("licence", func(t *testing.T) {
		var res catalog.Result
		r := e.get(t, "/api/v1/licenses/GPL-2.0-only?facets=true")
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &res)
		assert.Equal(t, 2, res.Total, "alpine and busybox")
		var expr catalog.Result
		e.get(t, "/api/v1/licenses/"+url.PathEscape("MPL-2.0 AND MIT")).json(t, &expr)
		assert.Equal(t, 2, expr.Total)
	})
	t.Run("end of life", func(t *testing.T) {
		var res catalog.Result
		r := e.get(t, "/api/v1/endoflife?eolWithin=30")
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &res)
		var names []string
		for _, s := range res.Entries {
			names = append(names, s.Repository[strings.LastIndex(s.Repository, "/")+1:])
		}
		assert.ElementsMatch(t, []string{"alpine", "node", "redis"}, names)
		r = e.get(t, "/api/v1/endoflife")
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "eolWithin", r.apiError(t).Parameter)
	})
	t.Run("tags and repositories", func(t *testing.T) {
		nginx := e.demo.Entry("library/nginx", "1.27.3")
		var tags struct {
			Current map[string]digest.Digest
			History []catalog.TagRecord
		}
		r := e.get(t, "/api/v1/tags?repository="+url.QueryEscape(nginx.Repository))
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &tags)
		assert.Equal(t, nginx.Digest, tags.Current["latest"])
		assert.Len(t, tags.History, 6, "1.27 and latest moved once")
		var latest struct {
			Current map[string]digest.Digest
			History []catalog.TagRecord
		}
		r = e.get(t, "/api/v1/tags?repository="+url.QueryEscape(nginx.Repository)+"&tag=latest")
		r.json(t, &latest)
		assert.Len(t, latest.History, 2)
		assert.Len(t, latest.Current, 1)
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/tags").status)
		assert.Equal(t, http.StatusNotFound, e.get(t, "/api/v1/tags?repository=nowhere").status)
		var repos struct{ Repositories []string }
		e.get(t, "/api/v1/repositories").json(t, &repos)
		assert.Len(t, repos.Repositories, 8)
	})
	t.Run("compare", func(t *testing.T) {
		old, cur := e.demo.Entry("library/nginx", "1.27.2"), e.demo.Entry("library/nginx", "1.27.3")
		var c server.Comparison
		r := e.get(t, "/api/v1/compare?a="+url.QueryEscape(old.Key())+"&b="+url.QueryEscape(cur.Key()))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &c)
		require.Len(t, c.Packages.Changed, 1)
		assert.Equal(t, server.PackageChange{Name: "nginx", Ecosystem: "Debian:12", From: "1.27.2-1~bookworm", To: "1.27.3-1~bookworm"}, c.Packages.Changed[0])
		var added []string
		for _, f := range c.Findings.Added {
			added = append(added, f.ID)
		}
		assert.ElementsMatch(t, []string{"CVE-2024-45490", "CVE-2024-2961", "CVE-2024-25062"}, added)
		for q, param := range map[string]string{
			"a=" + url.QueryEscape(old.Key()):                                "a",
			"a=nope&b=" + url.QueryEscape(cur.Key()):                         "a",
			"a=" + url.QueryEscape(old.Key()) + "&b=" + url.QueryEscape("x"): "b",
		} {
			r := e.get(t, "/api/v1/compare?"+q)
			assert.Equal(t, http.StatusBadRequest, r.status, q)
			assert.Equal(t, param, r.apiError(t).Parameter, q)
		}
		r = e.get(t, "/api/v1/compare?a="+url.QueryEscape(old.Key())+"&b="+url.QueryEscape(old.Repository+"@"+digest.FromString("x").String()))
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "b", r.apiError(t).Parameter)
	})
	t.Run("sweeps", func(t *testing.T) {
		var s struct{ Sweeps []catalog.Sweep }
		e.get(t, "/api/v1/sweeps").json(t, &s)
		assert.Len(t, s.Sweeps, len(e.demo.Sweeps))
		e.get(t, "/api/v1/sweeps?limit=1").json(t, &s)
		assert.Len(t, s.Sweeps, 1)
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/sweeps?limit=0").status)
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/sweeps?limit=1000").status)
		none := newEnv(t, envOptions{tweak: func(o *server.Options) { o.Sweeps = nil }})
		r := none.get(t, "/api/v1/sweeps")
		require.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, `{"sweeps":[]}`, string(r.body))
	})
}

func TestExportFindings(t *testing.T) {
	e := newEnv(t, envOptions{})
	var want int
	for _, en := range e.demo.Entries {
		want += en.Vulnerabilities.Total()
	}
	r := e.get(t, "/api/v1/findings?format=csv")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	require.NoError(t, err)
	assert.Len(t, recs, 1+want, "a header and one row per finding of every image")

	var rows []server.ExportRow
	r = e.get(t, "/api/v1/findings?cve=CVE-2024-45490")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &rows)
	var ids []string
	for _, row := range rows {
		ids = append(ids, row.Repository)
	}
	assert.Len(t, slices.Compact(ids), 2, "findings of the matching images only")

	var empty []server.ExportRow
	r = e.get(t, "/api/v1/findings?q=no-such-image")
	r.json(t, &empty)
	assert.Empty(t, empty)
	assert.Equal(t, "[]\n", string(r.body))

	assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/findings?limit=5").status)
	assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/findings?format=pdf").status)

	small := newEnv(t, envOptions{tweak: func(o *server.Options) { o.MaxExportEntries = 3 }})
	r = small.get(t, "/api/v1/findings")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "export_too_large", r.apiError(t).Code)
}

type flipWriter struct {
	http.ResponseWriter
}

func (f *flipWriter) Write(b []byte) (int, error) {
	c := bytes.Clone(b)
	if len(c) > 10 {
		c[10] ^= 0xff
	}
	return f.ResponseWriter.Write(c)
}

func TestCSVDefusesFormulas(t *testing.T) {
	store := catalog.NewMemoryStore()
	en := &catalog.Entry{Repository: "r.corp/golden/x", Digest: digest.FromString("x"), Children: []catalog.Child{{
		Digest: digest.FromString("x"), Vulnerabilities: catalog.VulnerabilitySummary{Scanned: true},
		Findings: []catalog.Finding{{ID: "=HYPERLINK(\"http://evil\")", Package: "+pkg", Version: "-1", Severity: "high"}},
	}}}
	require.NoError(t, store.Put(context.Background(), en))
	h, err := server.New(server.Options{Store: store})
	require.NoError(t, err)
	e := &env{srv: httptestServer(t, h)}
	r := e.get(t, "/api/v1/findings?format=csv")
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, cell := range recs[1] {
		assert.False(t, cell != "" && strings.ContainsRune("=+-@", rune(cell[0])), "cell %q would run as a formula", cell)
	}
}

var linkRE = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)

// TestPageWeight checks every page with its stylesheet, script and icon
// stays under 100 KB.
func TestPageWeight(t *testing.T) {
	e := newEnv(t, envOptions{})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	old := e.demo.Entry("library/nginx", "1.27.2")
	for _, p := range []string{"/", "/?q=nginx", "/images/" + nginx.Key(), "/cve/CVE-2024-45490", "/compare?a=" + url.QueryEscape(old.Key()) + "&b=" + url.QueryEscape(nginx.Key()), "/sweeps", "/cve", "/compare"} {
		r := e.get(t, p)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", p, r.body)
		total := len(r.body)
		assets := map[string]bool{}
		for _, m := range linkRE.FindAllStringSubmatch(string(r.body), -1) {
			u := strings.ReplaceAll(m[1], "&amp;", "&")
			if assets[u] {
				continue
			}
			assets[u] = true
			a := e.get(t, u)
			require.Equal(t, http.StatusOK, a.status, u)
			total += len(a.body)
		}
		assert.Len(t, assets, 3, "%s: stylesheet, script and icon", p)
		assert.Less(t, total, 100*1024, "%s weighs %d bytes", p, total)
		t.Logf("%-60.60s %6d bytes (page %d)", p, total, len(r.body))
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.get(t, "/")
	m := linkRE.FindStringSubmatch(string(r.body))
	require.NotNil(t, m)
	s := e.get(t, strings.ReplaceAll(m[1], "&amp;", "&"))
	assert.Equal(t, http.StatusOK, s.status)
	assert.Contains(t, s.header.Get("Cache-Control"), "immutable")
	assert.Equal(t, http.StatusNotFound, e.get(t, "/static/nothing.css").status)
	plain := e.get(t, "/static/style.css")
	assert.Equal(t, http.StatusOK, plain.status)
	assert.NotContains(t, plain.header.Get("Cache-Control"), "immutable", "an unversioned URL is not cached for ever")
	csp := r.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, string(r.body), "style=\"", "no inline styles (the CSP forbids them)")
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
}

func TestMethodsAndUnknownRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.call(t, http.MethodDelete, "/api/v1/search", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
	assert.Equal(t, "method_not_allowed", r.apiError(t).Code)
	r = e.get(t, "/api/v2/search")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	r = e.get(t, "/no/such/page")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
	assert.Contains(t, string(r.body), "404")
	r = e.call(t, http.MethodPost, "/", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "text/html")
}

func TestPortalPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	for path, want := range map[string][]string{
		"/":                                    {"9</b> images", "Worst finding at most"},
		"/?status=retired":                     {"1</b> image", "status: retired"},
		"/?maxSeverity=bad":                    {"maxSeverity must be one of"},
		"/images/" + nginx.Key():               {"nginx", "docker pull", "Contoso Golden Signing", "CVE-2024-45490", "new findings", "osv-2026-02-27", "<svg class=\"chart\""},
		"/images/" + nginx.Key() + "?all=true": {"CVE-2024-45490"},
		"/cve/CVE-2024-6119":                   {"3.0.14-1~deb12u2", "DSA-5764-1"},
		"/cve":                                 {"Find affected images"},
		"/sweeps":                              {"osv-2026-02-14 → osv-2026-02-27", "skipped: database unchanged", "report signature: signer"},
		"/compare":                             {"Compare two images"},
	} {
		r := e.get(t, path)
		if strings.Contains(path, "bad") {
			assert.Equal(t, http.StatusBadRequest, r.status, path)
		} else {
			assert.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		}
		for _, w := range want {
			assert.Contains(t, string(r.body), w, path)
		}
	}
	r := e.get(t, "/images/"+nginx.Repository+":latest")
	assert.Equal(t, http.StatusFound, r.status)
	assert.Equal(t, "/images/"+nginx.Key(), r.header.Get("Location"))
	assert.Equal(t, http.StatusNotFound, e.get(t, "/images/"+nginx.Repository+"@"+digest.FromString("x").String()).status)
	assert.Equal(t, http.StatusNotFound, e.get(t, "/images/"+nginx.Key()+"/extra").status)
	assert.Equal(t, http.StatusBadRequest, e.get(t, "/images/"+nginx.Key()+"?all=maybe").status)
	r = e.get(t, "/cve?id=CVE-2024-6119")
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/cve/CVE-2024-6119", r.header.Get("Location"))
	r = e.get(t, "/compare?a=nope&b=nope")
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), "repository@digest")
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.get(t, "/api/v1/openapi.json")
	require.Equal(t, http.StatusOK, r.status)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	r.json(t, &doc)
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	// Every $ref resolves.
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/([^/]+)/([^"]+)"`).FindAllStringSubmatch(string(r.body), -1) {
		_, ok := doc.Components[m[1]][m[2]]
		assert.True(t, ok, "unresolved $ref %s/%s", m[1], m[2])
	}

	// Every documented operation is served (no "no API route" 404), and
	// answers with a documented status.
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	ref := nginx.Repository + "@" + nginx.Digest.String()
	pending := func(name string) string {
		a, err := e.requests.Submit(context.Background(), requests.Submission{Reference: "ghcr.io/acme/" + name + ":1", Reason: "walking the API", Owner: "team-x", Requester: "alice"})
		require.NoError(t, err)
		return a.Request.ID
	}
	toApprove, toDeny := pending("approve-me"), pending("deny-me")
	fill := strings.NewReplacer("{ref}", ref, "{report}", nginx.Reports[len(nginx.Reports)-1].Digest.String(),
		"{id}", "CVE-2024-6119", "{name}", "openssl", "{license}", "MIT")
	query := map[string]string{
		"/api/v1/images/{ref}/sbom": "?platform=linux%2Famd64", "/api/v1/tags": "?repository=" + url.QueryEscape(nginx.Repository),
		"/api/v1/endoflife": "?eolWithin=90", "/api/v1/compare": "?a=" + url.QueryEscape(ref) + "&b=" + url.QueryEscape(ref),
	}
	ops := 0
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops++
			assert.NotEmpty(t, op.OperationID, "%s %s has an operationId", method, path)
			var body io.Reader
			hdr := []string{"X-User", "alice"}
			if method != "get" {
				body = strings.NewReader(`{"owner":"team-x"}`)
				if strings.HasSuffix(path, "/rescan") {
					body = strings.NewReader(`{}`)
				}
				if strings.HasSuffix(path, "/retire") || strings.HasSuffix(path, "/deny") {
					body = strings.NewReader(`{"reason":"walking the API"}`)
				}
				if strings.HasSuffix(path, "/approve") {
					body = strings.NewReader(`{"note":"walking the API"}`)
				}
				if path == "/api/v1/requests" {
					body = strings.NewReader(`{"reference":"ghcr.io/acme/walk:1","reason":"walking the API","owner":"team-x"}`)
				}
				hdr = append(hdr, "Content-Type", "application/json")
			}
			id := toApprove
			if strings.HasSuffix(path, "/deny") {
				id = toDeny
			}
			r := e.call(t, strings.ToUpper(method), strings.ReplaceAll(fill.Replace(path), "{request}", id)+query[path], body, hdr...)
			_, documented := op.Responses[fmt.Sprint(r.status)]
			assert.True(t, documented, "%s %s answered %d, which is not documented: %s", method, path, r.status, r.body)
			assert.Less(t, r.status, 400, "%s %s: %d %s", method, path, r.status, r.body)
		}
	}
	assert.Equal(t, 27, ops, "operations documented")
}
