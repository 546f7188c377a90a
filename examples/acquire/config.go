package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/cssc-go/cssc/examples/internal/pipeline"
	"github.com/cssc-go/cssc/registry"
)

// Config is the CLI's configuration file (YAML or JSON): the pipeline's
// settings (documented on pipeline.Config) and the images to acquire.
// Relative paths are relative to the file. See README.md beside this file
// for a complete example.
type Config struct {
	pipeline.Config `yaml:",inline"`
	// Sources are the images to acquire.
	Sources []Source `yaml:"sources"`
}

// Source is one external repository and which of its tags to acquire.
type Source struct {
	// Image is the repository, with or without a tag: "docker.io/library/nginx",
	// "nginx:1.27". A tag here is acquired in addition to the selectors.
	Image string `yaml:"image"`
	// Tags lists tags to acquire.
	Tags []string `yaml:"tags"`
	// TagRegex selects tags of the repository matching this regular
	// expression (anchored by you: "^1\\.27\\.[0-9]+$").
	TagRegex string `yaml:"tagRegex"`
	// Semver selects tags that are semantic versions within this range
	// (">= 1.26, < 1.28"). Tags that are not versions are ignored.
	Semver string `yaml:"semver"`
	// Platforms restricts a multi-arch image to these platforms.
	Platforms []string `yaml:"platforms"`
	// Latest keeps only the N highest versions selected by Semver (or the
	// last N tags in sorted order otherwise). Zero means all.
	Latest int `yaml:"latest"`
}

// loadConfig reads and checks a configuration file.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("config %s: larger than 1 MiB", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.SetDir(filepath.Dir(path))
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	for i, s := range c.Sources {
		if s.Image == "" {
			return nil, fmt.Errorf("config %s: sources[%d]: missing image", path, i)
		}
		if s.TagRegex != "" {
			if _, err := regexp.Compile(s.TagRegex); err != nil {
				return nil, fmt.Errorf("config %s: sources[%d].tagRegex: %w", path, i, err)
			}
		}
		if s.Semver != "" {
			if _, err := semver.NewConstraint(s.Semver); err != nil {
				return nil, fmt.Errorf("config %s: sources[%d].semver: %w", path, i, err)
			}
		}
	}
	return &c, nil
}

// expand returns the references to acquire for a source: its explicit tag
// and tags, plus the tags of the repository selected by regex or semver.
func (s Source) expand(ctx context.Context, client *registry.Client) ([]string, error) {
	loc, err := registry.ParseLocation(s.Image)
	if err != nil {
		return nil, err
	}
	var refs []string
	seen := map[string]bool{}
	add := func(tag string) {
		if !seen[tag] {
			seen[tag] = true
			refs = append(refs, loc.Repository+":"+tag)
		}
	}
	if loc.Digest != "" {
		refs = append(refs, loc.String())
	} else if loc.Tag != "" {
		add(loc.Tag)
	}
	for _, t := range s.Tags {
		add(t)
	}
	if s.TagRegex == "" && s.Semver == "" {
		if len(refs) == 0 {
			add("latest")
		}
		return refs, nil
	}
	repo, err := client.Repository(ctx, loc.Repository)
	if err != nil {
		return nil, err
	}
	var all []string
	if err := repo.Tags(ctx, "", func(tags []string) error {
		all = append(all, tags...)
		if len(all) > 100000 {
			return fmt.Errorf("%s: more than 100000 tags", loc.Repository)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	selected, err := selectTags(all, s.TagRegex, s.Semver, s.Latest)
	if err != nil {
		return nil, err
	}
	for _, t := range selected {
		add(t)
	}
	return refs, nil
}

// selectTags filters tags by a regular expression and/or a semver range,
// keeping the latest n (by version when a range is given) if n > 0.
func selectTags(tags []string, re, rng string, n int) ([]string, error) {
	var rx *regexp.Regexp
	if re != "" {
		var err error
		if rx, err = regexp.Compile(re); err != nil {
			return nil, err
		}
	}
	var cons *semver.Constraints
	if rng != "" {
		var err error
		if cons, err = semver.NewConstraint(rng); err != nil {
			return nil, err
		}
	}
	type tv struct {
		tag string
		v   *semver.Version
	}
	var out []tv
	for _, t := range tags {
		if rx != nil && !rx.MatchString(t) {
			continue
		}
		var v *semver.Version
		if cons != nil {
			var err error
			if v, err = semver.NewVersion(t); err != nil || !cons.Check(v) {
				continue
			}
		}
		out = append(out, tv{t, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].v != nil && out[j].v != nil && !out[i].v.Equal(out[j].v) {
			return out[i].v.LessThan(out[j].v)
		}
		return out[i].tag < out[j].tag
	})
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	res := make([]string, len(out))
	for i, x := range out {
		res[i] = x.tag
	}
	return res, nil
}
