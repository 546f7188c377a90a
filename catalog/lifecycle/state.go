package lifecycle

import (
	"fmt"
	"time"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
)

// StatusAt returns the status that an end of life implies at now: active
// without a date or before the deprecation window, deprecated within the
// window (or, with DeprecateAtEndOfSupport, past the end of active
// support), retired from the end of life on (the instant itself is
// retired).
func (p *Policy) StatusAt(res *Resolution, now time.Time) catalog.Status {
	if res == nil || res.EndOfLife.IsZero() {
		return catalog.StatusActive
	}
	switch {
	case !now.Before(res.EndOfLife):
		return catalog.StatusRetired
	case !now.Before(res.EndOfLife.Add(-p.window)):
		return catalog.StatusDeprecated
	case p.cfg.DeprecateAtEndOfSupport && !res.Support.IsZero() && !now.Before(res.Support):
		return catalog.StatusDeprecated
	}
	return catalog.StatusActive
}

// Next returns the status an image in status current since since (zero:
// unknown) moves to at now, and a note when it does not simply follow
// StatusAt:
//
//   - a retired image stays retired unless an override gives it a later
//     end of life (a marker, rule or data file that moves the date later
//     does not bring it back on its own);
//   - with a Notice, an image is deprecated for at least that long before
//     it is retired, even past its end of life.
func (p *Policy) Next(current catalog.Status, since time.Time, res *Resolution, now time.Time) (catalog.Status, string) {
	if current == "" {
		current = catalog.StatusActive
	}
	want := p.StatusAt(res, now)
	if current == catalog.StatusRetired && want != catalog.StatusRetired {
		if res != nil && res.Override {
			return want, "reinstated by an override"
		}
		eol := "none"
		if res != nil && !res.EndOfLife.IsZero() {
			eol = attest.FormatDate(res.EndOfLife)
		}
		return catalog.StatusRetired, fmt.Sprintf("stays retired although its end of life is now %s: only an override reinstates a retired image", eol)
	}
	notice := p.cfg.Notice.Duration
	if want == catalog.StatusRetired && current != catalog.StatusRetired && notice > 0 {
		switch {
		case current == catalog.StatusActive:
			return catalog.StatusDeprecated, fmt.Sprintf("end of life passed without a deprecation: deprecated now, retired after a notice of %s", notice)
		case since.IsZero():
			return catalog.StatusDeprecated, fmt.Sprintf("deprecated since an unknown time: the notice of %s starts now", notice)
		case now.Before(since.Add(notice)):
			return catalog.StatusDeprecated, fmt.Sprintf("retires on %s, after a notice of %s", attest.FormatDate(since.Add(notice)), notice)
		}
	}
	return want, ""
}
