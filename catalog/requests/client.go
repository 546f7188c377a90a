package requests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Submitter takes a submission: *Service in the catalog's own process,
// *Client through the catalog's API.
type Submitter interface {
	Submit(ctx context.Context, sub Submission) (*Answer, error)
}

var (
	_ Submitter = (*Service)(nil)
	_ Submitter = (*Client)(nil)
)

// maxAnswerBytes caps the body of an API answer the Client reads: 1 MiB.
const maxAnswerBytes = 1 << 20

// Client submits requests to a catalog service's API
// (POST /api/v1/requests, as catalog/server serves it). The service names
// the requester from its own authentication; Submission.Requester is not
// sent.
type Client struct {
	// BaseURL is the service's root ("https://catalog.corp"). Required.
	BaseURL string
	// HTTPClient sends the requests. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Header is added to every request (an Authorization header, or the
	// identity headers a trusted proxy would set).
	Header http.Header
}

// Submit implements Submitter. The service's refusals come back as the
// errors Service.Submit returns (an *InputError for a 400 naming a field,
// a *SourceError for a 422, a *RateLimitError for a 429); any other
// answer is an error with its status and message.
func (c *Client) Submit(ctx context.Context, sub Submission) (*Answer, error) {
	u, err := url.Parse(strings.TrimSuffix(c.BaseURL, "/") + "/api/v1/requests")
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%w: base URL %q", ErrInvalidConfig, c.BaseURL)
	}
	body, err := json.Marshal(map[string]string{"reference": sub.Reference, "reason": sub.Reason, "owner": sub.Owner})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("requests: submit %s: %w", sub.Reference, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("requests: submit %s: %w", sub.Reference, err)
	}
	if len(data) > maxAnswerBytes {
		return nil, fmt.Errorf("requests: submit %s: answer over %d bytes", sub.Reference, maxAnswerBytes)
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		var a Answer
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("requests: submit %s: answer: %w", sub.Reference, err)
		}
		if a.Request == nil && a.Golden == nil {
			return nil, fmt.Errorf("requests: submit %s: the answer names neither a request nor a golden image", sub.Reference)
		}
		return &a, nil
	}
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Parameter string `json:"parameter"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	msg := e.Error.Message
	if msg == "" {
		msg = strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest && e.Error.Parameter != "":
		return nil, &InputError{Field: e.Error.Parameter, Reason: strings.TrimPrefix(msg, e.Error.Parameter+": ")}
	case resp.StatusCode == http.StatusUnprocessableEntity && e.Error.Code == "source_not_allowed":
		name := sub.Reference
		if ref, err := parseReference(sub.Reference); err == nil {
			name = ref.Name()
		}
		return nil, &SourceError{Name: name}
	case resp.StatusCode == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, &RateLimitError{Requester: "this client", RetryAfter: time.Duration(max(secs, 1)) * time.Second}
	}
	return nil, errors.New("requests: submit " + sub.Reference + ": " + resp.Status + ": " + msg)
}
