// Command ferry moves persistent-volume data between clusters; see the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferrydvm/ferry/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &cli.GlobalOptions{Stdout: os.Stdout, Stderr: os.Stderr}
	err := cli.NewRootCommand(g).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
	}
	os.Exit(cli.ExitCode(err))
}
