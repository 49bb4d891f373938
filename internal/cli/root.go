// Package cli wires ferry's command line: one file per subcommand, each with an options
// struct, a newXCommand constructor and a runX function that tests call directly. Output
// goes to the writers in GlobalOptions so tests capture it in-process.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, documented in the root command's help.
const (
	ExitOK      = 0
	ExitFailure = 1 // the operation failed
	ExitUsage   = 2 // bad flags or arguments
)

// GlobalOptions are shared by every subcommand.
type GlobalOptions struct {
	Stdout, Stderr io.Writer
	LogFormat      string
	LogLevel       string
	log            *slog.Logger
}

// Logger returns the logger configured by --log-format and --log-level.
func (g *GlobalOptions) Logger() *slog.Logger {
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(g.Stderr, nil))
	}
	return g.log
}

func (g *GlobalOptions) setupLog() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return usageError(fmt.Errorf("--log-level %q: use debug, info, warn or error", g.LogLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.LogFormat) {
	case "text":
		g.log = slog.New(slog.NewTextHandler(g.Stderr, opts))
	case "json":
		g.log = slog.New(slog.NewJSONHandler(g.Stderr, opts))
	default:
		return usageError(fmt.Errorf("--log-format %q: use text or json", g.LogFormat))
	}
	return nil
}

// NewRootCommand builds the whole command tree.
func NewRootCommand(g *GlobalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Move persistent-volume data between clusters over end-to-end TLS, through proxies",
		Long: `ferry copies the data of persistent volumes from one cluster to another ("direct volume
migration") over mutually authenticated TLS 1.3, through HTTP CONNECT proxies.

Exit codes:
  0  success
  1  the operation failed (the message says why and what to do)
  2  bad flags or arguments`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setupLog()
		},
	}
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	root.PersistentFlags().StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(
		newVersionCommand(g),
		newCertsCommand(g),
		newTunnelCommand(g),
		newServeCommand(g),
		newSendCommand(g),
		newMigrateCommand(g),
		newProbeCommand(g),
		newConfigCommand(g),
		newControllerCommand(g),
	)
	return root
}

// exitError carries an exit code with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error { return &exitError{code: ExitUsage, err: err} }

// ExitCode maps an error returned by the root command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// cobra reports unknown commands and argument count problems as plain errors.
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "arg(s)") || strings.HasPrefix(msg, "unknown flag") {
		return ExitUsage
	}
	return ExitFailure
}
