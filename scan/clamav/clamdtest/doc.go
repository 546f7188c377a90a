// Package clamdtest starts a real clamd (ClamAV's daemon, Debian package
// clamav-daemon) for tests and benchmarks, with a tiny signature database
// generated on the fly instead of the system's, and builds the EICAR test
// file at run time (it is never stored verbatim in the repository, so that
// virus scanners do not flag the source tree).
//
// Tests that need clamd call Start; it skips the test with a clear message
// when /usr/sbin/clamd (or clamd on PATH) is not installed.
package clamdtest
