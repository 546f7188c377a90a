package resolve

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/registry"
)

// Sentinel errors.
var (
	// ErrTooLarge: a file or its references exceed a cap.
	ErrTooLarge = errors.New("resolve: too large")
	// ErrMalformed: a manifest is not YAML, or nests too deep.
	ErrMalformed = errors.New("resolve: malformed")
	// ErrInvalidConfig: Options lack what New needs.
	ErrInvalidConfig = errors.New("resolve: invalid configuration")
	// ErrRewrite: a rewrite does not match the file it is applied to.
	ErrRewrite = errors.New("resolve: rewrite does not match the file")
)

// Reference is one image reference found in a file.
type Reference struct {
	// File names the file (set by the caller; the parsers leave it
	// empty).
	File string `json:"file,omitempty"`
	// Line and Column are where the reference is written (1-based; the
	// column of its first byte).
	Line   int `json:"line"`
	Column int `json:"column"`
	// Raw is the reference as written ("${BASE}:12", "nginx"); Image is
	// what it names once variables are substituted ("debian:12").
	Raw   string `json:"raw"`
	Image string `json:"image"`
	// Instruction says where it is used: "FROM", "COPY --from",
	// "RUN --mount from", or the object and field of a manifest
	// ("Deployment/web spec.template.spec.containers[app]").
	Instruction string `json:"instruction"`
	// Err says why the reference cannot be known (an ARG without a
	// value); empty when Image is known.
	Err string `json:"error,omitempty"`

	rewritable bool // Raw sits on one line at Line:Column, as written
}

// Status says what a reference resolves to.
type Status string

// Statuses of a resolution.
const (
	// StatusGolden: a golden image acquired from the reference (or the
	// reference is already golden); Golden pins it by digest.
	StatusGolden Status = "golden"
	// StatusDeprecated: as StatusGolden, but the golden image is
	// deprecated (nearing its end of life, or replaced: see Replacement).
	StatusDeprecated Status = "deprecated"
	// StatusEndOfLife: the golden equivalent is past its end of life
	// (retired); Replacement names what to use instead, if known.
	StatusEndOfLife Status = "end-of-life"
	// StatusRestricted: a golden equivalent exists, but the caller may not
	// use it (Options.Access); Reason says how to ask.
	StatusRestricted Status = "restricted"
	// StatusNone: the catalog has no golden equivalent.
	StatusNone Status = "none"
	// StatusUnresolved: the reference cannot be known (an ARG without a
	// value) or is not a valid reference.
	StatusUnresolved Status = "unresolved"
)

// Usable reports whether the reference may be replaced by Golden.
func (s Status) Usable() bool { return s == StatusGolden || s == StatusDeprecated }

// Result is the resolution of one reference.
type Result struct {
	Reference
	// Status says what the reference resolves to.
	Status Status `json:"status"`
	// Golden is the golden equivalent pinned by digest
	// ("registry.corp/golden/library/nginx:1.27@sha256:..."), set when
	// Status.Usable().
	Golden string `json:"golden,omitempty"`
	// Repository and Digest name the golden catalog entry (not set when
	// restricted).
	Repository string        `json:"repository,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	// EndOfLife is the entry's end of life; zero if unknown.
	EndOfLife time.Time `json:"endOfLife,omitzero"`
	// Replacement names the image that replaces the entry, if any.
	Replacement string `json:"replacement,omitempty"`
	// Reason explains the status in one line.
	Reason string `json:"reason,omitempty"`
}

// Options configure New. Store is required.
type Options struct {
	// Store is the catalog.
	Store catalog.Store
	// Repository, if set, limits the golden images considered to this
	// golden repository, or to every repository under it when it ends in
	// "/" ("registry.corp/golden/"). Empty means every entry.
	Repository string
	// Access decides whether the caller may use a golden entry, and if
	// not, why (and how to ask). With access rules, give the caller's
	// visibility: policy.For(groups...).Allows (catalog.AccessPolicy),
	// over the whole Store. Nil means that entries with an access level
	// (Entry.AccessLevel) are restricted and the others are not.
	Access func(ctx context.Context, e *catalog.Entry) (allowed bool, reason string)
	// Now is the clock that end of life is judged by. Nil means time.Now.
	Now func() time.Time
}

// Resolver maps external image references to their golden equivalents
// in a catalog. It reads the catalog once, at the first Resolve (one
// catalog.GetMany per search page; Options.Repository narrows it), and
// answers from memory after that; make a new one to see later changes. It
// is safe for concurrent use.
type Resolver struct {
	opts Options

	once     sync.Once
	indexErr error
	bySource map[string][]*catalog.Entry // source repository name -> entries acquired from it
	byGolden map[string][]*catalog.Entry // golden repository name -> its entries
	srcTag   map[*catalog.Entry]string   // entry of bySource -> the tag of its source reference
}

// New returns a Resolver.
func New(opts Options) (*Resolver, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrInvalidConfig)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Resolver{opts: opts}, nil
}

// index reads every entry of the catalog (under Options.Repository).
func (r *Resolver) index(ctx context.Context) error {
	r.once.Do(func() {
		r.bySource, r.byGolden, r.srcTag = map[string][]*catalog.Entry{}, map[string][]*catalog.Entry{}, map[*catalog.Entry]string{}
		q := catalog.Query{Repository: r.opts.Repository, Limit: catalog.MaxLimit}
		for {
			res, err := r.opts.Store.Search(ctx, q)
			if err != nil {
				r.indexErr = fmt.Errorf("resolve: read the catalog: %w", err)
				return
			}
			refs := make([]catalog.EntryRef, len(res.Entries))
			for i, s := range res.Entries {
				refs[i] = s.Ref()
			}
			entries, err := catalog.GetMany(ctx, r.opts.Store, refs)
			if err != nil {
				r.indexErr = fmt.Errorf("resolve: read the catalog: %w", err)
				return
			}
			for _, e := range entries {
				if e == nil {
					continue // gone since the search
				}
				if src, err := registry.ParseRef(e.Source.Reference); err == nil {
					r.bySource[src.Name()] = append(r.bySource[src.Name()], e)
					r.srcTag[e] = src.Tag
				}
				if g, err := registry.ParseRef(e.Repository); err == nil {
					r.byGolden[g.Name()] = append(r.byGolden[g.Name()], e)
				}
			}
			if res.Next == "" {
				return
			}
			q.Cursor = res.Next
		}
	})
	return r.indexErr
}

// Resolve resolves each reference (see Result), in order.
func (r *Resolver) Resolve(ctx context.Context, refs []Reference) ([]Result, error) {
	if err := r.index(ctx); err != nil {
		return nil, err
	}
	out := make([]Result, len(refs))
	for i, ref := range refs {
		res, err := r.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

func (r *Resolver) resolve(ctx context.Context, ref Reference) (Result, error) {
	res := Result{Reference: ref}
	if ref.Err != "" {
		res.Status, res.Reason = StatusUnresolved, ref.Err
		return res, nil
	}
	p, err := registry.ParseRef(ref.Image)
	if err != nil {
		res.Status, res.Reason = StatusUnresolved, err.Error()
		return res, nil
	}
	name := p.Name()
	var e *catalog.Entry
	tag := ""
	already := false
	if g := r.byGolden[name]; len(g) > 0 {
		e, tag = pick(g, p, func(e *catalog.Entry) (digest.Digest, string) { return e.Digest, "" }, true)
		already = e != nil
	}
	if e == nil {
		e, tag = pick(r.bySource[name], p, func(e *catalog.Entry) (digest.Digest, string) {
			return e.Source.Digest, r.srcTag[e]
		}, false)
	}
	if e == nil {
		res.Status, res.Reason = StatusNone, "no golden image was acquired from "+p.String()
		if len(r.bySource[name]) > 0 {
			res.Reason += fmt.Sprintf(" (the catalog has %s at other tags or digests)", name)
		}
		return res, nil
	}
	allowed, why := r.allowed(ctx, e)
	if !allowed {
		res.Status, res.Reason = StatusRestricted, why
		return res, nil
	}
	res.Repository, res.Digest, res.Replacement = e.Repository, e.Digest, e.Replacement
	if e.EndOfLife != nil {
		res.EndOfLife = e.EndOfLife.Date
	}
	now := r.opts.Now()
	switch {
	case e.Status == catalog.StatusRetired || e.EndOfLife != nil && !now.Before(e.EndOfLife.Date):
		res.Status = StatusEndOfLife
		res.Reason = "the golden image is past its end of life"
		if e.EndOfLife != nil {
			res.Reason += " (" + e.EndOfLife.Date.Format("2006-01-02") + ")"
		}
		if e.Replacement != "" {
			res.Reason += "; use " + e.Replacement
		}
		return res, nil
	case e.Status == catalog.StatusDeprecated:
		res.Status = StatusDeprecated
		res.Reason = "deprecated"
		if e.EndOfLife != nil {
			res.Reason += ", end of life " + e.EndOfLife.Date.Format("2006-01-02")
		}
		if e.Replacement != "" {
			res.Reason += "; replaced by " + e.Replacement
		}
	default:
		res.Status = StatusGolden
	}
	res.Golden = e.Repository
	if tag != "" {
		res.Golden += ":" + tag
	}
	res.Golden += "@" + e.Digest.String()
	if already && res.Reason == "" {
		res.Reason = "already golden"
	}
	return res, nil
}

// pick chooses the entry of es that p names: by digest when p has one
// (ident returns the digest an entry answers to), else by tag: the entry
// that carries the tag now (golden tags follow their source tags), else
// the latest promoted that was acquired from it (ident's tag). It returns
// the tag to pin with.
func pick(es []*catalog.Entry, p registry.Ref, ident func(*catalog.Entry) (digest.Digest, string), golden bool) (*catalog.Entry, string) {
	if p.Digest != "" {
		for _, e := range es {
			if d, _ := ident(e); d == p.Digest || golden && slices.ContainsFunc(e.Children, func(c catalog.Child) bool { return c.Digest == p.Digest }) {
				if slices.Contains(e.Tags, p.Tag) {
					return e, p.Tag
				}
				return e, ""
			}
		}
		return nil, ""
	}
	var current, past []*catalog.Entry
	for _, e := range es {
		_, srcTag := ident(e)
		switch {
		case slices.Contains(e.Tags, p.Tag) && (golden || srcTag == p.Tag):
			current = append(current, e)
		case !golden && srcTag == p.Tag:
			past = append(past, e)
		}
	}
	latest := func(list []*catalog.Entry) *catalog.Entry {
		return slices.MaxFunc(list, func(a, b *catalog.Entry) int {
			return cmp.Or(a.PromotedAt.Compare(b.PromotedAt), cmp.Compare(a.Digest, b.Digest))
		})
	}
	switch {
	case len(current) > 0:
		return latest(current), p.Tag
	case len(past) > 0:
		return latest(past), ""
	}
	return nil, ""
}

func (r *Resolver) allowed(ctx context.Context, e *catalog.Entry) (bool, string) {
	if r.opts.Access != nil {
		return r.opts.Access(ctx, e)
	}
	if e.AccessLevel != "" {
		return false, "restricted (access level " + e.AccessLevel + "): ask its owners for access"
	}
	return true, ""
}

// Rewrite replaces, in src (the file the results were parsed from), the
// references of the usable results (Status.Usable) that are not already
// what Golden says by their Golden reference, and returns the new file
// and how many references it replaced. A reference written over several
// lines, or in a YAML form that needs escapes, is left as it is. A result
// whose Raw is not at its Line and Column in src is an ErrRewrite.
func Rewrite(src []byte, results []Result) ([]byte, int, error) {
	lines := bytes.SplitAfter(src, []byte("\n"))
	type edit struct {
		col      int
		old, new string
	}
	edits := map[int][]edit{}
	for _, res := range results {
		if !res.Status.Usable() || !res.rewritable || res.Raw == res.Golden || res.Line < 1 || res.Line > len(lines) {
			continue
		}
		line := lines[res.Line-1]
		c := res.Column - 1
		if c < 0 || c+len(res.Raw) > len(line) || string(line[c:c+len(res.Raw)]) != res.Raw {
			return nil, 0, fmt.Errorf("%w: %q is not at line %d, column %d", ErrRewrite, res.Raw, res.Line, res.Column)
		}
		edits[res.Line] = append(edits[res.Line], edit{col: c, old: res.Raw, new: res.Golden})
	}
	n := 0
	var out bytes.Buffer
	for i, line := range lines {
		es := edits[i+1]
		slices.SortFunc(es, func(a, b edit) int { return cmp.Compare(b.col, a.col) }) // right to left
		l := slices.Clone(line)
		for _, e := range es {
			l = append(l[:e.col], append([]byte(e.new), l[e.col+len(e.old):]...)...)
			n++
		}
		out.Write(l)
	}
	return out.Bytes(), n, nil
}
