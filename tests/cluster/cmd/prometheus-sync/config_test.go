package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func golden(t *testing.T, name string) unstructured.Unstructured {
	t.Helper()
	body, err := os.ReadFile("../../../operator/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var u unstructured.Unstructured
	if err := json.Unmarshal(body, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

var testPaths = paths{kubeconfig: "/k", caFile: "/ca", certFile: "/crt", keyFile: "/key", rulesGlob: "/rules/*.yaml"}

// The operator's ServiceMonitor (its golden output) becomes one job that
// keeps exactly the pool's Service and port, scrapes the loopback stand-in
// for the pod's port, and labels targets as the Prometheus Operator does.
func TestTheOperatorsServiceMonitorBecomesOneJob(t *testing.T) {
	f, problems := generate([]unstructured.Unstructured{golden(t, "servicemonitor.json")},
		[]unstructured.Unstructured{golden(t, "prometheusrule.json")}, testPaths, intervals{"1s", "30s"})
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	var cfg struct {
		RuleFiles     []string         `json:"rule_files"`
		ScrapeConfigs []map[string]any `json:"scrape_configs"`
	}
	if err := json.Unmarshal(f.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ScrapeConfigs) != 2 || cfg.ScrapeConfigs[0]["job_name"] != "kubelet" {
		t.Fatalf("want the kubelet job and one more, got %s", f.config)
	}
	job := cfg.ScrapeConfigs[1]
	if job["job_name"] != "serviceMonitor/hashfoundry-system/devicepool-custom-device/0" ||
		job["scrape_interval"] != "30s" || job["metrics_path"] != "/metrics" {
		t.Errorf("job: %v", job)
	}
	sd := job["kubernetes_sd_configs"].([]any)[0].(map[string]any)
	if sd["role"] != "endpointslice" || sd["kubeconfig_file"] != "/k" ||
		sd["namespaces"].(map[string]any)["names"].([]any)[0] != "hashfoundry-system" {
		t.Errorf("service discovery: %v", sd)
	}
	relabel, _ := json.Marshal(job["relabel_configs"])
	for _, want := range []string{
		`{"action":"keep","regex":"(custom-device);true","source_labels":["__meta_kubernetes_service_label_hashfoundry_com_pool","__meta_kubernetes_service_labelpresent_hashfoundry_com_pool"]}`,
		`{"action":"keep","regex":"(devicepool-agent);true","source_labels":["__meta_kubernetes_service_label_app_kubernetes_io_name","__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"]}`,
		`{"action":"keep","regex":"metrics","source_labels":["__meta_kubernetes_endpointslice_port_name"]}`,
		`{"source_labels":["__meta_kubernetes_service_name"],"target_label":"job"}`,
	} {
		if !strings.Contains(string(relabel), want) {
			t.Errorf("relabel_configs lack %s:\n%s", want, relabel)
		}
	}
	if body := f.rules["hashfoundry-system-devicepool-custom-device.yaml"]; !strings.Contains(string(body), `"alert": "DevicePluginDown"`) {
		t.Errorf("rule file: %s", body)
	}
}

// The address rewrite finds the port by name in sim-kubelet's record, and
// only that port.
func TestTheAddressComesFromTheAllocationRecord(t *testing.T) {
	sm := golden(t, "servicemonitor.json")
	jobs, err := serviceMonitorJobs(&sm, testPaths)
	if err != nil {
		t.Fatal(err)
	}
	var re string
	for _, r := range jobs[0]["relabel_configs"].([]any) {
		if m := r.(map[string]any); m["target_label"] == "__address__" {
			re = m["regex"].(string)
		}
	}
	// Prometheus anchors relabel regexes.
	rx := regexp.MustCompile("^(?:" + re + ")$")
	record := `{"node":"n","containers":[{"name":"agent"}],"ports":{"agent/grpc":"127.0.0.1:1","agent/metrics":"127.0.0.1:41234"}}`
	m := rx.FindStringSubmatch(record)
	if m == nil || m[1] != "127.0.0.1:41234" {
		t.Errorf("%s on %s: %v", re, record, m)
	}
	if rx.MatchString(`{"node":"n","ports":{"agent/other-metrics":"127.0.0.1:1"}}`) {
		t.Errorf("%s matches another port's name", re)
	}
}

// What this stand-in does not translate is skipped with its reason, not
// scraped wrongly.
func TestUnsupportedServiceMonitorsAreSkippedWithAReason(t *testing.T) {
	sm := golden(t, "servicemonitor.json")
	if err := unstructured.SetNestedSlice(sm.Object, []any{map[string]any{"key": "a", "operator": "Exists"}},
		"spec", "selector", "matchExpressions"); err != nil {
		t.Fatal(err)
	}
	_, problems := generate([]unstructured.Unstructured{sm}, nil, testPaths, intervals{"1s", "30s"})
	if len(problems) != 1 || !strings.Contains(problems[0], "matchExpressions is not supported") {
		t.Errorf("problems: %v", problems)
	}
}
