// Command cainjector runs cert-manager's CA injector for homeport's tests: it copies the
// CA of a Secret or Certificate named by a `cert-manager.io/inject-ca-from*` annotation
// into the caBundle of webhook configurations, APIServices and CRD conversion webhooks.
//
// Upstream's entry point, cmd/cainjector of cert-manager, is a nested Go module that the
// module proxy does not serve. The injector itself (the reconcilers, indexers and data
// sources: pkg/controller/cainjector) and its configuration types and defaults
// (internal/apis/config/cainjector) are in the released main module at the same tag.
// This file is the command line and the controller-runtime manager around them, with
// the subset of upstream's flags the chart's Deployment passes or a test needs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	config "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	"github.com/cert-manager/cert-manager/internal/cmd/util"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
)

func main() {
	ctx, exit := util.SetupExitHandler(context.Background(), util.GracefulShutdown)
	defer exit() // may call os.Exit: deferred first so it runs last

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "cainjector")

	cfg, err := defaults()
	if err != nil {
		logf.Log.Error(err, "error building the cainjector configuration")
		util.SetExitCode(err)
		return
	}
	cmd := &cobra.Command{
		Use:           "cainjector",
		Short:         fmt.Sprintf("cert-manager CA injector (%s)", cmutil.AppVersion),
		SilenceErrors: true,
		SilenceUsage:  true,
		PreRunE: func(*cobra.Command, []string) error {
			if errs := validation.ValidateCAInjectorConfiguration(cfg, nil); len(errs) > 0 {
				return fmt.Errorf("error validating flags: %w", errs.ToAggregate())
			}
			return logf.ValidateAndApply(&cfg.Logging)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd.Context(), cfg) },
	}
	addFlags(cmd, cfg)
	cmd.Flags().AddGoFlagSet(flag.CommandLine)
	if err := cmd.ExecuteContext(ctx); err != nil {
		logf.Log.Error(err, "error executing command")
		util.SetExitCode(err)
	}
}

// defaults is the configuration upstream starts from: the v1alpha1 defaults, converted.
func defaults() (*config.CAInjectorConfiguration, error) {
	scheme, _, err := configscheme.NewSchemeAndCodecs()
	if err != nil {
		return nil, err
	}
	versioned := &configv1alpha1.CAInjectorConfiguration{}
	scheme.Default(versioned)
	cfg := &config.CAInjectorConfiguration{}
	if err := scheme.Convert(versioned, cfg, nil); err != nil {
		return nil, err
	}
	return cfg, nil
}

func addFlags(cmd *cobra.Command, c *config.CAInjectorConfiguration) {
	fs := cmd.Flags()
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "path to a kubeconfig (in-cluster configuration when empty)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "only inject into objects of this namespace (all when empty)")
	fs.BoolVar(&c.LeaderElectionConfig.Enabled, "leader-elect", c.LeaderElectionConfig.Enabled, "use leader election")
	fs.StringVar(&c.LeaderElectionConfig.Namespace, "leader-election-namespace", c.LeaderElectionConfig.Namespace, "namespace of the leader election Lease")
	fs.BoolVar(&c.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", c.EnableDataSourceConfig.Certificates, "also inject CAs from Certificates (cert-manager.io/inject-ca-from)")
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "host:port of the metrics endpoint; 0 disables it")
	logf.AddFlags(&c.Logging, fs)
}

func run(ctx context.Context, opts *config.CAInjectorConfiguration) error {
	log := logf.FromContext(ctx)
	restCfg, err := clientcmd.BuildConfigFromFlags("", opts.KubeConfig)
	if err != nil {
		return fmt.Errorf("error reading the kubeconfig: %w", err)
	}
	var namespaces map[string]cache.Config
	if opts.Namespace != "" {
		namespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		kscheme.AddToScheme, cmscheme.AddToScheme, apiext.AddToScheme, apireg.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	le := opts.LeaderElectionConfig
	mgr, err := ctrl.NewManager(cmutil.RestConfigWithUserAgent(restCfg, "cainjector"), ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{DefaultNamespaces: namespaces},
		// Secrets are watched by metadata only; their data is read straight from the API.
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:                le.Enabled,
		LeaderElectionNamespace:       le.Namespace,
		LeaderElectionID:              "cert-manager-cainjector-leader-election",
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaseDuration:                 &le.LeaseDuration,
		RenewDeadline:                 &le.RenewDeadline,
		RetryPeriod:                   &le.RetryPeriod,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsListenAddress},
	})
	if err != nil {
		return fmt.Errorf("error creating manager: %w", err)
	}
	if opts.EnableDataSourceConfig.Certificates {
		// Like upstream: wait (up to 5 minutes) for the Certificate CRD before watching it.
		direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()})
		if err != nil {
			return err
		}
		err = wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := direct.Get(ctx, types.NamespacedName{Name: "certificates.cert-manager.io"}, &apiext.CustomResourceDefinition{})
			if apierrors.IsNotFound(err) {
				log.Info("certificates.cert-manager.io CRD not found yet, retrying")
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return errors.Join(errors.New("certificates.cert-manager.io CRD not found"), err)
		}
	}
	inject := opts.EnableInjectableConfig
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    opts.Namespace,
		IgnoreNamespaces:             opts.IgnoreNamespaces,
		EnableCertificatesDataSource: opts.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   inject.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: inject.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     inject.APIServices,
			cainjector.CustomResourceDefinitionName:       inject.CustomResourceDefinitions,
		},
	})
	if err != nil {
		return fmt.Errorf("failed to register the injectors: %w", err)
	}
	return mgr.Start(ctx)
}

