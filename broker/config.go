package broker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config selects the NATS server Sluice uses and how it connects to it. Its
// keys live under nats. in the configuration file.
type Config struct {
	// URL is the external NATS server or cluster to use, as a comma-separated
	// list of URLs (nats://host:4222, tls://host:4222). Empty runs the
	// embedded server.
	URL string `yaml:"url" koanf:"url"`
	// Listen exposes the embedded server on TCP (host:port; port 0 picks a
	// free port) so importers can consume events. Empty keeps it in-process
	// only. Must be empty when URL is set.
	Listen string `yaml:"listen" koanf:"listen"`
	// StoreDir is the embedded server's JetStream directory. cmd sets it to
	// <data_dir>/nats; it is not a configuration key.
	StoreDir string `yaml:"-" koanf:"-"`
	// Replicas is the number of replicas of every stream Sluice creates: 1
	// for the embedded server, 3 for a production cluster.
	Replicas int `yaml:"replicas" koanf:"replicas"`
	// ConnectTimeout bounds one attempt to dial a server.
	ConnectTimeout time.Duration `yaml:"connect_timeout" koanf:"connect_timeout"`
	// ReconnectWait is the pause between two reconnect attempts to an
	// external server. Sluice reconnects forever.
	ReconnectWait time.Duration `yaml:"reconnect_wait" koanf:"reconnect_wait"`
	// DrainTimeout bounds the drain of the connection at shutdown.
	DrainTimeout time.Duration `yaml:"drain_timeout" koanf:"drain_timeout"`
	// StartTimeout bounds the embedded server's start, JetStream recovery
	// included.
	StartTimeout time.Duration `yaml:"start_timeout" koanf:"start_timeout"`
	// CredentialsFile is a NATS .creds file (user JWT and nkey seed) to
	// authenticate to an external server. Optional.
	CredentialsFile string `yaml:"credentials_file" koanf:"credentials_file"`
	// TokenFile is a file holding an authentication token. With an external
	// server Sluice presents it; with the embedded server exposed on Listen,
	// every client (importers and Sluice itself) must present it. Optional;
	// a token is a shared secret with full access, so an exposed embedded
	// server should have one, and per-importer permissions need an external
	// server with its own accounts.
	TokenFile string `yaml:"token_file" koanf:"token_file"`
	// CAFile is a PEM bundle of the CAs that sign the external server's TLS
	// certificate, when they are not in the system's pool. Optional.
	CAFile string `yaml:"ca_file" koanf:"ca_file"`
	// SyncAlways makes the embedded server fsync every JetStream write
	// instead of every two minutes. Slower; protects acknowledged messages
	// against power loss, not only against a crash of the process.
	SyncAlways bool `yaml:"sync_always" koanf:"sync_always"`
}

// DefaultConfig returns the configuration of a single node: the embedded
// server, in-process only.
func DefaultConfig() Config {
	return Config{
		Replicas:       1,
		ConnectTimeout: 2 * time.Second,
		ReconnectWait:  2 * time.Second,
		DrainTimeout:   10 * time.Second,
		StartTimeout:   60 * time.Second,
	}
}

// Embedded reports whether c runs the embedded server.
func (c Config) Embedded() bool { return strings.TrimSpace(c.URL) == "" }

// Validate reports the first invalid field of c, naming its key.
func (c Config) Validate() error {
	if c.Embedded() {
		if c.Listen != "" {
			if _, _, err := listenHostPort(c.Listen); err != nil {
				return fmt.Errorf("nats.listen: %w", err)
			}
		}
		if c.Replicas != 1 {
			return fmt.Errorf("nats.replicas: must be 1 with the embedded server (got %d)", c.Replicas)
		}
		if c.StoreDir == "" {
			return errors.New("nats.store_dir: required with the embedded server")
		}
		if c.CredentialsFile != "" {
			return errors.New("nats.credentials_file: only used with an external server (nats.url)")
		}
		if c.CAFile != "" {
			return errors.New("nats.ca_file: only used with an external server (nats.url)")
		}
	} else {
		if c.Listen != "" {
			return errors.New("nats.listen: must be empty when nats.url names an external server")
		}
		for _, s := range serverURLs(c.URL) {
			u, err := url.Parse(s)
			if err != nil || u.Host == "" {
				return fmt.Errorf("nats.url: %q is not a URL such as nats://host:4222", s)
			}
			switch u.Scheme {
			case "nats", "tls", "ws", "wss":
			default:
				return fmt.Errorf("nats.url: %q: scheme must be nats, tls, ws or wss", s)
			}
		}
		if c.Replicas < 1 || c.Replicas > 5 {
			return fmt.Errorf("nats.replicas: must be between 1 and 5 (got %d)", c.Replicas)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"nats.connect_timeout", c.ConnectTimeout},
		{"nats.reconnect_wait", c.ReconnectWait},
		{"nats.drain_timeout", c.DrainTimeout},
		{"nats.start_timeout", c.StartTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be positive (got %s)", d.key, d.v)
		}
	}
	return nil
}

// serverURLs splits the comma-separated list in s.
func serverURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// listenHostPort splits a host:port listen address into nats-server's Host
// and Port options; port 0 becomes nats-server's "random port" (-1).
func listenHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	if port == 0 {
		port = -1
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}
