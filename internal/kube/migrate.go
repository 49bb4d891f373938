package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferrydvm/ferry/api/v1alpha1"
	"github.com/ferrydvm/ferry/internal/pki"
)

// migration is one run of Migrate.
type migration struct {
	spec  Spec
	rep   Reporter
	plan  Plan
	certs *pki.Set
}

// Migrate runs a migration from preflight to cleanup. The error names the volume or
// the step that failed and why; a broken data path is a *ProbeError with the probe's
// report. Every object it created is deleted before it returns, whatever happened.
func Migrate(ctx context.Context, spec Spec, rep Reporter) (*Result, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &migration{spec: spec, rep: rep, plan: Plan{ID: spec.ID, Endpoint: spec.Endpoint}}
	// A run of the same ID that died without its cleanup (a controller killed) left
	// objects of the same names behind: remove them first.
	m.removeLeftovers(ctx)
	defer m.cleanup(ctx)
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"preflight", m.preflight},
		{"expose the receivers", m.expose},
		{"create the certificates", m.secrets},
		{"start the receivers", m.startReceivers},
		{"probe the data path", m.probe},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return &Result{Plan: m.plan}, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	if spec.DryRun {
		m.rep.Step("dry run: the data path works; nothing copied")
		return &Result{Plan: m.plan}, nil
	}
	vols, err := m.copy(ctx)
	return &Result{Plan: m.plan, Volumes: vols}, err
}

// withDefaults checks the spec and fills in its defaults.
func (s Spec) withDefaults() (Spec, error) {
	var errs []error
	if s.Source == nil || s.Target == nil {
		errs = append(errs, errors.New("both a source and a target cluster are needed"))
	}
	if len(s.Volumes) == 0 {
		errs = append(errs, errors.New("no volume to migrate: name claims with --pvc or use --all-pvcs"))
	}
	if s.ID == "" {
		s.ID = newID()
	} else if !validID.MatchString(s.ID) {
		errs = append(errs, fmt.Errorf("migration ID %q: want 1 to 12 lower-case letters and digits", s.ID))
	}
	switch s.Endpoint {
	case "":
		s.Endpoint = v1alpha1.EndpointRoute
	case v1alpha1.EndpointRoute, v1alpha1.EndpointLoadBalancer, v1alpha1.EndpointNodePort:
	case v1alpha1.EndpointIngress:
		if s.IngressDomain == "" {
			errs = append(errs, errors.New("the Ingress endpoint needs a domain for its hosts (--ingress-domain)"))
		}
	default:
		errs = append(errs, fmt.Errorf("endpoint %q: want Route, Ingress, LoadBalancer or NodePort", s.Endpoint))
	}
	switch s.Type {
	case "":
		s.Type = v1alpha1.MigrationTypeStage
	case v1alpha1.MigrationTypeStage, v1alpha1.MigrationTypeCutOver:
	default:
		errs = append(errs, fmt.Errorf("migration type %q: want Stage or CutOver", s.Type))
	}
	if s.Image == "" {
		s.Image = DefaultImage
	}
	if s.BackoffLimit == 0 {
		s.BackoffLimit = 20
	}
	if s.ReadyTimeout == 0 {
		s.ReadyTimeout = 3 * time.Minute
	}
	return s, errors.Join(errs...)
}

// ProbeError is a data path that the probe found broken; Report is what it printed.
type ProbeError struct {
	Namespace string // the target namespace whose receiver was probed
	Address   string
	Report    string
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("the source cannot reach the receiver for %s at %s:\n%s", e.Namespace, e.Address, e.Report)
}
