// Package config works out the proxy settings and transfer options a migration uses, from
// the places OpenShift users keep them: MTC's MigrationController resource, the process
// environment (as OLM injects it into operators), and the cluster-wide Proxy object (4.2 and
// later). Every effective value carries where it came from, and every field that was read
// but not used is reported with the reason. Passwords never leave this package unmasked
// except through the Raw accessors that the data path needs.
package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/ferrydvm/ferry/api/v1alpha1"
)

// Controller is a decoded MigrationController.
type Controller struct {
	Ref   string // "namespace/name", or where it was read when it has no name
	Where string // " (FILE document N)" for a file, "" for a live cluster
	Spec  v1alpha1.MigrationControllerSpec
	// Spelled maps a typed field (snake case) to the key as written, e.g. "httpsProxy".
	Spelled map[string]string
}

// Ignored is a field that was read and not used.
type Ignored struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// camelAliases are the spellings MTC accepts besides snake case.
var camelAliases = map[string]string{"httpProxy": "http_proxy", "httpsProxy": "https_proxy", "noProxy": "no_proxy"}

// mtcUnused are MigrationController fields MTC knows that concern parts of MTC ferry does
// not have; they are reported, not treated as mistakes.
var mtcUnused = map[string]string{
	"mig_controller_limits_cpu": "controller pod limits", "mig_controller_limits_memory": "controller pod limits",
	"mig_controller_requests_cpu": "controller pod requests", "mig_controller_requests_memory": "controller pod requests",
	"migration_velero": "Velero installation", "migration_controller": "component installation", "migration_ui": "component installation",
	"mig_pv_limit": "migration plan limits", "mig_pod_limit": "migration plan limits", "mig_namespace_limit": "migration plan limits",
	"migration_stage_image_fqin": "indirect volume migration", "migration_registry_image_fqin": "image migration",
	"rsync_transfer_image_fqin": "MTC's rsync image (ferry runs its own image)", "migration_registry_readiness_timeout": "image migration",
	"migration_registry_liveness_timeout": "image migration", "disable_image_migration": "image migration",
	"disable_pv_migration": "resource migration", "excluded_resources": "resource migration",
	"enable_dvm_pv_resizing": "PV resizing", "stunnel_pod_cpu_limits": "MTC's separate stunnel pod (ferry has none)",
	"stunnel_pod_cpu_requests": "MTC's separate stunnel pod (ferry has none)", "stunnel_pod_memory_limits": "MTC's separate stunnel pod (ferry has none)",
	"stunnel_pod_memory_requests": "MTC's separate stunnel pod (ferry has none)", "olm_managed": "operator management",
	"cluster_name": "operator management", "azure_resource_group": "Velero on Azure", "restic_timeout": "Velero file-system backup",
	"velero_plugin_fqin": "Velero", "mig_ui_cluster_api_endpoint": "MTC web console", "version": "operator version",
}

// DecodeController reads a MigrationController object (JSON). Type errors name the field.
func DecodeController(obj map[string]any, ref string) (*Controller, []Ignored, error) {
	c := &Controller{Ref: ref, Spelled: map[string]string{}, Spec: v1alpha1.MigrationControllerSpec{Other: map[string]any{}}}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil && obj["spec"] != nil {
		return nil, nil, fmt.Errorf("%s: spec is not an object", ref)
	}
	fields := specFields(&c.Spec)
	var ignored []Ignored
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		name := key
		if snake, ok := camelAliases[key]; ok {
			name = snake
		}
		ptr, typed := fields[name]
		if !typed {
			c.Spec.Other[key] = spec[key]
			reason := "unknown field: not an MTC or ferry setting (misspelt?)"
			if what, ok := mtcUnused[key]; ok {
				reason = "an MTC setting for " + what + "; ferry does not use it"
			}
			ignored = append(ignored, Ignored{Field: "spec." + key, Reason: reason})
			continue
		}
		if prev, dup := c.Spelled[name]; dup {
			return nil, nil, fmt.Errorf("%s: spec.%s and spec.%s are the same setting: give one", ref, prev, key)
		}
		if err := decodeField(spec[key], ptr); err != nil {
			return nil, nil, fmt.Errorf("%s: spec.%s: %w", ref, key, err)
		}
		c.Spelled[name] = key
	}
	return c, ignored, nil
}

// specFields maps each JSON name of the typed spec to a pointer to its field.
func specFields(spec *v1alpha1.MigrationControllerSpec) map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(spec).Elem()
	for i := range v.NumField() {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" {
			out[tag] = v.Field(i).Addr().Interface()
		}
	}
	return out
}

// decodeField sets a typed field from a JSON value, accepting the strings an Ansible-based
// operator's users often write ("true", "100").
func decodeField(v any, ptr any) error {
	if s, ok := v.(string); ok {
		switch ptr.(type) {
		case **bool, **int64:
			v = json.RawMessage(strings.TrimSpace(s))
		}
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, ptr)
	}
	if err != nil {
		got, _ := json.Marshal(v)
		if raw, ok := v.(json.RawMessage); ok {
			got, _ = json.Marshal(string(raw))
		}
		return fmt.Errorf("want %s, got %s", kindName(ptr), got)
	}
	return nil
}

func kindName(ptr any) string {
	switch ptr.(type) {
	case **bool:
		return "true or false"
	case **int64:
		return "an integer"
	case *[]string:
		return "a list of strings"
	}
	return "a string"
}
