package admin

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config configures the admin API server. The zero value is not usable; start
// from DefaultConfig.
type Config struct {
	// Listen is the TCP address the server listens on, host:port.
	Listen string `yaml:"listen" koanf:"listen"`
	// BodyLimit is the largest request body accepted, in bytes; larger
	// bodies are refused with 413.
	BodyLimit int64 `yaml:"body_limit" koanf:"body_limit"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" koanf:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included; 0 disables it.
	ReadTimeout time.Duration `yaml:"read_timeout" koanf:"read_timeout"`
	// WriteTimeout bounds writing a response; 0 disables it.
	WriteTimeout time.Duration `yaml:"write_timeout" koanf:"write_timeout"`
	// IdleTimeout bounds how long an idle keep-alive connection is kept; 0
	// uses ReadTimeout.
	IdleTimeout time.Duration `yaml:"idle_timeout" koanf:"idle_timeout"`
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// once its context is cancelled.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" koanf:"shutdown_timeout"`
}

// DefaultConfig returns the built-in defaults: 127.0.0.1:8080, a 1 MiB body
// limit and conservative timeouts.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		BodyLimit:         1 << 20,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   15 * time.Second,
	}
}

// Validate reports the first invalid field of c, naming its configuration key
// (for example "admin.listen: ...").
func (c Config) Validate() error {
	if err := validateListen(c.Listen); err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	if c.BodyLimit <= 0 {
		return fmt.Errorf("admin.body_limit: must be a positive number of bytes, got %d", c.BodyLimit)
	}
	for _, d := range []struct {
		key      string
		v        time.Duration
		positive bool
	}{
		{"admin.read_header_timeout", c.ReadHeaderTimeout, true},
		{"admin.read_timeout", c.ReadTimeout, false},
		{"admin.write_timeout", c.WriteTimeout, false},
		{"admin.idle_timeout", c.IdleTimeout, false},
		{"admin.shutdown_timeout", c.ShutdownTimeout, true},
	} {
		if d.v < 0 || (d.positive && d.v == 0) {
			return fmt.Errorf("%s: must be a positive duration, got %s", d.key, d.v)
		}
	}
	return nil
}

func validateListen(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}
