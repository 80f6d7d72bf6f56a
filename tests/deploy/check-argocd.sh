#!/usr/bin/env bash
# Checks the Argo CD manifests in deploy/argocd against a real API server
# with Argo CD's own CRDs, and the sync order they rely on:
#   1. every Application (apps/*.yaml, root-application.yaml) and the argocd-cm
#      snippet pass a server-side dry run with strict field validation against
#      the Application CRD of a pinned Argo CD release (a Go module, so the Go
#      module proxy serves its manifests);
#   2. the operator's app syncs in an earlier wave than the pools' app, both
#      with ServerSideApply=true, and the sources point at paths that exist;
#   3. the chart renders its CRDs with argocd.argoproj.io/sync-wave "-1" and
#      Prune=false, so Argo CD applies them before anything else in the chart
#      and never deletes them;
#   4. no drift, which is why the Applications need no ignoreDifferences: each
#      sample pool is applied the way Argo CD syncs it (server-side apply,
#      field manager argocd-controller), the real operator reconciles it to
#      Ready, and then a server-side dry-run apply of the same manifest (what
#      Argo CD's Server-Side Diff compares) equals the live object, while
#      managedFields show Argo CD owning only spec and the operator only
#      status and its finalizer.
#
#   HF_CLUSTER_DIR=DIR tests/deploy/check-argocd.sh OPERATOR_BINARY
#
# DIR from tests/cluster/bin/cluster up DIR. Leaves the namespace argocd
# (empty) behind; deletes the Application CRD again if it installed it, and
# the pools (while the operator still runs to release its finalizer) and the
# operator's namespace.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
argocd=$repo/deploy/argocd
argo_cd_module=github.com/argoproj/argo-cd/v3@v3.5.7

fail() {
	echo "check-argocd: FAIL: $*" >&2
	exit 1
}
step() { echo "check-argocd: $*" >&2; }

operator=${1:-}
[[ -x $operator ]] || {
	echo "usage: $0 OPERATOR_BINARY" >&2
	exit 2
}
[[ -n ${HF_CLUSTER_DIR:-} && -r $HF_CLUSTER_DIR/admin.kubeconfig ]] ||
	fail "HF_CLUSTER_DIR must name a running cluster (tests/cluster/bin/cluster up DIR)"
export KUBECONFIG=$HF_CLUSTER_DIR/admin.kubeconfig
bin=$("$repo/tests/cluster/bin/cluster" bin-dir)
kubectl=$bin/kubectl
helm=$bin/helm

tmp=$(mktemp -d)
created_crd=false
operator_pid=""
pools=()
operator_ns=""
cleanup() {
	local p
	for p in "${pools[@]}"; do
		"$kubectl" delete devicepool "$p" --ignore-not-found --timeout=60s >/dev/null ||
			echo "check-argocd: pool $p was not deleted" >&2
	done
	if [[ -n $operator_pid ]] && kill -0 "$operator_pid" 2>/dev/null; then
		kill -TERM "$operator_pid"
		wait "$operator_pid" || true
	fi
	[[ -z $operator_ns ]] || "$kubectl" delete namespace "$operator_ns" --wait=false >/dev/null || true
	if $created_crd; then
		"$kubectl" delete crd applications.argoproj.io --timeout=60s >/dev/null ||
			echo "check-argocd: could not delete the Application CRD it installed" >&2
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data

# --- 3: the chart's CRDs ---------------------------------------------------------
step "chart CRDs: sync wave -1, Prune=false"
"$helm" template hashfoundry "$repo/charts/hashfoundry-device-operator" --namespace hashfoundry-system \
	--show-only templates/crds/devicepools.yaml --show-only templates/crds/devicepoolnodes.yaml >"$tmp/crds.yaml"
# create --dry-run=client converts YAML to JSON without asking the server.
"$kubectl" create --dry-run=client -o json -f "$tmp/crds.yaml" >"$tmp/crds.json"
jq -e -s '[.[] | if .kind == "List" then .items[] else . end | .metadata.annotations | select(
		."argocd.argoproj.io/sync-wave" == "-1" and
		."argocd.argoproj.io/sync-options" == "Prune=false" and
		."helm.sh/resource-policy" == "keep")] | length == 2' "$tmp/crds.json" >/dev/null ||
	fail "the chart's CRDs must carry sync-wave \"-1\", sync-options Prune=false and resource-policy keep (charts/hack/sync-crds.sh)"

# Argo CD's Application CRD: kubectl needs it even to read the manifests.
step "API server: $("$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
if ! "$kubectl" get crd applications.argoproj.io >/dev/null 2>&1; then
	step "install the Application CRD of $argo_cd_module"
	dir=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$argo_cd_module" |
		sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	crd=$dir/manifests/crds/application-crd.yaml
	[[ -f $crd ]] || fail "cannot get the Application CRD from $argo_cd_module (looked for $crd)"
	created_crd=true
	"$kubectl" apply --server-side -f "$crd" >/dev/null || fail "cannot install the Application CRD"
	# Polled: kubectl wait errors out while a new CRD has no conditions yet.
	deadline=$((SECONDS + 60))
	until [[ $("$kubectl" get crd applications.argoproj.io \
		-o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) == True ]]; do
		((SECONDS < deadline)) || fail "the Application CRD did not become Established"
		sleep 0.2 # poll interval of a bounded wait
	done
fi
# --- 2: waves, options, paths ------------------------------------------------------
for f in "$argocd"/apps/*.yaml "$argocd/root-application.yaml"; do
	"$kubectl" create --dry-run=client -o json -f "$f" >"$tmp/$(basename "$f").json"
done
wave() { jq -r '.metadata.annotations["argocd.argoproj.io/sync-wave"] // "0"' "$tmp/$1.json"; }
operator_wave=$(wave hashfoundry-device-operator.yaml)
pools_wave=$(wave hashfoundry-devicepools.yaml)
((operator_wave < pools_wave)) ||
	fail "the operator's app (wave $operator_wave) must sync before the pools' app (wave $pools_wave)"
for app in hashfoundry-device-operator hashfoundry-devicepools; do
	jq -e '.spec.syncPolicy.syncOptions | index("ServerSideApply=true")' "$tmp/$app.yaml.json" >/dev/null ||
		fail "$app does not sync with ServerSideApply=true"
	path=$(jq -r .spec.source.path "$tmp/$app.yaml.json")
	[[ -d $repo/$path ]] || fail "$app's source path $path does not exist in this repository"
done
[[ -d $repo/$(jq -r .spec.source.path "$tmp/root-application.yaml.json") ]] ||
	fail "the root application's source path does not exist"
include=$(jq -r '.spec.source.directory.include // "*"' "$tmp/hashfoundry-devicepools.yaml.json")
(
	cd "$repo/$(jq -r .spec.source.path "$tmp/hashfoundry-devicepools.yaml.json")"
	# shellcheck disable=SC2086
	compgen -G "$include" >/dev/null
) || fail "the pools' app includes '$include', which matches no file"

# --- 1: server-side dry run against Argo CD's CRD -----------------------------------
"$kubectl" create namespace argocd --dry-run=client -o yaml | "$kubectl" apply -f - >/dev/null ||
	fail "cannot create namespace argocd"
for f in "$argocd"/apps/*.yaml "$argocd/root-application.yaml" "$argocd/argocd-cm.yaml"; do
	name=${f#"$repo"/}
	if ! "$kubectl" apply --server-side --dry-run=server --validate=strict -f "$f" >"$tmp/out" 2>&1; then
		cat "$tmp/out" >&2
		fail "the API server rejected $name (above)"
	fi
	if grep -qi '^warning' "$tmp/out"; then
		cat "$tmp/out" >&2
		fail "the API server warned about $name (above)"
	fi
	step "$name accepted"
done

# --- 4: no drift after the operator has reconciled -----------------------------------
suffix=$$-$RANDOM
operator_ns=hf-argocd-$suffix
"$kubectl" create namespace "$operator_ns" >/dev/null || fail "cannot create namespace $operator_ns"
"$operator" --kubeconfig="$KUBECONFIG" --namespace="$operator_ns" --http-address=127.0.0.1:0 \
	--identity="argocd-check-$suffix" --log-format=text >"$tmp/operator.log" 2>&1 &
operator_pid=$!
i=0
for f in "$repo"/config/samples/*.yaml; do
	# The pool samples (test-pods.yaml holds the test pods, which Argo CD does not sync).
	[[ $("$kubectl" create --dry-run=client -o json -f "$f" | jq -r .kind) == DevicePool ]] || continue
	i=$((i + 1))
	pool=argocd-check-$suffix-$i
	# The sample under a name of its own, so no other test's pool is touched.
	"$kubectl" create --dry-run=client -o json -f "$f" | jq --arg n "$pool" '.metadata.name = $n' >"$tmp/pool.json"
	pools+=("$pool")
	"$kubectl" apply --server-side --field-manager=argocd-controller -f "$tmp/pool.json" >/dev/null ||
		fail "cannot apply ${f#"$repo"/} as $pool"
	"$kubectl" wait --for=condition=Ready --timeout=60s "devicepool/$pool" >/dev/null || {
		cat "$tmp/operator.log" >&2
		fail "the operator did not make $pool (${f#"$repo"/}) Ready"
	}
	"$kubectl" get devicepool "$pool" -o json --show-managed-fields >"$tmp/live.json"
	"$kubectl" apply --server-side --field-manager=argocd-controller --dry-run=server -o json \
		--show-managed-fields -f "$tmp/pool.json" >"$tmp/predicted.json"
	if ! diff -u <(jq -S 'del(.metadata.managedFields)' "$tmp/live.json") \
		<(jq -S 'del(.metadata.managedFields)' "$tmp/predicted.json") >"$tmp/drift"; then
		cat "$tmp/drift" >&2
		fail "${f#"$repo"/}: a server-side diff after the operator reconciled shows drift (above; - live, + predicted)"
	fi
	owned() { jq -c --arg m "$1" '[.metadata.managedFields[] | select(.manager == $m) | .fieldsV1 | keys[]] | unique' "$tmp/live.json"; }
	[[ $(owned argocd-controller) == '["f:spec"]' ]] ||
		fail "$pool: Argo CD's field manager owns $(owned argocd-controller), expected only spec"
	[[ $(owned devicepool-operator) == '["f:metadata","f:status"]' ]] ||
		fail "$pool: the operator owns $(owned devicepool-operator), expected only status and metadata (its finalizer)"
	[[ $(jq -c '[.metadata.managedFields[] | select(.manager == "devicepool-operator") | .fieldsV1["f:metadata"] // empty | keys[]]' "$tmp/live.json") == '["f:finalizers"]' ]] ||
		fail "$pool: the operator owns metadata fields other than its finalizer"
	step "${f#"$repo"/}: no drift once Ready; Argo CD owns spec, the operator status and its finalizer"
done
step "OK"
