package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	goyaml "go.yaml.in/yaml/v3"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// run executes the sluice command line args, writing to stdout and stderr.
// It returns when the command is done or, for serve, when ctx is cancelled and
// the server has shut down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var configPath string
	load := func() (Config, error) {
		return loadConfig(configPath, os.Environ(), func(msg string) { fmt.Fprintln(stderr, "sluice: warning:", msg) })
	}

	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: SFTP ingestion with decryption, unzip and CSV validation",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&configPath, "config", "", "YAML configuration file (defaults apply when omitted)")

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: SFTP, the pipeline workers, the admin API and (by default) an embedded NATS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, newLogger(cfg.Log, stderr))
		},
	}

	worker := &cobra.Command{
		Use:   "worker",
		Short: "Run pipeline workers only, against the external NATS of nats.url",
		Long: "worker takes pipeline tasks (decrypt, unzip, validate) from the NATS cluster that the serve nodes use\n" +
			"and shares their store and data directory. Run as many as the load needs; stop with SIGTERM.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return work(cmd.Context(), cfg, newLogger(cfg.Log, stderr))
		},
	}
	token := &cobra.Command{Use: "token", Short: "Manage admin API tokens"}
	var tokenName, tokenDesc string
	tokenCreate := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create an admin API token and print it once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return createToken(cmd.Context(), cfg, newLogger(cfg.Log, stderr), tokenName, tokenDesc, stdout)
		},
	}
	tokenCreate.Flags().StringVar(&tokenName, "name", "", "credential name of the token (required)")
	tokenCreate.Flags().StringVar(&tokenDesc, "description", "", "free-text description")
	_ = tokenCreate.MarkFlagRequired("name")
	token.AddCommand(tokenCreate)

	config := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	config.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults, file and environment), secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			enc := goyaml.NewEncoder(stdout)
			enc.SetIndent(2)
			if err := enc.Encode(cfg.redacted()); err != nil {
				return fmt.Errorf("print configuration: %w", err)
			}
			return enc.Close()
		},
	})

	masterKey := &cobra.Command{Use: "master-key", Short: "Manage the master key that seals stored secrets"}
	masterKey.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Generate a new master key and re-encrypt every stored secret under it",
		Long: `Generates a new master key and re-encrypts every sealed secret under it in one
transaction. With a key file (<data_dir>/master.key) the file is rewritten in place.
With SLUICE_MASTER_KEY, set SLUICE_MASTER_KEY_NEW to the new key (base64 of 32 bytes):
secrets are re-encrypted to it, and SLUICE_MASTER_KEY must then be replaced by it.
Stop every Sluice process of the deployment first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return rotateMasterKey(cmd.Context(), cfg, newLogger(cfg.Log, stderr), stdout)
		},
	})

	root.AddCommand(serve, worker, token, config, masterKey, &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(stdout, "sluice %s %s %s/%s\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}, healthCommand(load, stdout))
	return root.ExecuteContext(ctx)
}

// buildVersion is the version set at build time or, for `go install`, the
// module's version.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
