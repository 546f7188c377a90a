package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed openapi.json
var openAPIDocument []byte

// pages are the page templates; each is parsed with base.html.
var pages = []string{"search", "image", "cve", "compare", "sweeps", "error", "requests", "request"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"short":     func(d digest.Digest) string { return shortDigest(d) },
		"date":      func(t time.Time) string { return fmtTime(t, "2006-01-02") },
		"datetime":  func(t time.Time) string { return fmtTime(t, "2006-01-02 15:04 MST") },
		"iso":       func(t time.Time) string { return fmtTime(t, time.RFC3339) },
		"image":     imagePath,
		"apiImage":  apiImagePath,
		"cve":       func(id string) string { return "/cve/" + escapePath(id) },
		"cn":        commonName,
		"join":      strings.Join,
		"size":      humanSize,
		"plural":    plural,
		"abs":       func(n int) int { return max(n, -n) },
		"sevRank":   sevRank,
		"eolClass":  eolClass,
		"hasPrefix": strings.HasPrefix,
		"add":       func(a, b int) int { return a + b },
		"list":      func(s ...string) []string { return s },
		"took":      func(a, b time.Time) string { return b.Sub(a).Round(time.Millisecond).String() },
		"searchURL": func(name, value string) string { return "/?" + name + "=" + urlQueryEscape(value) },
		"pkgURL": func(name, eco string) string {
			u := "/?package=" + urlQueryEscape(name)
			if eco != "" {
				u += "&ecosystem=" + urlQueryEscape(eco)
			}
			return u
		},
		"compareURL": func(a, b string) string {
			return "/compare?a=" + urlQueryEscape(a) + "&b=" + urlQueryEscape(b)
		},
		"vulnSummary": func(v catalog.VulnerabilitySummary) []sevCount { return sevCounts(v) },
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/partials.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("server: template %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

func fmtTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func sevRank(s string) int {
	r, _ := catalog.SeverityRank(s)
	return r
}

// eolClass is the CSS class of an end-of-life date days away.
func eolClass(days int) string {
	switch {
	case days < 0:
		return "eol-past"
	case days <= 30:
		return "eol-soon"
	case days <= 90:
		return "eol-near"
	}
	return "eol-ok"
}

type sevCount struct {
	Severity string
	Label    string
	Count    int
}

// sevCounts lists the non-zero severities of a summary, most severe
// first.
func sevCounts(v catalog.VulnerabilitySummary) []sevCount {
	var out []sevCount
	for _, s := range []sevCount{{"critical", "C", v.Critical}, {"high", "H", v.High}, {"medium", "M", v.Medium}, {"low", "L", v.Low}, {"unknown", "?", v.Unknown}} {
		if s.Count > 0 {
			out = append(out, s)
		}
	}
	return out
}

func urlQueryEscape(s string) string {
	return strings.ReplaceAll(template.URLQueryEscaper(s), "+", "%2B")
}

// staticFile is an embedded asset with its content hash.
type staticFile struct {
	data        []byte
	contentType string
	hash        string
}

func loadStatic() (map[string]staticFile, error) {
	out := map[string]staticFile{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		out[path.Base(p)] = staticFile{data: b, contentType: ct, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out, err
}

// staticURLs returns the versioned URL of every asset by file name.
func (h *Handler) staticURLs() map[string]string {
	m := make(map[string]string, len(h.static))
	for name, f := range h.static {
		m[name] = "/static/" + name + "?v=" + f.hash
	}
	return m
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) error {
	f, ok := h.static[r.PathValue("file")]
	if !ok {
		return notFound("no such file")
	}
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	h.write(w, r, http.StatusOK, f.contentType, f.data)
	return nil
}
