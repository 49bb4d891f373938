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
	"strconv"
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

// mtcUnused are MigrationController fields MTC knows (its operator's defaults,
// roles/migrationcontroller/defaults/main.yml in konveyor/mig-operator, and its documented
// settings) that concern parts of MTC ferry does not have. They are reported as MTC
// settings ferry does not use, not as mistakes. The value says what the field is for.
var mtcUnused = fieldsFor(
	group("controller pod resources", "mig_controller_limits_cpu", "mig_controller_limits_memory", "mig_controller_requests_cpu", "mig_controller_requests_memory"),
	group("MTC's controller image", "mig_controller_image", "mig_controller_repo", "mig_controller_version", "mig_controller_image_fqin"),
	group("MTC's controller cache", "mig_controller_enable_cache"),
	group("component installation", "migration_velero", "migration_controller", "migration_ui",
		"controller_state", "ui_state", "velero_state", "log_reader_state"),
	group("MTC's log reader pod", "migration_log_reader", "mig_log_reader_repo", "mig_log_reader_image", "mig_log_reader_version", "mig_log_reader_image_fqin"),
	group("migration plan limits", "mig_pv_limit", "mig_pod_limit", "mig_namespace_limit"),
	group("indirect volume migration", "migration_stage_image", "migration_stage_repo", "migration_stage_version", "migration_stage_image_fqin"),
	group("image migration", "migration_registry_image", "migration_registry_repo", "migration_registry_version", "migration_registry_image_fqin",
		"migration_registry_readiness_timeout", "migration_registry_liveness_timeout", "exposed_registry_validation_path",
		"disable_image_migration", "disable_image_copy"),
	group("MTC's rsync image (ferry runs its own image)", "rsync_transfer_image", "rsync_transfer_repo", "rsync_transfer_version", "rsync_transfer_image_fqin"),
	group("resource migration", "disable_pv_migration", "excluded_resources", "mig_pv_move_storageclasses"),
	group("PV resizing", "enable_dvm_pv_resizing", "enable_intelligent_pv_resize", "pv_resizing_threshold"),
	group("MTC's separate stunnel pod (ferry has none)", "stunnel_pod_cpu_limits", "stunnel_pod_cpu_requests", "stunnel_pod_memory_limits", "stunnel_pod_memory_requests"),
	group("operator management", "olm_managed", "cluster_name", "version", "mig_operator_version", "mig_namespace", "registry", "project", "configmap_secret"),
	group("migration hooks", "hook_runner_image", "hook_runner_repo", "hook_runner_version", "hook_runner_image_fqin"),
	group("MTC's web console", "mig_ui_cluster_api_endpoint", "mig_ui_configmap_data", "mig_ui_configmap_name", "mig_ui_config_namespace",
		"mig_ui_image", "mig_ui_oauth_user_scope", "mig_ui_oauth_redirect_url", "mig_ui_oauth_secret", "mig_ui_repo", "mig_ui_version",
		"mig_ui_image_fqin", "cors_origins", "deprecated_cors_configuration", "discovery_collect_events", "discovery_volume_path"),
	group("tracing of MTC's controller", "jaeger_enabled"),
	group("Velero", "velero_image", "velero_repo", "velero_version", "velero_image_fqin", "velero_plugin_image", "velero_plugin_repo",
		"velero_plugin_version", "velero_plugin_fqin", "velero_restic_restore_helper_image", "velero_restic_restore_helper_repo",
		"velero_restic_restore_helper_version", "velero_restic_restore_helper_fqin", "velero_aws_plugin_image", "velero_aws_plugin_repo",
		"velero_aws_plugin_version", "velero_aws_plugin_fqin", "velero_gcp_plugin_image", "velero_gcp_plugin_repo", "velero_gcp_plugin_version",
		"velero_gcp_plugin_fqin", "velero_azure_plugin_image", "velero_azure_plugin_repo", "velero_azure_plugin_version",
		"velero_azure_plugin_fqin", "velero_aws_secret_name", "velero_gcp_secret_name", "velero_azure_secret_name", "velero_debug",
		"velero_qps", "velero_burst"),
	group("Velero on Azure", "azure_resource_group"),
	group("Velero file-system backup (restic)", "restic_timeout", "restic_pv_host_path", "restic_supplemental_groups"),
	group("Multicloud Object Gateway storage", "noobaa", "noobaa_expected_crds", "noobaa_admin_secret", "noobaa_system_namespace",
		"noobaa_mig_bucket_name", "noobaa_s3_endpoint_proto", "noobaa_system_core_cpu", "noobaa_system_core_mem", "noobaa_system_db_cpu",
		"noobaa_system_db_mem", "noobaa_system_endpoints_cpu", "noobaa_system_endpoints_mem", "noobaa_system_endpoints_pod_count"),
)

// mtcReplaced are MTC settings for things ferry does its own way; the value is the whole
// reason, for a field whose absence of effect a user must not misread.
var mtcReplaced = map[string]string{
	"stunnel_verify_ca": "an MTC setting for stunnel's peer verification; ferry always verifies the peer against the " +
		"migration CA (mutual TLS 1.3), and this setting cannot turn verification off",
	"stunnel_verify_ca_level": "an MTC setting for stunnel's peer verification; ferry always verifies the peer's whole " +
		"chain against the migration CA, and this setting cannot lower that",
	"proxy_secret_name": "an MTC setting naming the Secret MTC's operator copies the proxy settings into for its own pods; " +
		"ferry reads the proxies from this MigrationController, the environment and the cluster Proxy directly",
	"image_pull_policy": "an MTC setting for the pull policy of MTC's images; ferry's pods run ferry's image with " +
		"Kubernetes' default policy (Always for :latest, IfNotPresent otherwise)",
}

type fieldGroup struct {
	what   string
	fields []string
}

func group(what string, fields ...string) fieldGroup { return fieldGroup{what, fields} }

func fieldsFor(groups ...fieldGroup) map[string]string {
	out := map[string]string{}
	for _, g := range groups {
		for _, f := range g.fields {
			out[f] = g.what
		}
	}
	return out
}

// untypedReason is why a field the spec does not type is not used.
func untypedReason(key string) string {
	if why, ok := mtcReplaced[key]; ok {
		return why
	}
	if what, ok := mtcUnused[key]; ok {
		return "an MTC setting for " + what + "; ferry does not use it"
	}
	return "unknown field: not an MTC or ferry setting (misspelt?)"
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
			ignored = append(ignored, Ignored{Field: "spec." + key, Reason: untypedReason(key)})
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
	if _, text := ptr.(*string); text {
		v = scalarText(v) // `source_rsync_pod_cpu_limits: 2` means "2", as in MTC
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

// scalarText gives a number as the text it was written as; anything else is returned as it is.
func scalarText(v any) any {
	switch n := v.(type) {
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(n, 10)
	case int:
		return strconv.Itoa(n)
	case json.Number:
		return n.String()
	}
	return v
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
