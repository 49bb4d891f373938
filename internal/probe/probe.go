// Package probe checks, step by step, whether a path can carry a migration, and explains
// each way it can break in words a user can act on: the data path (each proxy hop, its
// credentials and rules, end-to-end TLS, the receiver) and the API path (reaching an API
// server through the proxies that apply, credentials, and the Upgrade header that exec and
// port-forward need). Later checks are skipped when an earlier one fails.
package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status of a check.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Check is one step's result. Hint is always present in JSON, empty when there is nothing
// to add (the shape the README documents).
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"`

	// transient: a failure that may heal by itself (refused, timed out, a gateway error),
	// as opposed to a refusal that will not change by waiting (407, 403, interception).
	transient bool
}

// Report is the ordered result of a probe.
type Report struct {
	Checks []Check `json:"checks"`

	plan []string // every check this probe runs, in order
}

func newReport(plan ...string) *Report { return &Report{plan: plan} }

func (r *Report) pass(name, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: Pass, Detail: detail})
}

func (r *Report) skip(name, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: Skip, Detail: detail})
}

// fail records a failed check and skips every planned check after it.
func (r *Report) fail(name, detail, hint string, transient bool) {
	r.Checks = append(r.Checks, Check{Name: name, Status: Fail, Detail: detail, Hint: hint, transient: transient})
	r.skipRest()
}

// skipRest marks the planned checks not yet recorded as skipped.
func (r *Report) skipRest() {
	done := make(map[string]bool, len(r.Checks))
	for _, c := range r.Checks {
		done[c.Name] = true
	}
	for _, n := range r.plan {
		if !done[n] {
			r.skip(n, "not run: an earlier check failed")
		}
	}
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.FirstFailure() != nil }

// FirstFailure returns the first failed check, or nil.
func (r *Report) FirstFailure() *Check {
	for i := range r.Checks {
		if r.Checks[i].Status == Fail {
			return &r.Checks[i]
		}
	}
	return nil
}

// Error is a report's first failure as an error, for commands that stop on it.
type Error struct{ Check Check }

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Check.Name, e.Check.Detail)
	if e.Check.Hint != "" {
		msg += " (" + e.Check.Hint + ")"
	}
	return msg
}

// Transient reports whether the failure may heal by waiting (nothing listens yet, a
// timeout, a gateway error), so that retrying makes sense; refusals (credentials, proxy
// rules, interception, certificates, another protocol version) never heal by retrying.
func (e *Error) Transient() bool { return e.Check.transient }

// Err returns nil when no check failed, else an *Error for the first failure.
func (r *Report) Err() error {
	if c := r.FirstFailure(); c != nil {
		return &Error{Check: *c}
	}
	return nil
}

// WriteJSON prints {"checks":[...]}.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints a short table, with hints under failed checks.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(c.Status), c.Name, c.Detail)
		if c.Hint != "" && c.Status == Fail {
			fmt.Fprintf(tw, "\t\thint: %s\n", c.Hint)
		}
	}
	return tw.Flush()
}
