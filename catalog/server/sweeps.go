package server

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// SweepLister lists the most recent sweeps (rescans and lifecycle runs),
// newest first, at most limit of them. The rescan and lifecycle
// schedulers implement it over their sweep records.
type SweepLister interface {
	Sweeps(ctx context.Context, limit int) ([]Sweep, error)
}

// SweepListerFunc adapts a function to SweepLister.
type SweepListerFunc func(ctx context.Context, limit int) ([]Sweep, error)

// Sweeps calls f.
func (f SweepListerFunc) Sweeps(ctx context.Context, limit int) ([]Sweep, error) {
	return f(ctx, limit)
}

// Sweep kinds.
const (
	SweepVulnerability = "vulnerability" // re-match SBOMs against a vulnerability database
	SweepMalware       = "malware"       // malware rescan after a signature update
	SweepLifecycle     = "lifecycle"     // end-of-life evaluation, deprecation, retirement
)

// Sweep outcomes.
const (
	SweepRunning   = "running"
	SweepCompleted = "completed"
	SweepSkipped   = "skipped" // e.g. database unchanged: no work
	SweepFailed    = "failed"
)

// Sweep is the record of one run, as the sweeps page and API show it.
type Sweep struct {
	// ID identifies the sweep.
	ID string `json:"id"`
	// Kind is one of the Sweep kind constants (others are shown as is).
	Kind string `json:"kind"`
	// Trigger says what started it ("on-demand", "database-update",
	// "schedule").
	Trigger string `json:"trigger,omitempty"`
	// Started and Finished bound the run; Finished is zero while running.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Outcome is one of the Sweep outcome constants.
	Outcome string `json:"outcome"`
	// Reason explains the outcome ("database unchanged").
	Reason string `json:"reason,omitempty"`
	// Database and PreviousDatabase are the database versions compared
	// (vulnerability and malware sweeps).
	Database         string `json:"database,omitempty"`
	PreviousDatabase string `json:"previousDatabase,omitempty"`
	// Images counts the images considered; Matched those re-matched;
	// Changed those whose findings or state changed; Reports the signed
	// reports or markers written; Failed the images that failed.
	Images  int `json:"images"`
	Matched int `json:"matched"`
	Changed int `json:"changed"`
	Reports int `json:"reports"`
	Failed  int `json:"failed"`
	// Items say what happened to individual images (the changed and the
	// failed ones, typically).
	Items []SweepItem `json:"items,omitempty"`
}

// SweepItem is what a sweep did to one image.
type SweepItem struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	// Action is what was done ("new report", "deprecated", "retired",
	// "failed").
	Action string `json:"action"`
	// Detail explains ("2 new findings: CVE-2026-0001 (critical)").
	Detail string `json:"detail,omitempty"`
}

// maxSweeps caps the sweeps one page or API call lists.
const maxSweeps = 200
