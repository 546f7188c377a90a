package requests_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/server"
)

// TestClient submits through catalog/server's API: answers come back as
// Service.Submit's, refusals as its typed errors.
func TestClient(t *testing.T) {
	store := catalog.NewMemoryStore()
	svc, err := requests.New(requests.Options{Requests: store, Queue: catalog.NewMemoryQueue(), Store: store, Golden: "registry.corp/golden",
		RateLimit: 4, RateWindow: time.Hour, Rules: requests.Rules{Sources: []string{"docker.io/library/*", "ghcr.io/acme/**"}}})
	require.NoError(t, err)
	h, err := server.New(server.Options{Store: store, Requests: svc,
		Authorizer: server.AuthorizerFunc(func(r *http.Request, a server.Action) error { return nil })})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := &requests.Client{BaseURL: srv.URL + "/"}
	ctx := context.Background()

	a, err := c.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/app:1", Reason: "r", Owner: "o"})
	require.NoError(t, err)
	require.NotNil(t, a.Request)
	assert.True(t, a.Created)
	assert.Equal(t, catalog.RequestPending, a.Request.State)
	a, err = c.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/app:1", Reason: "r", Owner: "o"})
	require.NoError(t, err)
	assert.False(t, a.Created, "the same requester asking again")

	_, err = c.Submit(ctx, requests.Submission{Reference: "docker.io/library/nginx:1", Reason: strings.Repeat("r", 2000), Owner: "o"})
	var ie *requests.InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "reason", ie.Field)
	assert.ErrorIs(t, err, requests.ErrInvalidInput)

	_, err = c.Submit(ctx, requests.Submission{Reference: "quay.io/x/y:1", Reason: "r", Owner: "o"})
	var se *requests.SourceError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "quay.io/x/y", se.Name)

	_, err = c.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/other:1", Reason: "r", Owner: "o"})
	var rl *requests.RateLimitError
	require.ErrorAs(t, err, &rl, "the fifth submission of anonymous within the hour (refused ones count)")
	assert.Positive(t, rl.RetryAfter)

	_, err = (&requests.Client{BaseURL: "not a url"}).Submit(ctx, requests.Submission{Reference: "x"})
	assert.True(t, errors.Is(err, requests.ErrInvalidConfig), "%v", err)
	_, err = (&requests.Client{BaseURL: srv.URL + "/nowhere"}).Submit(ctx, requests.Submission{Reference: "x", Reason: "r", Owner: "o"})
	assert.ErrorContains(t, err, "404")
}
