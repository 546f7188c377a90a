// Package requests lets teams ask for images that the catalog does not
// have yet, and brings them in through the Acquire stage.
//
// A team submits a reference with a reason and an owner (Service.Submit;
// catalog/server offers it as an API route and a portal form). A
// reference the catalog already has is answered with its golden entry and
// the pull-by-digest reference; a reference someone already asked for
// joins that open request (duplicates collapse into one). Otherwise the
// Rules decide: a source the configuration does not allow is refused, a
// reference that matches an auto-approve rule is approved at once, and
// everything else waits for an approver (Service.Approve, Service.Deny;
// the server asks its Authorizer who may). A reference that looks like a
// known image name but is not one (a small edit distance, look-alike
// characters, a known name under another namespace) is flagged as a
// possible typosquat, says which name it resembles, and is never
// approved automatically.
//
// An approved request is a job in the catalog's queue (catalog.Queue),
// taken with the same leases as rescans and upstream checks, so that
// several instances share the work and a job whose worker died is taken
// again when its lease expires. The worker (Service.Run) runs the
// acquisition through an upstream.Acquirer (upstream.PipelineAcquirer runs
// the full acquire pipeline), and the request moves pending -> approved ->
// acquiring -> promoted, or ends denied (with the policy's reasons) or
// failed. Every change is a CloudEvent (the Type constants) for the
// requester.
//
// The requests themselves live in a catalog.RequestStore: MemoryStore,
// catalog/sqlite or catalog/postgres.
//
// A per-requester rate limit (Options.RateLimit per Options.RateWindow)
// holds under a flood: each instance caps the submissions it takes, and
// the requests a requester opens are counted in the store in the same
// atomic step as the insert (catalog.LimitedRequestStore), so that
// instances racing on one store together let through exactly the limit.
package requests
