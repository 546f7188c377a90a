package artifact

// Annotations of the lifecycle markers the catalog writes on a transition
// (active, deprecated, retired). They sit beside AnnotationEndOfLife on a
// TypeLifecycle manifest, so that consumers that know only Microsoft's
// convention still read the date, and a catalog rebuilt from the registry
// reads back its whole lifecycle state.
const (
	// AnnotationLifecycleStatus is the catalog status the marker records:
	// LifecycleActive, LifecycleDeprecated or LifecycleRetired.
	AnnotationLifecycleStatus = "dev.cssc.lifecycle.status"
	// AnnotationLifecycleReplacement names the image that replaces the
	// subject ("registry.corp/golden/library/nginx:1.28").
	AnnotationLifecycleReplacement = "dev.cssc.lifecycle.replacement"
	// AnnotationLifecycleSource says where the end-of-life date comes from
	// ("lifecycle-marker", "rule", "data-file", "override").
	AnnotationLifecycleSource = "dev.cssc.lifecycle.source"
	// AnnotationLifecycleReason explains the date and the status in one
	// line.
	AnnotationLifecycleReason = "dev.cssc.lifecycle.reason"
	// AnnotationLifecycleSources lists every end-of-life date considered,
	// with its role and source, as a JSON array.
	AnnotationLifecycleSources = "dev.cssc.lifecycle.sources"
	// AnnotationLifecycleSince is when the recorded status began (RFC
	// 3339): a marker that only updates the date keeps it.
	AnnotationLifecycleSince = "dev.cssc.lifecycle.since"
)

// Values of AnnotationLifecycleStatus.
const (
	LifecycleActive     = "active"
	LifecycleDeprecated = "deprecated"
	LifecycleRetired    = "retired"
)
