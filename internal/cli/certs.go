package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferrydvm/ferry/internal/pki"
)

// CertsOptions are the flags of `ferry certs generate`.
type CertsOptions struct {
	Out         string
	ServerNames []string
	Days        int
	Force       bool
}

// AddFlags registers the flags.
func (o *CertsOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "", "directory to write ca.crt, ca.key, server.crt, server.key, client.crt, client.key (required)")
	f.StringArrayVar(&o.ServerNames, "server-name", nil, "name the receiver is reached by (DNS name or IP); repeatable")
	f.IntVar(&o.Days, "days", 30, "validity in days")
	f.BoolVar(&o.Force, "force", false, "replace existing files")
}

func newCertsCommand(g *GlobalOptions) *cobra.Command {
	certs := &cobra.Command{
		Use:   "certs",
		Short: "Make the certificates of a migration",
	}
	o := &CertsOptions{}
	gen := &cobra.Command{
		Use:   "generate --out DIR [--server-name NAME]... [--days N]",
		Short: "Create a CA for one migration, a server and a client certificate",
		Long: `Creates a CA made for one migration and signs a server certificate (every --server-name
as a SAN) and a client certificate with it. Keys are written 0600. The files work with
stunnel as they are (CAfile = ca.crt, cert = server.crt, key = server.key).`,
		Example: "  ferry certs generate --out ./certs --server-name rsync.apps.target.example.com --server-name 10.0.0.7",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCertsGenerate(cmd.Context(), o, g)
		},
	}
	o.AddFlags(gen)
	certs.AddCommand(gen)
	return certs
}

func runCertsGenerate(ctx context.Context, o *CertsOptions, g *GlobalOptions) error {
	if o.Out == "" {
		return usageError(fmt.Errorf("--out is required: the directory for the certificates"))
	}
	if o.Days < 1 {
		return usageError(fmt.Errorf("--days %d: must be at least 1", o.Days))
	}
	set, err := pki.Generate(pki.Options{ServerNames: o.ServerNames, Days: o.Days})
	if err != nil {
		return err
	}
	if err := set.Write(o.Out, o.Force); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "wrote the certificates of a new migration CA to %s (valid %d days)\n", o.Out, o.Days)
	return nil
}
