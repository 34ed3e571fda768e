package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-dev/switchyard/strategy"
)

// exitCodesHelp is the exit code table every command's help ends with.
const exitCodesHelp = `
Exit codes:
  0    ok; for watch and --wait: the release succeeded (or, with --wait, goes on)
  1    error (cluster unreachable, forbidden, corrupt record, --timeout passed)
  2    usage error (bad arguments or flags)
  3    not found: the app has no release record
  4    refused: the request does not apply to the release now (the reason says what to do)
  5    the release ended Aborted or Failed (watch and --wait, unless abort or undo asked for it)
  130  interrupted (Ctrl-C)`

// Run runs the command line args (without the program name) and returns
// its exit code; errors are written to streams.Err with what to do.
func Run(ctx context.Context, args []string, streams Streams, opts ...Option) int {
	cmd := NewCommand(streams, opts...)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	code := ExitCode(err)
	switch {
	case code == ExitInterrupted && errors.Is(err, context.Canceled):
		fmt.Fprintln(streams.Err, "interrupted")
	case code == ExitInterrupted:
		fmt.Fprintln(streams.Err, err.Error())
	case err != nil:
		fmt.Fprintln(streams.Err, "error: "+err.Error())
	}
	return code
}

// env is what every command shares: the streams, the settings and the
// connection flags.
type env struct {
	streams   Streams
	set       settings
	kubecfg   string
	kubectx   string
	namespace string
}

// NewCommand returns the root command, kubectl-switchyard, with every
// subcommand. Its errors carry their exit code: see ExitCode.
func NewCommand(streams Streams, opts ...Option) *cobra.Command {
	e := &env{streams: streams, set: newSettings(streams, opts)}
	root := &cobra.Command{
		Use:   "kubectl-switchyard",
		Short: "See and steer switchyard releases (blue/green, canary, rolling)",
		Long: "kubectl switchyard shows and steers the releases switchyard records in each app's release record\n" +
			"(the ConfigMap <app>.switchyard). Requests are written to the record; the driver running the\n" +
			"release carries them out.\n" + exitCodesHelp,
		Args:          noCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl switchyard"}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v (see --help)", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&e.kubecfg, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	pf.StringVar(&e.kubectx, "context", "", "the kubeconfig context to use")
	pf.StringVarP(&e.namespace, "namespace", "n", "", "the app's namespace (default: the context's namespace)")
	root.AddCommand(e.listCmd(), e.statusCmd(), e.historyCmd(), e.watchCmd())
	root.AddCommand(e.timelineCmd())
	for _, a := range actions {
		root.AddCommand(e.controlCmd(a))
	}
	return root
}

// noCommand is the root's argument check: anything left is an unknown
// command.
func noCommand(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q: see kubectl switchyard --help", args[0])
	}
	return nil
}

// noArgs is the argument check of commands that take none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q: see kubectl switchyard %s --help", cmd.Name(), args, cmd.Name())
	}
	return nil
}

// oneApp is the argument check of commands that take the app's name.
func oneApp(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf("%s takes one argument, the app's name: kubectl switchyard %s", cmd.Name(), cmd.Use)
	}
	return nil
}

// connect returns the Kubernetes client and the namespace to act in.
func (e *env) connect() (kubernetes.Interface, string, error) {
	if e.set.kube != nil {
		ns := e.namespace
		if ns == "" {
			ns = e.set.namespace
		}
		if ns == "" {
			ns = "default"
		}
		return e.set.kube, ns, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = e.kubecfg
	overrides := &clientcmd.ConfigOverrides{CurrentContext: e.kubectx}
	overrides.Context.Namespace = e.namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the kubeconfig: %w (pass --kubeconfig, set KUBECONFIG, or choose one with --context)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the namespace of the kubeconfig context: %w", err)
	}
	cfg.UserAgent = "kubectl-switchyard"
	clients, err := strategy.NewClients(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("building the Kubernetes client: %w", err)
	}
	return clients.Kube, ns, nil
}

// control returns a Control and the app named by args in the namespace of
// the flags.
func (e *env) control(args []string) (*strategy.Control, types.NamespacedName, error) {
	kube, ns, err := e.connect()
	if err != nil {
		return nil, types.NamespacedName{}, err
	}
	app := types.NamespacedName{Namespace: ns, Name: args[0]}
	return e.newControl(kube), app, nil
}

func (e *env) newControl(kube kubernetes.Interface) *strategy.Control {
	return strategy.NewControl(kube, strategy.WithClock(e.set.clock), strategy.WithIdentity(e.set.identity))
}
