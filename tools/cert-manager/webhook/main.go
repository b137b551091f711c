// Command webhook serves cert-manager's admission webhook (validation and defaulting of
// cert-manager.io and acme.cert-manager.io resources) for homeport's tests.
//
// Upstream's entry point, cmd/webhook of cert-manager, is a nested Go module that the
// module proxy does not serve. Everything it runs lives in the released main module at
// the same tag: the flags and defaults (pkg/webhook/options), the config file loader
// (pkg/webhook/configfile), validation (internal/apis/config/webhook/validation) and
// the server with its admission plugins and dynamic serving CA (internal/webhook).
// This file is only the command line around them: flags, then an optional --config file
// with flags taking precedence over it, then validation, then the server.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	config "github.com/cert-manager/cert-manager/internal/apis/config/webhook"
	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	"github.com/cert-manager/cert-manager/pkg/util/configfile"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	webhookconfigfile "github.com/cert-manager/cert-manager/pkg/webhook/configfile"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"
)

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "webhook")

	cmd, err := newCommand(os.Args[1:])
	if err != nil {
		logf.Log.Error(err, "error building the webhook configuration")
		util.SetExitCode(err)
		return
	}
	cmd.Flags().AddGoFlagSet(flag.CommandLine)
	if err := cmd.ExecuteContext(ctx); err != nil {
		logf.Log.Error(err, "error executing command")
		util.SetExitCode(err)
	}
}

func newCommand(args []string) (*cobra.Command, error) {
	flags := options.NewWebhookFlags()
	cfg, err := options.NewWebhookConfiguration()
	if err != nil {
		return nil, err
	}
	cmd := &cobra.Command{
		Use: "webhook",
		Short: fmt.Sprintf("cert-manager admission webhook (%s)", cmutil.AppVersion),
		SilenceErrors: true,
		SilenceUsage:  true,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := setFeatureGates(cfg); err != nil {
				return err
			}
			if flags.Config != "" {
				if err := loadFile(flags.Config, cfg); err != nil {
					return err
				}
				// Flags given on the command line win over the file: parse them again.
				_, rest, err := cmd.Root().Find(args)
				if err != nil {
					return err
				}
				if err := cmd.ParseFlags(rest); err != nil {
					return err
				}
				if err := setFeatureGates(cfg); err != nil {
					return err
				}
			}
			if errs := validation.ValidateWebhookConfiguration(cfg, nil); len(errs) > 0 {
				return fmt.Errorf("error validating flags: %w", errs.ToAggregate())
			}
			return logf.ValidateAndApply(&cfg.Logging)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logf.FromContext(cmd.Context(), "webhook")
			srv, err := cmwebhook.NewCertManagerWebhookServer(log, *cfg)
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	flags.AddFlags(cmd.Flags())
	options.AddConfigFlags(cmd.Flags(), cfg)
	cmd.SetArgs(args)
	return cmd, nil
}

func setFeatureGates(cfg *config.WebhookConfiguration) error {
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(cfg.FeatureGates); err != nil {
		return fmt.Errorf("failed to set feature gates: %w", err)
	}
	return nil
}

func loadFile(path string, cfg *config.WebhookConfiguration) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("failed to load config file %s: %w", path, err)
	}
	loader, err := configfile.NewConfigurationFSLoader(nil, abs)
	if err != nil {
		return fmt.Errorf("failed to load config file %s: %w", path, err)
	}
	fromFile := webhookconfigfile.New()
	if err := loader.Load(fromFile); err != nil {
		return fmt.Errorf("failed to load config file %s: %w", path, err)
	}
	fromFile.Config.DeepCopyInto(cfg)
	return nil
}
