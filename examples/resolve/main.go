// Command resolve tells a team which golden images to use: it reads
// Dockerfiles and Kubernetes manifests, maps each external image
// reference to its golden equivalent pinned by digest from a catalog, and
// lists those with none, restricted, or past end of life.
//
//	go run ./examples/resolve -catalog catalog.db [-arg KEY=VALUE]... [-write] [-json] FILE...
//	go run ./examples/resolve -catalog postgres://user@host/cssc Dockerfile deploy.yaml
//
// -catalog is a catalog/sqlite file or a PostgreSQL URL (catalog/postgres),
// as the catalog service (examples/catalog) keeps it. A file named
// Dockerfile, Containerfile or *.dockerfile is a Dockerfile; *.yaml, *.yml
// and *.json are Kubernetes manifests; anything else is a Dockerfile if a
// line starts with FROM. -arg gives build arguments; -repository limits
// the golden images to a location prefix ("registry.corp/golden/");
// -write pins the usable references in the files, in place; -json prints
// the results as JSON instead of a table. -request URL opens a request
// (with -reason and -owner) on the catalog service at URL for each image
// that has no golden equivalent (POST /api/v1/requests; -header K=V adds
// a header such as Authorization).
//
// Exit status: 0 when every reference has a usable golden equivalent, 3
// when some have none, are restricted, past end of life or unresolved, 1
// on errors, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/resolve"
	"github.com/cssc-go/cssc/catalog/sqlite"
)

// Exit statuses.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitUnusable = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// buildArgs collects -arg KEY=VALUE flags.
type buildArgs map[string]string

func (a buildArgs) String() string { return fmt.Sprint(map[string]string(a)) }

func (a buildArgs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	a[k] = v
	return nil
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("catalog", "", "catalog: a catalog/sqlite file or a PostgreSQL URL (required)")
	prefix := fs.String("repository", "", "consider only golden images under this location prefix")
	write := fs.Bool("write", false, "pin the usable references in the files, in place")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rules := fs.String("access", "", "access rules (YAML or JSON list, as access.rules of examples/catalog): images the team's groups may not use are restricted")
	groups := fs.String("groups", "", "the team's groups, comma-separated, for -access")
	bargs := buildArgs{}
	fs.Var(bargs, "arg", "build argument KEY=VALUE for Dockerfiles (repeatable)")
	requestURL := fs.String("request", "", "open a request on the catalog service at this URL for each image with no golden equivalent")
	reason := fs.String("reason", "", "why the team needs the images (with -request)")
	owner := fs.String("owner", "", "the team responsible for the images (with -request)")
	headers := buildArgs{}
	fs.Var(headers, "header", "header KEY=VALUE sent with -request (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: resolve -catalog DSN-or-sqlite-file [-repository PREFIX] [-access RULES -groups G1,G2] [-arg KEY=VALUE]... [-write] [-json]")
		fmt.Fprintln(stderr, "               [-request URL -reason TEXT -owner TEAM [-header KEY=VALUE]...] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *dsn == "" || fs.NArg() == 0 || *requestURL != "" && (*reason == "" || *owner == "") {
		fs.Usage()
		return exitUsage
	}
	opts := resolve.Options{Repository: *prefix}
	if *rules != "" {
		policy, err := loadRules(*rules)
		if err != nil {
			fmt.Fprintln(stderr, "resolve:", err)
			return exitError
		}
		var gs []string
		for g := range strings.SplitSeq(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				gs = append(gs, g)
			}
		}
		opts.Access = policy.For(gs...).Allows
	} else if *groups != "" {
		fmt.Fprintln(stderr, "resolve: -groups needs -access")
		return exitUsage
	}
	store, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "resolve:", err)
		return exitError
	}
	defer store.Close()
	opts.Store = store
	r, err := resolve.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "resolve:", err)
		return exitError
	}
	var all []resolve.Result
	for _, file := range fs.Args() {
		results, err := resolveFile(ctx, r, file, bargs, *write, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "resolve: %s: %v\n", file, err)
			return exitError
		}
		all = append(all, results...)
	}
	var opened []resolve.Opened
	if *requestURL != "" {
		h := http.Header{}
		for k, v := range headers {
			h.Set(k, v)
		}
		c := &requests.Client{BaseURL: *requestURL, Header: h}
		if opened, err = resolve.OpenRequests(ctx, c, requests.Submission{Reason: *reason, Owner: *owner}, all); err != nil {
			fmt.Fprintln(stderr, "resolve:", err)
			return exitError
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if all == nil {
			all = []resolve.Result{}
		}
		var v any = all
		if *requestURL != "" {
			v = map[string]any{"results": all, "requests": opened}
		}
		if err := enc.Encode(v); err != nil {
			return exitError
		}
	} else {
		printTable(stdout, all)
		printOpened(stdout, opened)
	}
	for _, res := range all {
		if !res.Status.Usable() {
			return exitUnusable
		}
	}
	return exitOK
}

// openStore opens a PostgreSQL catalog for a URL or key=value DSN, else
// an existing SQLite file (never a new, empty one).
func openStore(ctx context.Context, dsn string) (catalog.Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || strings.Contains(dsn, "host=") {
		return postgres.Open(ctx, dsn, postgres.Options{})
	}
	if _, err := os.Stat(dsn); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", dsn, err)
	}
	return sqlite.Open(ctx, dsn, sqlite.Options{})
}

// isDockerfile says how to read a file, by its name, else by its content.
func isDockerfile(name string, src []byte) bool {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.Contains(base, "dockerfile"), strings.Contains(base, "containerfile"):
		return true
	case strings.HasSuffix(base, ".yaml"), strings.HasSuffix(base, ".yml"), strings.HasSuffix(base, ".json"):
		return false
	}
	for _, line := range strings.Split(string(src), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], "FROM") {
			return true
		}
	}
	return false
}

func resolveFile(ctx context.Context, r *resolve.Resolver, file string, bargs buildArgs, write bool, stderr io.Writer) ([]resolve.Result, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if info.Size() > resolve.MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes", resolve.ErrTooLarge, info.Size())
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var refs []resolve.Reference
	if isDockerfile(file, src) {
		refs, err = resolve.ParseDockerfile(strings.NewReader(string(src)), resolve.DockerfileOptions{BuildArgs: bargs})
	} else {
		refs, err = resolve.ParseKubernetes(strings.NewReader(string(src)))
	}
	if err != nil {
		return nil, err
	}
	for i := range refs {
		refs[i].File = file
	}
	results, err := r.Resolve(ctx, refs)
	if err != nil {
		return nil, err
	}
	if write {
		out, n, err := resolve.Rewrite(src, results)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			if err := os.WriteFile(file, out, info.Mode().Perm()); err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "resolve: %s: pinned %d reference(s)\n", file, n)
		}
	}
	return results, nil
}

func printTable(w io.Writer, results []resolve.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHERE\tIMAGE\tSTATUS\tGOLDEN\tNOTE")
	for _, r := range results {
		image := r.Image
		if image == "" {
			image = r.Raw
		}
		golden := r.Golden
		if golden == "" {
			golden = "-"
		}
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\t%s\n", r.File, r.Line, image, r.Status, golden, oneLine(r.Reason))
	}
	tw.Flush()
}

// printOpened says what became of each request.
func printOpened(w io.Writer, opened []resolve.Opened) {
	for _, o := range opened {
		switch a := o.Answer; {
		case o.Err != "":
			fmt.Fprintf(w, "request %s: refused: %s\n", o.Image, oneLine(o.Err))
		case a.Golden != nil:
			fmt.Fprintf(w, "request %s: golden now: %s\n", o.Image, a.Golden.Pull)
		case a.Joined:
			fmt.Fprintf(w, "request %s: joined request %s (%s)\n", o.Image, a.Request.ID, a.Request.State)
		default:
			fmt.Fprintf(w, "request %s: opened request %s (%s)\n", o.Image, a.Request.ID, a.Request.State)
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// loadRules reads a list of access rules (YAML or JSON, at most 1 MiB).
func loadRules(path string) (*catalog.AccessPolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", path)
	}
	var rules []catalog.AccessRule
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p, err := catalog.NewAccessPolicy(rules)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
