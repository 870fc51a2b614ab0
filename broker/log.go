package broker

import (
	"fmt"
	"log/slog"
)

// serverLogger adapts slog to nats-server's Logger. The server's notices (a
// banner of some twenty lines at every start) are debug output here; Broker
// logs the one line an operator needs itself. Fatal errors are logged as
// errors: the server shuts itself down after reporting one, and a log call
// must never exit the process.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug("nats server", "detail", fmt.Sprintf(format, v...)) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn("nats server", "detail", fmt.Sprintf(format, v...)) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Error("nats server", "detail", fmt.Sprintf(format, v...)) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Error("nats server", "detail", fmt.Sprintf(format, v...)) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debug("nats server", "detail", fmt.Sprintf(format, v...)) }
func (s serverLogger) Tracef(string, ...any)           {}
