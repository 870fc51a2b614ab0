package decrypt

import "fmt"

// Config bounds what the stage writes. Its keys live under pipeline.decrypt.
// in the configuration file.
type Config struct {
	// MaxOutputBytes bounds the plaintext of one message, in bytes.
	MaxOutputBytes int64 `yaml:"max_output_bytes" koanf:"max_output_bytes"`
	// MaxExpansionRatio bounds how many times larger than the message the
	// decompressed data may grow (a compression bomb check). Compressed
	// output up to 1 MiB is always allowed, whatever the ratio.
	MaxExpansionRatio int64 `yaml:"max_expansion_ratio" koanf:"max_expansion_ratio"`
}

// DefaultConfig returns the defaults: 64 GiB of plaintext at most and a
// 200:1 expansion ratio, the ZIP stage's default.
func DefaultConfig() Config {
	return Config{
		MaxOutputBytes:    64 << 30,
		MaxExpansionRatio: 200,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c Config) Validate() error {
	switch {
	case c.MaxOutputBytes < 1:
		return fmt.Errorf("pipeline.decrypt.max_output_bytes: must be a positive number of bytes (got %d)", c.MaxOutputBytes)
	case c.MaxExpansionRatio < 1 || c.MaxExpansionRatio > 1_000_000:
		return fmt.Errorf("pipeline.decrypt.max_expansion_ratio: must be between 1 and 1000000 (got %d)", c.MaxExpansionRatio)
	}
	return nil
}
