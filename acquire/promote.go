package acquire

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/cssc-go/cssc/registry"
)

// promotion copies an image and a chosen set of its referrers from
// quarantine to golden. Content is copied first, subjects before their
// referrers (so registries without the referrers API index them), and the
// tag is moved last: golden never has a tag on an incomplete image.
type promotion struct {
	src, dst    registry.Repository
	root        ocispec.Descriptor
	artifacts   []ocispec.Descriptor // in dependency order: artifacts, then their signatures
	concurrency int
}

// copyContent copies the image graph and every artifact; it does not tag.
func (p promotion) copyContent(ctx context.Context) error {
	opts := oras.CopyGraphOptions{Concurrency: p.concurrency, MountFrom: p.mountFrom()}
	if err := oras.CopyGraph(ctx, p.src, p.dst, p.root, opts); err != nil {
		return fmt.Errorf("copy image %s: %w", p.root.Digest, err)
	}
	for _, a := range p.artifacts {
		if err := oras.CopyGraph(ctx, p.src, p.dst, a, opts); err != nil {
			return fmt.Errorf("copy artifact %s: %w", a.Digest, err)
		}
	}
	return nil
}

// mountFrom mounts blobs from the quarantine repository when quarantine and
// golden are on the same registry host. oras-go falls back to a normal
// upload when the mount is refused.
func (p promotion) mountFrom() func(context.Context, ocispec.Descriptor) ([]string, error) {
	src, err1 := registry.ParseLocation(p.src.Location())
	dst, err2 := registry.ParseLocation(p.dst.Location())
	if err1 != nil || err2 != nil || src.Kind != registry.KindRemote || dst.Kind != registry.KindRemote || src.Ref.Registry != dst.Ref.Registry {
		return nil
	}
	from := strings.TrimPrefix(src.Repository, src.Ref.Registry+"/")
	return func(context.Context, ocispec.Descriptor) ([]string, error) { return []string{from}, nil }
}
