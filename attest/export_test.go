package attest

// Parsers that only this package calls, exported to its external tests.
var (
	ParseBundle         = parseBundle
	ParseProvenance     = parseProvenance
	ParseLifecycleState = parseLifecycleState
)
