package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ferrydvm/ferry/internal/proxy"
)

// dataPath sets the data path's proxies: ferry's chain, else stunnel_tcp_proxy. A chain
// whose entries are all empty is unset, as an empty stunnel_tcp_proxy is; an empty entry
// among others is an error (dropping it would change the route silently).
func (e *Effective) dataPath(spec specView) error {
	if spec.c == nil {
		return nil
	}
	chain, err := spec.chain()
	if err != nil {
		return err
	}
	stunnel := spec.get("stunnel_tcp_proxy")
	if len(chain) > 0 {
		if stunnel != nil && stunnel.raw != chain[0].raw {
			return fmt.Errorf("MigrationController %s: spec.stunnel_tcp_proxy and spec.ferry_tcp_proxy_chain disagree on the first proxy: give the chain alone", spec.c.Ref)
		}
		e.DataProxies = chain
		return nil
	}
	if stunnel != nil {
		if _, err := proxy.Parse(stunnel.raw); err != nil {
			return fmt.Errorf("%s: %w", stunnel.Source, err)
		}
		e.DataProxies = append(e.DataProxies, stunnel.masked(true))
	}
	return nil
}

// chain reads ferry_tcp_proxy_chain, validated; nil when it holds no proxy.
func (s specView) chain() ([]*Value, error) {
	var entries []string
	for _, raw := range s.c.Spec.FerryTCPProxyChain {
		entries = append(entries, strings.TrimSpace(raw))
	}
	if strings.Join(entries, "") == "" {
		return nil, nil
	}
	var out []*Value
	for i, raw := range entries {
		field := fmt.Sprintf("spec.ferry_tcp_proxy_chain[%d]", i)
		src := s.sourceOf(field)
		if raw == "" {
			return nil, fmt.Errorf("%s: empty: give each proxy of the chain, or leave the chain out", src)
		}
		if _, err := proxy.Parse(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		out = append(out, (&Value{raw: raw, Source: src, field: field}).masked(true))
	}
	return out, nil
}

// transfer maps the rsync_* fields to ferry's send options, and reports those without a
// meaning in ferry.
func (e *Effective) transfer(spec specView) error {
	if spec.c == nil {
		return nil
	}
	sp := spec.c.Spec
	e.Transfer = map[string]*Value{}
	set := func(flag, value, field, option string) {
		part := strings.TrimSpace("spec." + spec.c.Spelled[field] + " " + option)
		e.Transfer[flag] = &Value{Value: value, raw: value, Source: spec.sourceOf(part), field: part}
	}
	if sp.RsyncOptBwlimit != nil && *sp.RsyncOptBwlimit > 0 {
		set("bwlimit", strconv.FormatInt(*sp.RsyncOptBwlimit, 10), "rsync_opt_bwlimit", "") // KiB/s, as rsync
	}
	if sp.RsyncOptDelete != nil {
		set("delete", strconv.FormatBool(*sp.RsyncOptDelete), "rsync_opt_delete", "")
	}
	if sp.RsyncBackoffLimit != nil {
		set("retries", strconv.FormatInt(*sp.RsyncBackoffLimit, 10), "rsync_backoff_limit", "")
	}
	always := map[string]string{
		"rsync_opt_archive":   "ferry always keeps every attribute",
		"rsync_opt_partial":   "ferry always keeps partial files and resumes them",
		"rsync_opt_hardlinks": "ferry always keeps hard links",
		"rsync_opt_info":      "ferry reports progress itself",
	}
	for field, why := range always {
		if spec.c.Spelled[field] != "" {
			e.Ignored = append(e.Ignored, Ignored{Field: "spec." + spec.c.Spelled[field], Reason: why})
		}
	}
	for _, opt := range strings.Fields(sp.RsyncOptExtras) {
		flag, value, why := mapRsyncOption(opt)
		if flag != "" {
			set(flag, value, "rsync_opt_extras", opt)
			continue
		}
		e.Ignored = append(e.Ignored, Ignored{Field: "spec.rsync_opt_extras " + opt, Reason: why})
	}
	return nil
}

// TransferFlags are the keys of Effective.Transfer, in the order explain prints them.
var TransferFlags = []string{"bwlimit", "delete", "retries", "checksum", "compress"}

// mapRsyncOption gives the ferry option for an rsync option, or why there is none.
func mapRsyncOption(opt string) (flag, value, why string) {
	name, arg, _ := strings.Cut(opt, "=")
	switch name {
	case "-c", "--checksum":
		return "checksum", "true", ""
	case "-z", "--compress":
		return "compress", "true", "" // zstd instead of rsync's zlib
	case "--bwlimit":
		return "bwlimit", arg, ""
	case "--delete", "--delete-after", "--delete-during", "--delete-before":
		return "delete", "true", ""
	case "-n", "--dry-run":
		return "", "", "not applied: the migration copies; `ferry migrate --dry-run` stops after the probe instead"
	case "-A", "--acls", "-X", "--xattrs", "-H", "--hard-links", "-S", "--sparse", "--numeric-ids", "-a", "--archive":
		return "", "", "ferry always does this"
	}
	return "", "", "no meaning in ferry"
}
