package unzip

import "fmt"

// Config bounds what the stage extracts from one archive. Its keys live
// under pipeline.unzip. in the configuration file.
type Config struct {
	// MaxTotalBytes bounds the bytes extracted from one archive, all
	// entries together.
	MaxTotalBytes int64 `yaml:"max_total_bytes" koanf:"max_total_bytes"`
	// MaxRatio bounds how many times larger than its compressed size an
	// entry may expand (200 means 200:1). It is checked against the sizes
	// the archive declares and again while inflating, against the
	// compressed bytes consumed so far. Entries of at most MinRatioBytes
	// are exempt.
	MaxRatio int64 `yaml:"max_ratio" koanf:"max_ratio"`
	// MaxEntries bounds the number of entries of the central directory,
	// folders and ignored entries included.
	MaxEntries int `yaml:"max_entries" koanf:"max_entries"`
	// MaxNesting is how many ZIP levels a file may come through: an input
	// whose chain already holds MaxNesting "zip" steps is refused. 1
	// refuses a ZIP inside a ZIP.
	MaxNesting int `yaml:"max_nesting" koanf:"max_nesting"`
}

// MinRatioBytes is the output size up to which an entry is never refused
// for its expansion ratio: a small file of repeated values legitimately
// compresses far better than 200:1.
const MinRatioBytes = 1 << 20

// DefaultConfig returns the defaults: 32 GiB in all, a 200:1 expansion
// ratio, 10,000 entries and one ZIP level.
func DefaultConfig() Config {
	return Config{
		MaxTotalBytes: 32 << 30,
		MaxRatio:      200,
		MaxEntries:    10_000,
		MaxNesting:    1,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c Config) Validate() error {
	switch {
	case c.MaxTotalBytes < 1:
		return fmt.Errorf("pipeline.unzip.max_total_bytes: must be positive (got %d)", c.MaxTotalBytes)
	case c.MaxRatio < 1 || c.MaxRatio > 1_000_000:
		return fmt.Errorf("pipeline.unzip.max_ratio: must be between 1 and 1000000 (got %d)", c.MaxRatio)
	case c.MaxEntries < 1 || c.MaxEntries > 10_000_000:
		return fmt.Errorf("pipeline.unzip.max_entries: must be between 1 and 10000000 (got %d)", c.MaxEntries)
	case c.MaxNesting < 1 || c.MaxNesting > 3:
		return fmt.Errorf("pipeline.unzip.max_nesting: must be between 1 and 3 (got %d)", c.MaxNesting)
	}
	return nil
}
