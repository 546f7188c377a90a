// Package catalogtest is the conformance kit for catalog.Store
// implementations, and a generator of realistic catalog entries for tests
// and benchmarks. A store passes the kit in one line:
//
//	func TestConformance(t *testing.T) {
//		catalogtest.Run(t, func(t *testing.T) catalog.Store { return openFreshStore(t) })
//	}
//
// The kit compares every search against the reference semantics of
// catalog.Query.Matches over a generated corpus, so a store may evaluate
// queries any way it likes as long as it returns the same entries, totals,
// facet counts and pages.
package catalogtest
