package main

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"

	"github.com/sluicehq/sluice/admin"
	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/defender"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/csvcheck"
	"github.com/sluicehq/sluice/pipeline/decrypt"
	"github.com/sluicehq/sluice/pipeline/unzip"
	"github.com/sluicehq/sluice/sshserver"
	"github.com/sluicehq/sluice/store"
)

// Config is Sluice's whole configuration. Each component owns its section.
type Config struct {
	// DataDir holds everything Sluice keeps on the local disk: the SQLite
	// database, the master key file and the accounts' trees.
	DataDir string `yaml:"data_dir" koanf:"data_dir"`
	// MemoryLimitMiB is the Go runtime's soft memory limit (see
	// runtime/debug.SetMemoryLimit): the garbage collector works harder as
	// the process nears it, keeping a busy server's footprint flat. 0 turns
	// it off; the GOMEMLIMIT environment variable, when set, wins.
	MemoryLimitMiB int64              `yaml:"memory_limit_mib" koanf:"memory_limit_mib"`
	Log            LogConfig          `yaml:"log" koanf:"log"`
	Admin          admin.Config       `yaml:"admin" koanf:"admin"`
	Metrics        MetricsConfig      `yaml:"metrics" koanf:"metrics"`
	Store          store.Config       `yaml:"store" koanf:"store"`
	Credentials    credentials.Config `yaml:"credentials" koanf:"credentials"`
	SFTP           sshserver.Config   `yaml:"sftp" koanf:"sftp"`
	Defender       defender.Config    `yaml:"defender" koanf:"defender"`
	NATS           broker.Config      `yaml:"nats" koanf:"nats"`
	Pipeline       PipelineConfig     `yaml:"pipeline" koanf:"pipeline"`
	Retention      RetentionConfig    `yaml:"retention" koanf:"retention"`
	Blob           blob.Config        `yaml:"blob" koanf:"blob"`
}

// PipelineConfig gathers the pipeline's settings: the runner's own keys
// (pipeline.workers, pipeline.max_deliver, ...) and a section per part.
type PipelineConfig struct {
	pipeline.RunnerConfig `yaml:",inline" koanf:",squash,flatten"`
	Intake                pipeline.IntakeConfig `yaml:"intake" koanf:"intake"`
	Events                pipeline.EventsConfig `yaml:"events" koanf:"events"`
	Decrypt               decrypt.Config        `yaml:"decrypt" koanf:"decrypt"`
	Unzip                 unzip.Config          `yaml:"unzip" koanf:"unzip"`
	CSV                   csvcheck.Config       `yaml:"csvcheck" koanf:"csvcheck"`
}

// RetentionConfig says how long Sluice keeps what it processed.
type RetentionConfig struct {
	// Archive is how long an upload's original, its outputs and its
	// reports are kept after it finished; then the janitor removes them.
	Archive time.Duration `yaml:"archive" koanf:"archive"`
}

// Validate reports the first invalid field, naming its key.
func (c RetentionConfig) Validate() error {
	if c.Archive < time.Hour {
		return fmt.Errorf("retention.archive: must be at least 1h (got %s)", c.Archive)
	}
	return nil
}

// defaultConfig is what `sluice serve` runs with when nothing else is given.
func defaultConfig() Config {
	return Config{
		DataDir:        "./data",
		MemoryLimitMiB: 64,
		Log:            LogConfig{Level: "info", Format: "text"},
		Admin:          admin.DefaultConfig(),
		Store:          store.Config{Driver: store.SQLite},
		Credentials:    credentials.Config{Argon2: credentials.DefaultArgon2, MaxConcurrentHashes: max(2, runtime.NumCPU())},
		SFTP:           sshserver.DefaultConfig(),
		Defender:       defender.DefaultConfig(),
		NATS:           broker.DefaultConfig(),
		Pipeline: PipelineConfig{
			RunnerConfig: pipeline.DefaultRunnerConfig(),
			Intake:       pipeline.DefaultIntakeConfig(),
			Events:       pipeline.DefaultEventsConfig(),
			Decrypt:      decrypt.DefaultConfig(),
			Unzip:        unzip.DefaultConfig(),
			CSV:          csvcheck.DefaultConfig(),
		},
		Retention: RetentionConfig{Archive: 30 * 24 * time.Hour},
		Metrics:   MetricsConfig{FeedLabels: true},
		Blob:      blob.DefaultConfig(),
	}
}

// derive fills in the settings that follow from others, such as the
// folders inside data_dir; they are not configuration keys of their own.
func (c *Config) derive() {
	c.Credentials.HomeDir = filepath.Join(c.DataDir, "home")
	c.SFTP.HostKeyDir = filepath.Join(c.DataDir, "hostkeys")
	c.NATS.StoreDir = filepath.Join(c.DataDir, "nats")
	c.Pipeline.Events.Replicas = c.NATS.Replicas
	c.Pipeline.RunnerConfig.Replicas = c.NATS.Replicas
	c.Blob.Replicas = c.NATS.Replicas
}

// blobDir is the folder of the pipeline's blobs: uploads kept for the
// archive period, stage outputs, reports.
func (c Config) blobDir() string { return filepath.Join(c.DataDir, "blobs") }

// fsConfig is the SFTP filesystem's share of the configuration.
func (c Config) fsConfig() sshserver.FSConfig {
	return sshserver.FSConfig{HomeDir: c.Credentials.HomeDir, PartialRetention: c.SFTP.PartialRetention, TempPatterns: c.SFTP.TempPatterns}
}

// Validate reports the first invalid value, naming its key.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	if c.MemoryLimitMiB < 0 {
		return errors.New("memory_limit_mib: must be 0 (off) or positive")
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	if err := c.Admin.Validate(); err != nil {
		return err
	}
	if err := c.Metrics.Validate(); err != nil {
		return err
	}
	if err := c.Store.Validate(); err != nil {
		return err
	}
	for _, v := range []interface{ Validate() error }{c.Credentials, c.SFTP, c.Defender, c.NATS, c.Pipeline.RunnerConfig, c.Pipeline.Intake,
		c.Pipeline.Events, c.Pipeline.Decrypt, c.Pipeline.Unzip, c.Pipeline.CSV, c.Retention, c.Blob} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

const envPrefix = "SLUICE_"

// nonConfigEnv are SLUICE_* variables that are not configuration keys.
var nonConfigEnv = []string{"SLUICE_MASTER_KEY", "SLUICE_MASTER_KEY_NEW", "SLUICE_BOOTSTRAP_TOKEN"}

// envName returns the environment variable that overrides key: its path in
// upper case with dots turned into underscores (sftp.listen → SLUICE_SFTP_LISTEN).
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// loadConfig layers built-in defaults, the YAML file at path (if any) and
// SLUICE_* environment variables, then validates the result. Unknown keys and
// invalid values are errors that name the key. warn receives SLUICE_*
// variables that match no key.
func loadConfig(path string, environ []string, warn func(string)) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(defaultConfig(), "koanf"), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}
	known := map[string]bool{}
	byEnv := map[string]string{}
	for _, key := range k.Keys() {
		known[key] = true
		byEnv[envName(key)] = key
	}

	if path != "" {
		f := koanf.New(".")
		if err := f.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, key := range f.Keys() {
			if !known[key] {
				return Config{}, fmt.Errorf("config file %s: unknown key %q", path, key)
			}
		}
		if err := k.Merge(f); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := byEnv[name]
			if !ok {
				if !slices.Contains(nonConfigEnv, name) && !strings.HasPrefix(name, "SLUICE_TEST_") {
					warn(fmt.Sprintf("environment variable %s matches no configuration key; ignored", name))
				}
				return "", nil
			}
			if _, isList := k.Get(key).([]string); isList {
				return key, strings.Split(value, ",")
			}
			return key, value
		},
	}), nil)
	if err != nil {
		return Config{}, fmt.Errorf("load environment: %w", err)
	}

	var cfg Config
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook:       durationHook,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		TagName:          "koanf",
	}})
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %s", decodeErrorText(err))
	}
	cfg.derive()
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// durationHook decodes Go duration strings ("20s", "5m") into
// time.Duration with an error that says what is expected.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() || from.Kind() != reflect.String {
		return data, nil
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q: use a number and a unit, such as 300ms, 20s, 5m or 24h", data)
	}
	return d, nil
}

// decodeErrorText turns mapstructure's multi-line report into one line per
// key, e.g. "admin.read_timeout: time: invalid duration "abc"".
func decodeErrorText(err error) string {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		if l == "" || strings.HasSuffix(l, "error(s) decoding:") || strings.HasSuffix(l, "error(s):") {
			continue
		}
		if m := decodingKey.FindStringSubmatch(l); m != nil {
			l = m[1] + ": " + m[2]
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

var decodingKey = regexp.MustCompile(`^(?:error decoding )?'([^']*)':? (.*)$`)

// redacted returns a copy of cfg fit to print: credentials inside DSNs are
// masked.
func (c Config) redacted() Config {
	c.Store.DSN = redactDSN(c.Store.DSN)
	return c
}

var dsnPassword = regexp.MustCompile(`(password\s*=\s*)('[^']*'|\S+)`)

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
		return dsn
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
