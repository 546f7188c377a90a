package requests_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
)

// FuzzSubmit feeds arbitrary submissions to a service: it never panics,
// every error is one of the documented kinds, and what it stores passes
// the store's validation.
func FuzzSubmit(f *testing.F) {
	for _, s := range [][4]string{
		{"nginx:1.27", "web", "team", "alice"},
		{"docker.io/library/ngnix", "x", "y", "z"},
		{"ghcr.io/acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "r", "o", "q"},
		{"nginх", "r", "o", "q"},
		{"UPPER/x", "two\nlines", "o", "q"},
		{"", "", "", ""},
		{"a/b/c/d/e/f:tag", "\xff", "o\x00", "q"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	store := catalog.NewMemoryStore()
	s, err := requests.New(requests.Options{Requests: store, Queue: catalog.NewMemoryQueue(), Store: store, Golden: "registry.corp/golden",
		RateLimit: -1, Rules: requests.Rules{AutoApprove: []requests.Rule{{Name: "official", Match: []string{"docker.io/library/*"}}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref, reason, owner, requester string) {
		a, err := s.Submit(context.Background(), requests.Submission{Reference: ref, Reason: reason, Owner: owner, Requester: requester})
		if err != nil {
			if !errors.Is(err, requests.ErrInvalidInput) && !errors.Is(err, requests.ErrSourceNotAllowed) {
				t.Fatalf("submit %q: an undocumented error: %v", ref, err)
			}
			return
		}
		if a.Request == nil && a.Golden == nil {
			t.Fatalf("submit %q: neither a request nor a golden image", ref)
		}
		if a.Request != nil {
			if err := a.Request.Validate(); err != nil {
				t.Fatalf("submit %q: stored an invalid request: %v", ref, err)
			}
		}
	})
}
