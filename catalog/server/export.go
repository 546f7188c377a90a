package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cssc-go/cssc/catalog"
)

// exportPage is the page size an export walks the store with.
const exportPage = 500

// exportBatch is the number of entries an export reads in one
// catalog.GetMany and holds decoded at once.
const exportBatch = 50

// ExportRow is one finding of one image in a findings export.
type ExportRow struct {
	Repository   string   `json:"repository"`
	Digest       string   `json:"digest"`
	Tags         []string `json:"tags"`
	Status       string   `json:"status"`
	Platforms    []string `json:"platforms"`
	ID           string   `json:"id"`
	Aliases      []string `json:"aliases"`
	Severity     string   `json:"severity"`
	Package      string   `json:"package"`
	Version      string   `json:"version"`
	FixedVersion string   `json:"fixedVersion"`
}

var exportHeader = []string{"repository", "digest", "tags", "status", "platforms", "id", "aliases", "severity", "package", "version", "fixed_version"}

func exportFormat(p *params) (string, error) {
	switch f := p.str("format"); f {
	case "", "json":
		return "json", nil
	case "csv":
		return "csv", nil
	default:
		return "", badParam("format", "format must be csv or json, not %q", f)
	}
}

// csvSafe defuses cells that spreadsheets would run as formulas.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// exportEntries streams the findings of the entries walk yields, as CSV
// or as a JSON array. A failure after the first byte aborts the
// connection, so that a truncated export never looks complete.
func (h *Handler) exportEntries(w http.ResponseWriter, r *http.Request, format, name string, walk func(ctx context.Context, yield func(*catalog.Entry) error) error) error {
	hd := w.Header()
	base := "findings"
	if format == "csv" {
		hd.Set("Content-Type", "text/csv; charset=utf-8")
		hd.Set("Content-Disposition", `attachment; filename="`+base+`.csv"`)
	} else {
		hd.Set("Content-Type", "application/json")
		hd.Set("Content-Disposition", `attachment; filename="`+base+`.json"`)
	}
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Export-Scope", strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, name))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	cw := csv.NewWriter(bw)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	first := true
	if format == "csv" {
		_ = cw.Write(exportHeader)
	} else {
		_, _ = bw.WriteString("[")
	}
	err := walk(r.Context(), func(e *catalog.Entry) error {
		for _, f := range findingRows(e) {
			row := ExportRow{Repository: e.Repository, Digest: e.Digest.String(), Tags: nonNil(e.Tags), Status: string(e.Status),
				Platforms: nonNil(f.Platforms), ID: f.ID, Aliases: nonNil(f.Aliases), Severity: f.Severity,
				Package: f.Package, Version: f.Version, FixedVersion: f.FixedVersion}
			if format == "csv" {
				if err := cw.Write([]string{csvSafe(row.Repository), row.Digest, csvSafe(strings.Join(row.Tags, " ")), row.Status,
					csvSafe(strings.Join(row.Platforms, " ")), csvSafe(row.ID), csvSafe(strings.Join(row.Aliases, " ")), row.Severity,
					csvSafe(row.Package), csvSafe(row.Version), csvSafe(row.FixedVersion)}); err != nil {
					return err
				}
				continue
			}
			if !first {
				_, _ = bw.WriteString(",")
			}
			first = false
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		if format == "csv" {
			cw.Flush()
			err = cw.Error()
		} else {
			_, err = bw.WriteString("]\n")
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		h.log.WarnContext(r.Context(), "export failed", "scope", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// apiFindings exports the findings of every image a search matches.
func (h *Handler) apiFindings(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	q, err := h.query(p)
	if err != nil {
		return err
	}
	format, err := exportFormat(p)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	if q.Cursor != "" || p.has("limit") && p.str("limit") != "" {
		return badParam("cursor", "an export walks every match: cursor and limit do not apply")
	}
	q.Limit = exportPage
	st := h.store(r) // the caller's view, worked out once for the whole walk
	first, err := st.Search(r.Context(), q)
	if err != nil {
		return err
	}
	if first.Total > h.opts.MaxExportEntries {
		return &Error{Status: http.StatusBadRequest, Code: "export_too_large", Message: fmt.Sprintf("the search matches %d images; an export takes at most %d: narrow it", first.Total, h.opts.MaxExportEntries)}
	}
	return h.exportEntries(w, r, format, "search", func(ctx context.Context, yield func(*catalog.Entry) error) error {
		res := first
		for n := 0; ; {
			for batch := range slices.Chunk(res.Entries, exportBatch) {
				entries, err := pageEntries(ctx, st, batch)
				if err != nil {
					return err
				}
				for _, e := range entries {
					if err := yield(e); err != nil {
						return err
					}
					n++
				}
			}
			if res.Next == "" || n >= h.opts.MaxExportEntries {
				return nil
			}
			q.Cursor = res.Next
			if res, err = st.Search(ctx, q); err != nil {
				return err
			}
		}
	})
}
