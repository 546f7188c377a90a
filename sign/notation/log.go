package notation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	notationlog "github.com/notaryproject/notation-go/log"
)

// withLogger puts an adapter of l into ctx for notation-go, which takes
// its logger from the context. A nil l leaves notation-go silent.
func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	if l == nil {
		return ctx
	}
	return notationlog.WithLogger(ctx, slogAdapter{ctx: ctx, l: l.With("component", "notation-go")})
}

// slogAdapter implements notation-go's log.Logger on a *slog.Logger.
//
// notation-go logs what it finds about a signature (an untrusted signer at
// level error, a certificate without revocation information at level
// warn) while it verifies. Those are facts about one signature, which the
// Verifier reports in its result, not failures of the program: a run that
// meets another party's signature, as every publisher-signed image does
// when the enterprise verifier looks at it, must not print ERROR lines. So
// every notation-go message is logged at Debug, with notation-go's own
// level in the attribute "notationLevel".
type slogAdapter struct {
	ctx context.Context
	l   *slog.Logger
}

func (a slogAdapter) log(level slog.Level, msg string) {
	if !a.l.Enabled(a.ctx, slog.LevelDebug) {
		return
	}
	a.l.LogAttrs(a.ctx, slog.LevelDebug, strings.TrimSpace(msg), slog.String("notationLevel", level.String()))
}

func (a slogAdapter) Debug(args ...any) { a.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (a slogAdapter) Debugf(format string, args ...any) {
	a.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (a slogAdapter) Debugln(args ...any) { a.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (a slogAdapter) Info(args ...any)    { a.log(slog.LevelInfo, fmt.Sprint(args...)) }
func (a slogAdapter) Infof(format string, args ...any) {
	a.log(slog.LevelInfo, fmt.Sprintf(format, args...))
}
func (a slogAdapter) Infoln(args ...any) { a.log(slog.LevelInfo, fmt.Sprintln(args...)) }
func (a slogAdapter) Warn(args ...any)   { a.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (a slogAdapter) Warnf(format string, args ...any) {
	a.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (a slogAdapter) Warnln(args ...any) { a.log(slog.LevelWarn, fmt.Sprintln(args...)) }
func (a slogAdapter) Error(args ...any)  { a.log(slog.LevelError, fmt.Sprint(args...)) }
func (a slogAdapter) Errorf(format string, args ...any) {
	a.log(slog.LevelError, fmt.Sprintf(format, args...))
}
func (a slogAdapter) Errorln(args ...any) { a.log(slog.LevelError, fmt.Sprintln(args...)) }
