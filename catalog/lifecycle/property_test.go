package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
)

// TestRetentionDeletesNothingSupported plans random catalogs (random
// rules, overrides, data file, markers, recorded states, statuses, tags,
// replacement pointers, clocks and retirement settings) and checks every
// deletion against rules stated independently of the planner: nothing is
// deleted that any source still supports, that an override dates in the
// future, that has no date at all, that is tagged, that is not retired
// both in the store and by a signed marker, whose grace period is not
// over, that lives in the archive, or that any entry's replacement
// pointer names.
func TestRetentionDeletesNothingSupported(t *testing.T) {
	cases := 10000
	if testing.Short() {
		cases = 1000
	}
	rel := readReleases(t)
	deletions, checked := 0, 0
	for seed := range uint64(cases) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		cfg, now := randomConfig(t, rng, rel)
		p, err := lifecycle.Compile(cfg)
		if err != nil {
			t.Fatalf("seed %d: random config does not compile: %v", seed, err)
		}
		facts := randomFacts(rng, now)
		if seed%1000 == 0 {
			facts = append(facts, lifecycle.Facts{}) // no entry: an error, never a panic
		}
		for i := range facts {
			if rng.IntN(3) > 0 {
				settle(rng, p, &facts[i], now.Add(-time.Duration(rng.IntN(120*24))*time.Hour))
			}
		}
		changes := p.PlanFacts(facts, now)
		if len(changes) != len(facts) {
			t.Fatalf("seed %d: %d changes for %d entries", seed, len(changes), len(facts))
		}
		var refs []string
		for i, f := range facts {
			if f.Entry == nil {
				continue
			}
			refs = append(refs, f.Entry.Replacement)
			if changes[i] != nil {
				refs = append(refs, changes[i].Replacement)
			}
		}
		for i, c := range changes {
			if facts[i].Entry == nil {
				if c == nil || c.Kind != lifecycle.KindError {
					t.Fatalf("seed %d: facts without an entry gave %+v", seed, c)
				}
				continue
			}
			if c == nil || c.Kind != lifecycle.KindDelete {
				continue
			}
			deletions++
			if why := mustKeep(cfg, facts[i], refs, now); why != "" {
				t.Fatalf("seed %d: deleted %s@%s at %s although %s\nfacts: %s\nchange: %+v", seed, facts[i].Entry.Repository,
					facts[i].Entry.Digest, now, why, describeFacts(facts[i]), c)
			}
		}
		// Every entry is judged the same whatever the order of its tags
		// and packages.
		for i, f := range facts {
			if f.Err != nil || f.Entry == nil {
				continue
			}
			checked++
			g := f
			g.Tags = slices.Clone(f.Tags)
			slices.Reverse(g.Tags)
			e := f.Entry.Clone()
			for j := range e.Children {
				slices.Reverse(e.Children[j].Packages)
			}
			g.Entry = e
			a, aerr := p.Resolve(f)
			b, berr := p.Resolve(g)
			if (aerr == nil) != (berr == nil) || (aerr == nil && !a.EndOfLife.Equal(b.EndOfLife)) {
				t.Fatalf("seed %d entry %d: order changes the end of life: %v %v / %v %v", seed, i, a, aerr, b, berr)
			}
		}
	}
	t.Logf("%d random catalogs, %d deletions checked, %d resolutions compared", cases, deletions, checked)
	if deletions < cases/50 {
		t.Fatalf("only %d deletions in %d catalogs: the generator does not reach retention", deletions, cases)
	}
}

// mustKeep returns why the image of f must not be deleted at now, or "".
func mustKeep(cfg lifecycle.Config, f lifecycle.Facts, refs []string, now time.Time) string {
	e := f.Entry
	grace := cfg.Retirement.GracePeriod.Duration
	switch {
	case grace <= 0:
		return "no grace period is configured"
	case cfg.Retirement.Action == lifecycle.ActionMark:
		return "the retirement action only marks"
	case cfg.Retirement.ArchiveTo == "r/archive" && strings.HasPrefix(e.Repository, "r/archive/"):
		return "it is in the archive"
	case len(e.Tags) > 0:
		return "it is tagged"
	case e.Status != catalog.StatusRetired:
		return "the store does not say retired"
	case f.State == nil || f.State.State == nil || f.State.State.Status != artifact.LifecycleRetired:
		return "no signed marker says retired"
	}
	since := f.State.State.Since
	if since.IsZero() {
		since = f.State.Created
	}
	if now.Before(since.Add(grace)) {
		return "its grace period is not over"
	}
	tags := append(slices.Clone(f.Tags), e.Tags...)
	for _, o := range cfg.Overrides {
		if matchRepo(o.Repository, e.Repository) && (o.Digest == "" || o.Digest == e.Digest) && (o.Tag == "" || slices.Contains(tags, o.Tag)) {
			if !o.EndOfLife.IsZero() && o.EndOfLife.After(now) {
				return "an override dates its end of life in the future"
			}
			if !o.EndOfLife.IsZero() {
				return refsKeep(e, tags, refs) // a person decided it is past its end of life
			}
			break
		}
	}
	// Every date any source gives (the data file's, as releasesJSON
	// writes them).
	var dates []time.Time
	if f.Marker != nil {
		dates = append(dates, f.Marker.EndOfLife)
	}
	for _, r := range cfg.Rules {
		if (r.Repository == "" || matchRepo(r.Repository, e.Repository)) && (r.Tag == "" || slices.Contains(tags, r.Tag)) {
			dates = append(dates, r.EndOfLife.Time)
		}
	}
	if cfg.Releases != nil {
		for _, ch := range e.Children {
			for _, p := range ch.Packages {
				switch {
				case p.Ecosystem == "Debian:12":
					dates = append(dates, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC))
				case p.Ecosystem == "Debian:11":
					dates = append(dates, time.Date(2024, 8, 14, 0, 0, 0, 0, time.UTC))
				case p.PURL == "pkg:golang/stdlib@1.22.5":
					dates = append(dates, time.Date(2026, 7, 31, 22, 0, 0, 0, time.UTC))
				}
			}
		}
	}
	if len(dates) == 0 && (f.State == nil || f.State.EndOfLife.IsZero()) {
		return "no source dates it"
	}
	if len(dates) > 0 && !slices.ContainsFunc(dates, func(d time.Time) bool { return !d.After(now) }) {
		return fmt.Sprintf("every source still supports it (%v)", dates)
	}
	return refsKeep(e, tags, refs)
}

// refsKeep returns which replacement pointer names the entry, or "".
func refsKeep(e *catalog.Entry, tags, refs []string) string {
	for _, ref := range refs {
		if ref == "" {
			continue
		}
		switch {
		case strings.Contains(ref, "@"+e.Digest.String()):
			return "a replacement pointer names its digest: " + ref
		case ref == e.Repository:
			return "a replacement pointer names its repository: " + ref
		case strings.HasPrefix(ref, e.Repository+":") && slices.Contains(tags, strings.TrimPrefix(ref, e.Repository+":")):
			return "a replacement pointer names one of its tags: " + ref
		}
	}
	return ""
}

func matchRepo(pattern, repo string) bool {
	return pattern == repo || pattern == "r/golden/*" && strings.HasPrefix(repo, "r/golden/") && !strings.Contains(repo[len("r/golden/"):], "/")
}

var (
	repos = []string{"r/golden/a", "r/golden/b", "r/archive/a"}
	tagsU = []string{"1", "2", "latest"}
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func randomTime(rng *rand.Rand) time.Time {
	return t0.Add(time.Duration(rng.IntN(2*365*24)-365*24) * time.Hour)
}

func randomConfig(t *testing.T, rng *rand.Rand, rel *lifecycle.Releases) (lifecycle.Config, time.Time) {
	cfg := lifecycle.Config{
		Window: lifecycle.Duration{Duration: time.Duration(rng.IntN(120)) * 24 * time.Hour},
		Notice: lifecycle.Duration{Duration: time.Duration(rng.IntN(3)*7) * 24 * time.Hour},
	}
	if rng.IntN(3) > 0 {
		cfg.Releases = rel
	}
	if rng.IntN(4) == 0 {
		cfg.Conflicts = lifecycle.ConflictFail
	}
	switch rng.IntN(5) {
	case 0:
		cfg.Retirement.Action = lifecycle.ActionMark
	case 1:
		cfg.Retirement = lifecycle.Retirement{Action: lifecycle.ActionArchive, ArchiveFrom: "r/golden", ArchiveTo: "r/archive"}
	default:
		cfg.Retirement.Action = lifecycle.ActionUntag
	}
	if cfg.Retirement.Action != lifecycle.ActionMark && rng.IntN(6) > 0 {
		cfg.Retirement.GracePeriod = lifecycle.Duration{Duration: time.Duration(rng.IntN(60)) * 24 * time.Hour}
	}
	for range rng.IntN(4) {
		r := lifecycle.Rule{Repository: pick(rng, append(slices.Clone(repos), "r/golden/*", "")), EndOfLife: lifecycle.Date{Time: randomTime(rng)}}
		if rng.IntN(2) == 0 {
			r.Tag = pick(rng, tagsU)
		}
		if rng.IntN(3) == 0 {
			r.Replacement = pick(rng, repos) + ":" + pick(rng, tagsU)
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	for range rng.IntN(3) {
		o := lifecycle.Override{Repository: pick(rng, append(slices.Clone(repos), "r/golden/*")), Reason: "random"}
		if rng.IntN(3) > 0 {
			o.EndOfLife = lifecycle.Date{Time: randomTime(rng)}
		} else {
			o.Replacement = pick(rng, repos) + ":1"
		}
		cfg.Overrides = append(cfg.Overrides, o)
	}
	return cfg, randomTime(rng)
}

func randomFacts(rng *rand.Rand, now time.Time) []lifecycle.Facts {
	n := 1 + rng.IntN(10)
	var out []lifecycle.Facts
	var digests []digest.Digest
	for i := range n {
		d := digest.FromString(fmt.Sprint(rng.Uint64(), i))
		digests = append(digests, d)
		e := &catalog.Entry{Repository: pick(rng, repos), Digest: d,
			Status: []catalog.Status{catalog.StatusActive, catalog.StatusDeprecated, catalog.StatusRetired, catalog.StatusRetired}[rng.IntN(4)]}
		for _, tg := range tagsU {
			if rng.IntN(5) == 0 {
				e.Tags = append(e.Tags, tg)
			}
		}
		if rng.IntN(2) == 0 {
			e.EndOfLife = &catalog.EndOfLife{Date: randomTime(rng), Source: "rule"}
		}
		var pkgs []catalog.Package
		if rng.IntN(2) == 0 {
			pkgs = append(pkgs, catalog.Package{Name: "base-files", Ecosystem: pick(rng, []string{"Debian:12", "Debian:11", "Debian:10", "Alpine:v3.20"})})
		}
		if rng.IntN(2) == 0 {
			pkgs = append(pkgs, catalog.Package{Name: "stdlib", PURL: "pkg:golang/stdlib@" + pick(rng, []string{"1.22.5", "1.23.1", "1.21.0"})})
		}
		e.Children = []catalog.Child{{Digest: d, Packages: pkgs}}
		f := lifecycle.Facts{Entry: e}
		for _, tg := range tagsU {
			if rng.IntN(3) == 0 {
				f.Tags = append(f.Tags, tg)
			}
		}
		if rng.IntN(2) == 0 {
			f.Marker = &attest.Lifecycle{EndOfLife: randomTime(rng), Created: randomTime(rng), Digest: digest.FromString(fmt.Sprint("m", i, rng.Uint64()))}
		}
		if rng.IntN(3) > 0 {
			st := &attest.LifecycleState{Status: pick(rng, []string{"active", "deprecated", "retired", "retired"}), Source: "rule"}
			if rng.IntN(2) == 0 {
				st.Since = now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)
			}
			f.State = &attest.Lifecycle{EndOfLife: randomTime(rng), Created: now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour),
				Digest: digest.FromString(fmt.Sprint("s", i, rng.Uint64())), State: st}
		}
		if rng.IntN(10) == 0 {
			f.Err = fmt.Errorf("registry down")
		}
		out = append(out, f)
	}
	// Replacement pointers between the entries, of every form.
	for i := range out {
		if rng.IntN(3) != 0 {
			continue
		}
		j := rng.IntN(len(out))
		target := out[j].Entry
		switch rng.IntN(3) {
		case 0:
			out[i].Entry.Replacement = target.Repository + "@" + digests[j].String()
		case 1:
			out[i].Entry.Replacement = target.Repository + ":" + pick(rng, tagsU)
		default:
			out[i].Entry.Replacement = target.Repository
		}
	}
	return out
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func describeFacts(f lifecycle.Facts) string {
	s := fmt.Sprintf("entry status=%s tags=%v repl=%q history=%v", f.Entry.Status, f.Entry.Tags, f.Entry.Replacement, f.Tags)
	if f.Marker != nil {
		s += fmt.Sprintf(" marker=%s", f.Marker.EndOfLife)
	}
	if f.State != nil {
		s += fmt.Sprintf(" state=%s eol=%s created=%s since=%s", f.State.State.Status, f.State.EndOfLife, f.State.Created, f.State.State.Since)
	}
	return s
}

// settle makes f what an earlier run at at would have left: the change of
// that run applied (the state marker written, the entry updated, the tags
// removed by a retirement).
func settle(rng *rand.Rand, p *lifecycle.Policy, f *lifecycle.Facts, at time.Time) {
	if f.Err != nil {
		return
	}
	c := p.Evaluate(*f, at)
	if c.Kind != lifecycle.KindTransition && c.Kind != lifecycle.KindUpdate {
		return
	}
	since := at.Truncate(time.Second)
	if f.State != nil && f.State.State != nil && f.State.State.Status == string(c.To) && !f.State.State.Since.IsZero() {
		since = f.State.State.Since
	}
	st := &attest.LifecycleState{Status: string(c.To), Replacement: c.Replacement, Source: c.Source, Reason: c.Reason, Since: since}
	for _, s := range c.Resolution.Sources {
		st.Sources = append(st.Sources, attest.LifecycleSource{Role: s.Role, Source: s.Source, Date: s.Date, Detail: s.Detail})
	}
	m := &attest.Lifecycle{EndOfLife: c.EndOfLife, Created: at.Truncate(time.Second), Digest: digest.FromString("settled " + at.String()), State: st}
	e := f.Entry.Clone()
	e.Status, e.Replacement = c.To, c.Replacement
	e.EndOfLife = &catalog.EndOfLife{Date: c.EndOfLife, Source: c.Source, Marker: m.Digest, Reason: c.Reason, Sources: c.Resolution.Sources}
	if c.To == catalog.StatusRetired && p.Config().Retirement.Action != lifecycle.ActionMark {
		e.Tags = nil
		if rng.IntN(5) == 0 {
			e.Tags = []string{"latest"} // tagged again by someone after the retirement
		}
	}
	f.Entry, f.State = e, m
}
