package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ferrydvm/ferry/internal/proxy"
)

// dataPath sets the data path's proxies: ferry's chain, else stunnel_tcp_proxy.
func (e *Effective) dataPath(spec specView) error {
	if spec.c == nil {
		return nil
	}
	sp := spec.c.Spec
	if len(sp.FerryTCPProxyChain) > 0 {
		if sp.StunnelTCPProxy != "" && sp.StunnelTCPProxy != sp.FerryTCPProxyChain[0] {
			return fmt.Errorf("MigrationController %s: spec.stunnel_tcp_proxy and spec.ferry_tcp_proxy_chain disagree on the first proxy: give the chain alone", spec.c.Ref)
		}
		for i, raw := range sp.FerryTCPProxyChain {
			src := fmt.Sprintf("MigrationController %s spec.ferry_tcp_proxy_chain[%d]%s", spec.c.Ref, i, spec.c.Where)
			if _, err := proxy.Parse(raw); err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			e.DataProxies = append(e.DataProxies, newValue(raw, src, true))
		}
		return nil
	}
	if v := spec.get("stunnel_tcp_proxy"); v != nil && v.raw != "" {
		if _, err := proxy.Parse(v.raw); err != nil {
			return fmt.Errorf("%s: %w", v.Source, err)
		}
		e.DataProxies = append(e.DataProxies, newValue(v.raw, v.Source, true))
	}
	return nil
}

// transfer maps the rsync_* fields to ferry's send options, and reports those without a
// meaning in ferry.
func (e *Effective) transfer(spec specView) error {
	if spec.c == nil {
		return nil
	}
	sp := spec.c.Spec
	e.Transfer = map[string]*Value{}
	set := func(flag, value, field string) {
		e.Transfer[flag] = &Value{Value: value, raw: value, Source: spec.source(field)}
	}
	if sp.RsyncOptBwlimit != nil && *sp.RsyncOptBwlimit > 0 {
		set("bwlimit", strconv.FormatInt(*sp.RsyncOptBwlimit, 10), "rsync_opt_bwlimit") // KiB/s, as rsync
	}
	if sp.RsyncOptDelete != nil {
		set("delete", strconv.FormatBool(*sp.RsyncOptDelete), "rsync_opt_delete")
	}
	if sp.RsyncBackoffLimit != nil {
		set("retries", strconv.FormatInt(*sp.RsyncBackoffLimit, 10), "rsync_backoff_limit")
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
			set(flag, value, "rsync_opt_extras")
			continue
		}
		e.Ignored = append(e.Ignored, Ignored{Field: "spec.rsync_opt_extras " + opt, Reason: why})
	}
	return nil
}

// mapRsyncOption gives the ferry option for an rsync option, or why there is none.
func mapRsyncOption(opt string) (flag, value, why string) {
	name, arg, _ := strings.Cut(opt, "=")
	switch name {
	case "-c", "--checksum":
		return "checksum", "true", ""
	case "-z", "--compress":
		return "compress", "true", ""
	case "--bwlimit":
		return "bwlimit", arg, ""
	case "--delete", "--delete-after", "--delete-during", "--delete-before":
		return "delete", "true", ""
	case "-A", "--acls", "-X", "--xattrs", "-H", "--hard-links", "-S", "--sparse", "--numeric-ids", "-a", "--archive":
		return "", "", "ferry always does this"
	}
	return "", "", "no meaning in ferry"
}
