package csvcheck

import "fmt"

// Config bounds what the stage reads, holds and reports. Its keys live under
// pipeline.csvcheck. in the configuration file. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// MaxLineBytes bounds one record: a physical line, or the lines a
	// quoted field spans. A longer record rejects the file at once; reading
	// stops there, so memory stays bounded (about twice this) whatever the
	// file holds.
	MaxLineBytes int `yaml:"max_line_bytes" koanf:"max_line_bytes"`
	// MaxFieldBytes bounds one field; a longer field is a row error.
	MaxFieldBytes int `yaml:"max_field_bytes" koanf:"max_field_bytes"`
	// MaxColumns bounds the number of columns of the header.
	MaxColumns int `yaml:"max_columns" koanf:"max_columns"`
	// MaxErrors is how many row errors are gathered into the report; with
	// on_error reject_file, reading stops after that many.
	MaxErrors int `yaml:"max_errors" koanf:"max_errors"`
	// MaxWarnings is how many warnings (formula-like cells, absent optional
	// columns) are gathered into the report; all are counted.
	MaxWarnings int `yaml:"max_warnings" koanf:"max_warnings"`
	// MaxUniqueValues bounds, per unique column, the values the uniqueness
	// check holds: 16-byte hashes in a table at most 80 % full that doubles
	// as it grows, so each 1,000,000 values cost up to 32 MiB (48 MiB while
	// the table doubles). Ascending integer keys cost nothing. Beyond the
	// bound the file is rejected with a clear reason.
	MaxUniqueValues int `yaml:"max_unique_values" koanf:"max_unique_values"`
}

// DefaultConfig returns the defaults: 1 MiB lines and fields, 1000 columns,
// 1000 errors and 100 warnings in a report, 1,000,000 unique values per
// column (32 MiB at most).
func DefaultConfig() Config {
	return Config{
		MaxLineBytes:    1 << 20,
		MaxFieldBytes:   1 << 20,
		MaxColumns:      1000,
		MaxErrors:       1000,
		MaxWarnings:     100,
		MaxUniqueValues: 1_000_000,
	}
}

// Validate reports the first invalid field of c, naming its key.
func (c Config) Validate() error {
	switch {
	case c.MaxLineBytes < 64 || c.MaxLineBytes > 64<<20:
		return fmt.Errorf("pipeline.csvcheck.max_line_bytes: must be between 64 and 67108864 (got %d)", c.MaxLineBytes)
	case c.MaxFieldBytes < 1 || c.MaxFieldBytes > c.MaxLineBytes:
		return fmt.Errorf("pipeline.csvcheck.max_field_bytes: must be between 1 and max_line_bytes (got %d)", c.MaxFieldBytes)
	case c.MaxColumns < 1 || c.MaxColumns > 100_000:
		return fmt.Errorf("pipeline.csvcheck.max_columns: must be between 1 and 100000 (got %d)", c.MaxColumns)
	case c.MaxErrors < 1 || c.MaxErrors > 1_000_000:
		return fmt.Errorf("pipeline.csvcheck.max_errors: must be between 1 and 1000000 (got %d)", c.MaxErrors)
	case c.MaxWarnings < 0 || c.MaxWarnings > 1_000_000:
		return fmt.Errorf("pipeline.csvcheck.max_warnings: must be between 0 and 1000000 (got %d)", c.MaxWarnings)
	case c.MaxUniqueValues < 1 || c.MaxUniqueValues > 1<<30:
		return fmt.Errorf("pipeline.csvcheck.max_unique_values: must be between 1 and 1073741824 (got %d)", c.MaxUniqueValues)
	}
	return nil
}
