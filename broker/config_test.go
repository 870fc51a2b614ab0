package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{name: "default", change: func(*Config) {}},
		{name: "listen", change: func(c *Config) { c.Listen = "127.0.0.1:4222" }},
		{name: "listen any host", change: func(c *Config) { c.Listen = ":4222" }},
		{name: "bad listen", change: func(c *Config) { c.Listen = "localhost" }, want: "nats.listen:"},
		{name: "bad listen port", change: func(c *Config) { c.Listen = ":99999" }, want: "nats.listen:"},
		{name: "embedded replicas", change: func(c *Config) { c.Replicas = 3 }, want: "nats.replicas: must be 1"},
		{name: "embedded without store", change: func(c *Config) { c.StoreDir = "" }, want: "nats.store_dir:"},
		{name: "embedded creds", change: func(c *Config) { c.CredentialsFile = "x.creds" }, want: "nats.credentials_file:"},
		{name: "embedded ca", change: func(c *Config) { c.CAFile = "ca.pem" }, want: "nats.ca_file:"},
		{name: "external", change: func(c *Config) { c.URL = "nats://a:4222,tls://b:4222"; c.Replicas = 3 }},
		{name: "external with listen", change: func(c *Config) { c.URL = "nats://a:4222"; c.Listen = ":4222" }, want: "nats.listen: must be empty"},
		{name: "external bad url", change: func(c *Config) { c.URL = "a:4222" }, want: "nats.url:"},
		{name: "external bad scheme", change: func(c *Config) { c.URL = "http://a:4222" }, want: "nats.url:"},
		{name: "external replicas", change: func(c *Config) { c.URL = "nats://a:4222"; c.Replicas = 7 }, want: "nats.replicas:"},
		{name: "connect timeout", change: func(c *Config) { c.ConnectTimeout = 0 }, want: "nats.connect_timeout:"},
		{name: "drain timeout", change: func(c *Config) { c.DrainTimeout = -time.Second }, want: "nats.drain_timeout:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.StoreDir = "/tmp/nats"
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestListenHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
	}{
		{"127.0.0.1:4222", "127.0.0.1", 4222},
		{":4222", "0.0.0.0", 4222},
		{"127.0.0.1:0", "127.0.0.1", -1},
		{"[::1]:-1", "::1", -1},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			host, port, err := listenHostPort(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.host, host)
			require.Equal(t, tc.port, port)
		})
	}
}
