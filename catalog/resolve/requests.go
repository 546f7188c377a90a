package resolve

import (
	"context"

	"github.com/cssc-go/cssc/catalog/requests"
)

// Opened is what OpenRequests did for one reference.
type Opened struct {
	// Image is the reference requested.
	Image string `json:"image"`
	// Answer is the service's answer: a new request, the open one it
	// joined, or (if the catalog got it meanwhile) the golden image. Nil
	// when Err is set.
	Answer *requests.Answer `json:"answer,omitempty"`
	// Err says why the request could not be made.
	Err string `json:"error,omitempty"`
}

// OpenRequests opens a request, through s, for each image of results that
// has no golden equivalent (StatusNone), once per image, with the reason,
// owner and requester of tmpl. It returns what it did, in the order of
// results; a refused request (a source the rules do not take, bad input,
// the rate limit) is an Opened with its error, not an error of the call.
// The error is ctx's, when it ended.
func OpenRequests(ctx context.Context, s requests.Submitter, tmpl requests.Submission, results []Result) ([]Opened, error) {
	var out []Opened
	seen := map[string]bool{}
	for _, r := range results {
		if r.Status != StatusNone || r.Image == "" || seen[r.Image] {
			continue
		}
		seen[r.Image] = true
		if err := ctx.Err(); err != nil {
			return out, err
		}
		sub := tmpl
		sub.Reference = r.Image
		a, err := s.Submit(ctx, sub)
		o := Opened{Image: r.Image, Answer: a}
		if err != nil {
			o.Answer, o.Err = nil, err.Error()
		}
		out = append(out, o)
	}
	return out, nil
}
