package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "any port", mutate: func(c *Config) { c.Listen = ":0" }},
		{name: "ipv6", mutate: func(c *Config) { c.Listen = "[::1]:8080" }},
		{name: "no timeouts", mutate: func(c *Config) { c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = 0, 0, 0 }},
		{name: "empty listen", mutate: func(c *Config) { c.Listen = "" }, wantErr: "admin.listen: must not be empty"},
		{name: "no port", mutate: func(c *Config) { c.Listen = "localhost" }, wantErr: `admin.listen: "localhost" is not host:port`},
		{name: "bad port", mutate: func(c *Config) { c.Listen = "localhost:http" }, wantErr: `admin.listen: "localhost:http" has an invalid port`},
		{name: "port out of range", mutate: func(c *Config) { c.Listen = ":70000" }, wantErr: "admin.listen:"},
		{name: "zero body limit", mutate: func(c *Config) { c.BodyLimit = 0 }, wantErr: "admin.body_limit: must be a positive number of bytes, got 0"},
		{name: "negative read timeout", mutate: func(c *Config) { c.ReadTimeout = -time.Second }, wantErr: "admin.read_timeout: must be a positive duration, got -1s"},
		{name: "no read header timeout", mutate: func(c *Config) { c.ReadHeaderTimeout = 0 }, wantErr: "admin.read_header_timeout:"},
		{name: "no shutdown timeout", mutate: func(c *Config) { c.ShutdownTimeout = 0 }, wantErr: "admin.shutdown_timeout:"},
		{name: "negative idle timeout", mutate: func(c *Config) { c.IdleTimeout = -1 }, wantErr: "admin.idle_timeout:"},
		{name: "negative write timeout", mutate: func(c *Config) { c.WriteTimeout = -1 }, wantErr: "admin.write_timeout:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, "127.0.0.1:8080", c.Listen)
	require.Equal(t, int64(1<<20), c.BodyLimit)
}

func TestNewRejects(t *testing.T) {
	bad := DefaultConfig()
	bad.Listen = ""
	_, err := New(bad, Deps{Service: &fakeService{}}, nil)
	require.ErrorContains(t, err, "admin.listen")
	_, err = New(DefaultConfig(), Deps{}, nil)
	require.ErrorContains(t, err, "nil Service")
}
