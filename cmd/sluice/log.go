package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogConfig configures the process log.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" koanf:"level"`
	// Format is text (logfmt-like key=value) or json.
	Format string `yaml:"format" koanf:"format"`
}

// Validate reports an unknown level or format, naming the key.
func (c LogConfig) Validate() error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Level)
	}
	if c.Format != "text" && c.Format != "json" {
		return fmt.Errorf("log.format: %q is not one of text, json", c.Format)
	}
	return nil
}

// newLogger returns the process logger writing to w.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToLower(c.Level))) // validated before
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
