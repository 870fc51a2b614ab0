package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand returns `sluice health`, the container health check: it
// asks the admin API's /readyz and fails unless it answers 200. The image
// has no curl; this is the same binary.
func healthCommand(load func() (Config, error), stdout io.Writer) *cobra.Command {
	var (
		addr    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the local server is ready, non-zero otherwise (for health checks)",
		Long: `Asks GET /readyz of the admin API at admin.listen (from the configuration file
and SLUICE_* variables, as serve reads them; a wildcard host means this machine)
or at --addr, and exits non-zero unless it answers 200 within --timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				cfg, err := load()
				if err != nil {
					return err
				}
				addr = cfg.Admin.Listen
			}
			url, err := readyURL(addr)
			if err != nil {
				return err
			}
			if err := checkReady(cmd.Context(), url, timeout); err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, "ready")
			return err
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "admin API address host:port (default: admin.listen)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// readyURL returns the /readyz URL of the admin API listening on addr; a
// wildcard or empty host is reached on the loopback address.
func readyURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("health: admin address %q is not host:port with a fixed port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// checkReady asks url once and reports why the server is not ready.
func checkReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	// No proxy from the environment: the server is on this machine.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s", url, resp.Status)
	}
	return nil
}
