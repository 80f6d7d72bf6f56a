#!/usr/bin/env bash
# Checks the chart charts/hashfoundry-device-operator:
#   1. its CRD templates match crds/ (sync-crds.sh --check);
#   2. `helm lint --strict`, with the defaults and with every feature on
#      (values-all-features.yaml);
#   3. the features switch what they should (ServiceMonitor only when the API
#      is served or forced, CRDs only with crds.install);
#   4. a real API server accepts every rendered object: the CRDs are applied
#      for real (custom resources and the admission policy refer to them), then
#      both renderings go through a server-side dry run, in a namespace that
#      enforces the "restricted" Pod Security Standard.
#
#   KUBECONFIG=DIR/admin.kubeconfig charts/hack/check-chart.sh
#
# KUBECONFIG names the cluster (e.g. from tests/cluster/bin/cluster up DIR);
# it needs cluster-admin. helm and kubectl come from tests/cluster's build.
# Exits non-zero, saying why, on the first failure.
#
# Leaves the chart's CRDs and the (empty) namespace hashfoundry-chart-check
# behind, so a rerun finds nothing terminating. Other tests may care whether
# ServiceMonitors are served, so the prometheus-operator ServiceMonitor CRD is
# deleted again if this script installed it.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
chart=$repo/charts/hashfoundry-device-operator
all_features=$repo/charts/hack/values-all-features.yaml
namespace=hashfoundry-chart-check
release=check
# The Prometheus Operator release whose ServiceMonitor CRD validates ours; a
# Go module, so the Go module proxy serves it with its example CRDs.
prometheus_operator=github.com/prometheus-operator/prometheus-operator@v0.85.0

fail() {
	echo "check-chart: FAIL: $*" >&2
	exit 1
}
step() { echo "check-chart: $*" >&2; }

[[ -n ${KUBECONFIG:-} ]] || fail "KUBECONFIG is not set; point it at a cluster, e.g. tests/cluster/bin/cluster up DIR, then DIR/admin.kubeconfig"
[[ -r $KUBECONFIG ]] || fail "KUBECONFIG $KUBECONFIG is not readable"

bin=$("$repo/tests/cluster/bin/cluster" bin-dir)
helm=$bin/helm
kubectl=$bin/kubectl
[[ -x $helm ]] || fail "no helm in $bin (tests/cluster/hack/build.sh builds it)"

tmp=$(mktemp -d)
created_servicemonitor_crd=false
cleanup() {
	if $created_servicemonitor_crd; then
		"$kubectl" delete crd servicemonitors.monitoring.coreos.com --timeout=60s >/dev/null ||
			echo "check-chart: could not delete the ServiceMonitor CRD it installed" >&2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# Helm's repository cache and config stay private to this run.
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data

step "CRD templates against crds/"
"$repo/charts/hack/sync-crds.sh" --check >&2 || fail "the chart's CRD templates are out of date; run charts/hack/sync-crds.sh"

step "helm lint --strict"
"$helm" lint --strict "$chart" >&2 || fail "helm lint --strict with the default values"
"$helm" lint --strict "$chart" -f "$all_features" >&2 || fail "helm lint --strict with $all_features"

# render OUT [helm template flags...]
render() {
	local out=$1
	shift
	"$helm" template "$release" "$chart" --namespace "$namespace" "$@" >"$out" ||
		fail "helm template $* failed"
}
# has_kind FILE KIND: whether FILE holds an object of KIND.
has_kind() { grep -q "^kind: $2\$" "$1"; }

step "helm template: defaults, all features, feature switches"
render "$tmp/default.yaml"
render "$tmp/all.yaml" -f "$all_features" --api-versions monitoring.coreos.com/v1/ServiceMonitor
for kind in CustomResourceDefinition Deployment ServiceAccount Service PodDisruptionBudget ClusterRole \
	ClusterRoleBinding Role RoleBinding ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ConfigMap; do
	has_kind "$tmp/default.yaml" "$kind" || fail "the default rendering has no $kind"
done
# serviceMonitor.enabled defaults to true, but renders only where the API is served.
if has_kind "$tmp/default.yaml" ServiceMonitor; then
	fail "the default rendering has a ServiceMonitor although monitoring.coreos.com/v1 is not served"
fi
render "$tmp/default-api.yaml" --api-versions monitoring.coreos.com/v1/ServiceMonitor
has_kind "$tmp/default-api.yaml" ServiceMonitor ||
	fail "the default rendering with monitoring.coreos.com/v1 served has no ServiceMonitor"
has_kind "$tmp/all.yaml" ServiceMonitor || fail "serviceMonitor.enabled with the API served rendered no ServiceMonitor"
render "$tmp/no-api.yaml" -f "$all_features"
if has_kind "$tmp/no-api.yaml" ServiceMonitor; then
	fail "serviceMonitor.enabled rendered a ServiceMonitor although monitoring.coreos.com/v1 is not served"
fi
render "$tmp/forced.yaml" -f "$all_features" --set serviceMonitor.force=true
has_kind "$tmp/forced.yaml" ServiceMonitor || fail "serviceMonitor.force rendered no ServiceMonitor"
render "$tmp/no-crds.yaml" --set crds.install=false
if has_kind "$tmp/no-crds.yaml" CustomResourceDefinition; then
	fail "crds.install=false still rendered CRDs"
fi
[[ $(grep -c '^    helm.sh/resource-policy: keep$' "$tmp/default.yaml") == 2 ]] ||
	fail "the two CRDs must carry helm.sh/resource-policy: keep"

step "API server: $("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
"$kubectl" get --raw /readyz >/dev/null || fail "the API server in $KUBECONFIG is not ready"

"$kubectl" create namespace "$namespace" --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null ||
	fail "cannot create namespace $namespace"
# enforce applies to Pods; warn makes the API server say when a Deployment's
# pod template would be rejected, which the dry run below turns into a failure.
"$kubectl" label --overwrite namespace "$namespace" \
	pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null ||
	fail "cannot label namespace $namespace"

step "apply the chart's CRDs"
"$helm" template "$release" "$chart" --namespace "$namespace" \
	--show-only templates/crds/devicepools.yaml --show-only templates/crds/devicepoolnodes.yaml >"$tmp/crds.yaml"
"$kubectl" apply --server-side --force-conflicts -f "$tmp/crds.yaml" >&2 || fail "the API server rejected the chart's CRDs"
"$kubectl" wait --for=condition=Established --timeout=60s \
	crd/devicepools.hashfoundry.com crd/devicepoolnodes.hashfoundry.com >&2 || fail "the chart's CRDs did not become Established"

if ! "$kubectl" get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
	step "install the ServiceMonitor CRD of $prometheus_operator"
	dir=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$prometheus_operator" |
		sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	sm_crd=$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
	[[ -f $sm_crd ]] || fail "cannot get the ServiceMonitor CRD from $prometheus_operator (looked for $sm_crd)"
	created_servicemonitor_crd=true
	"$kubectl" apply --server-side -f "$sm_crd" >/dev/null || fail "cannot install the ServiceMonitor CRD"
	"$kubectl" wait --for=condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com >&2 ||
		fail "the ServiceMonitor CRD did not become Established"
fi

for rendering in default all; do
	step "server-side dry run: $rendering"
	if ! "$kubectl" apply --server-side --force-conflicts --dry-run=server -f "$tmp/$rendering.yaml" >"$tmp/out" 2>&1; then
		cat "$tmp/out" >&2
		fail "the API server rejected the $rendering rendering (above)"
	fi
	cat "$tmp/out" >&2
	if grep -q '^Warning:' "$tmp/out"; then
		fail "the API server warned about the $rendering rendering (above)"
	fi
done

step "OK"
