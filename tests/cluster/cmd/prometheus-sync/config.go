package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// allocationAnnotation is sim-kubelet's allocation record; its "ports" map
// "<container>/<port name>" to the loopback address that stands in for the
// pod IP and that container port (tests/cluster/README.md, "Networking").
const allocationAnnotation = "hashfoundry.com/allocation"

// files is what Prometheus reads: its configuration and one rule file per
// PrometheusRule, by file name. Both are JSON, which is YAML.
type files struct {
	config []byte
	rules  map[string][]byte
}

// paths are where the generated configuration points Prometheus.
type paths struct {
	kubeconfig string // for kubernetes_sd_configs: the API server and credentials
	caFile     string // the cluster CA, which also signs the kubelets' serving certificates
	certFile   string // a client certificate the kubelets accept (/metrics)
	keyFile    string
	rulesGlob  string
}

// generate turns ServiceMonitors and PrometheusRules into what the
// Prometheus Operator would give its Prometheus: a scrape job per
// ServiceMonitor endpoint, found through the API server's EndpointSlices
// and labelled as the Prometheus Operator labels them, and the rule groups
// as written. Plus a kubelet job over every Node, as kube-prometheus scrapes
// kubelets. A ServiceMonitor that uses what is not supported here is
// skipped, with the reason in problems.
func generate(monitors, rules []unstructured.Unstructured, p paths, intervals intervals) (files, []string) {
	var problems []string
	scrape := []map[string]any{kubeletJob(p, intervals.kubeletScrape)}
	sortByKey(monitors)
	for i := range monitors {
		jobs, err := serviceMonitorJobs(&monitors[i], p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("ServiceMonitor %s/%s: %v", monitors[i].GetNamespace(), monitors[i].GetName(), err))
			continue
		}
		scrape = append(scrape, jobs...)
	}
	cfg := map[string]any{
		"global": map[string]any{
			"evaluation_interval": intervals.evaluation,
			"scrape_interval":     "30s",
		},
		"rule_files":     []string{p.rulesGlob},
		"scrape_configs": scrape,
	}
	out := files{rules: map[string][]byte{}}
	out.config, _ = json.MarshalIndent(cfg, "", "  ")
	for i := range rules {
		r := &rules[i]
		groups, _, _ := unstructured.NestedSlice(r.Object, "spec", "groups")
		body, err := json.MarshalIndent(map[string]any{"groups": groups}, "", "  ")
		if err != nil {
			problems = append(problems, fmt.Sprintf("PrometheusRule %s/%s: %v", r.GetNamespace(), r.GetName(), err))
			continue
		}
		out.rules[r.GetNamespace()+"-"+r.GetName()+".yaml"] = body
	}
	return out, problems
}

func sortByKey(objs []unstructured.Unstructured) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}

func sdConfig(p paths, role string, namespaces []string) map[string]any {
	sd := map[string]any{"role": role, "kubeconfig_file": p.kubeconfig}
	if len(namespaces) > 0 {
		sd["namespaces"] = map[string]any{"names": namespaces}
	}
	return sd
}

func tlsConfig(p paths) map[string]any {
	return map[string]any{"ca_file": p.caFile, "cert_file": p.certFile, "key_file": p.keyFile}
}

// intervals are the ones no ServiceMonitor sets.
type intervals struct {
	evaluation    string // rule evaluation
	kubeletScrape string // the kubelet job's scrapes
}

// kubeletJob scrapes every Node's kubelet /metrics over TLS, verified with
// the cluster CA, at the address the Node advertises.
func kubeletJob(p paths, interval string) map[string]any {
	return map[string]any{
		"job_name":              "kubelet",
		"scheme":                "https",
		"metrics_path":          "/metrics",
		"scrape_interval":       interval,
		"tls_config":            tlsConfig(p),
		"kubernetes_sd_configs": []any{sdConfig(p, "node", nil)},
		"relabel_configs": []any{
			map[string]any{"source_labels": []string{"__meta_kubernetes_node_name"}, "target_label": "node"},
		},
	}
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitize is Prometheus' own rule for Kubernetes label and annotation names
// in meta labels.
func sanitize(name string) string { return invalidLabelChars.ReplaceAllString(name, "_") }

func serviceMonitorJobs(sm *unstructured.Unstructured, p paths) ([]map[string]any, error) {
	spec, _, _ := unstructured.NestedMap(sm.Object, "spec")
	if _, ok := spec["jobLabel"]; ok {
		return nil, fmt.Errorf("spec.jobLabel is not supported")
	}
	if exprs, _, _ := unstructured.NestedSlice(spec, "selector", "matchExpressions"); len(exprs) > 0 {
		return nil, fmt.Errorf("spec.selector.matchExpressions is not supported")
	}
	matchLabels, _, _ := unstructured.NestedStringMap(spec, "selector", "matchLabels")
	namespaces, _, _ := unstructured.NestedStringSlice(spec, "namespaceSelector", "matchNames")
	if any, _, _ := unstructured.NestedBool(spec, "namespaceSelector", "any"); any {
		namespaces = nil
	} else if len(namespaces) == 0 {
		namespaces = []string{sm.GetNamespace()}
	}
	endpoints, _, _ := unstructured.NestedSlice(spec, "endpoints")
	var jobs []map[string]any
	for i, raw := range endpoints {
		ep, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("spec.endpoints[%d] is not an object", i)
		}
		port, _ := ep["port"].(string)
		if port == "" {
			return nil, fmt.Errorf("spec.endpoints[%d]: only named ports are supported", i)
		}
		relabel := []any{}
		keys := make([]string, 0, len(matchLabels))
		for k := range matchLabels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			relabel = append(relabel, map[string]any{
				"action": "keep",
				"source_labels": []string{"__meta_kubernetes_service_label_" + sanitize(k),
					"__meta_kubernetes_service_labelpresent_" + sanitize(k)},
				"regex": "(" + regexp.QuoteMeta(matchLabels[k]) + ");true",
			})
		}
		relabel = append(relabel,
			map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"},
				"regex": regexp.QuoteMeta(port)},
			map[string]any{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"},
				"regex": "(Failed|Succeeded)"},
			// The instance is the pod's address, as with real pod networking...
			map[string]any{"source_labels": []string{"__address__"}, "target_label": "instance"},
			// ...but what is scraped is the loopback port sim-kubelet gave
			// that container port: the one step a real cluster does not have.
			map[string]any{
				"source_labels": []string{"__meta_kubernetes_pod_annotation_" + sanitize(allocationAnnotation)},
				"regex":         `.*"ports":\{[^}]*"[^"/]+/` + regexp.QuoteMeta(port) + `":"([^"]+)".*`,
				"target_label":  "__address__",
			},
			map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "service"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "job"},
			map[string]any{"target_label": "endpoint", "replacement": port},
		)
		job := map[string]any{
			"job_name":              "serviceMonitor/" + sm.GetNamespace() + "/" + sm.GetName() + "/" + strconv.Itoa(i),
			"honor_labels":          false,
			"kubernetes_sd_configs": []any{sdConfig(p, "endpointslice", namespaces)},
			"relabel_configs":       relabel,
			"metrics_path":          "/metrics",
		}
		if path, _ := ep["path"].(string); path != "" {
			job["metrics_path"] = path
		}
		if interval, _ := ep["interval"].(string); interval != "" {
			job["scrape_interval"] = interval
		}
		if timeout, _ := ep["scrapeTimeout"].(string); timeout != "" {
			job["scrape_timeout"] = timeout
		}
		if scheme, _ := ep["scheme"].(string); scheme != "" && scheme != "http" {
			return nil, fmt.Errorf("spec.endpoints[%d]: scheme %q is not supported", i, scheme)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}
