package broker

import (
	"context"
	"fmt"
	"log/slog"
)

// serverLogger adapts slog to nats-server's Logger. The server's notices (a
// banner of some twenty lines at every start) are debug output here; Broker
// logs the one line an operator needs itself. Fatal errors are logged as
// errors: the server shuts itself down after reporting one, and a log call
// must never exit the process.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s serverLogger) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s serverLogger) Debugf(format string, v ...any)  { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Tracef(string, ...any)           {}

func (s serverLogger) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if s.l.Enabled(ctx, level) {
		s.l.Log(ctx, level, "nats server", "detail", fmt.Sprintf(format, v...))
	}
}
