#!/usr/bin/env bash
# Integration test of the chart's ValidatingAdmissionPolicy against a real API
# server: installs the chart (release and namespace unique to this run), then
# acts as an agent ServiceAccount devicepool-<pool> with a token bound to a Pod
# on node A, as the kubelet would give the agent, and checks that it may write
# the DevicePoolNode <pool>.A (spec and status) but not <pool>.B, not another
# pool's report, and nothing with a token that names no node; admin is not
# restricted. The same for ResourceSlices (a DRA pool's agent): it may create,
# update and delete slices of node A and of its pool's driver
# <pool>.devicepool.hashfoundry.com, and no slice of node B, whoever created
# it, nor one of another driver.
#
#   HF_CLUSTER_DIR=DIR charts/hack/test-admission-policy.sh
#
# DIR is a running tests/cluster cluster (tests/cluster/bin/cluster up DIR).
# The chart is installed with crds.install=false and the CRDs are applied from
# crds/ instead, as other tests on a shared cluster do, because Helm refuses to
# take over CRDs it did not create. Removes everything it created.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
chart=$repo/charts/hashfoundry-device-operator
cluster_tool=$repo/tests/cluster/bin/cluster

fail() {
	echo "test-admission-policy: FAIL: $*" >&2
	exit 1
}

[[ -n ${HF_CLUSTER_DIR:-} ]] || fail "HF_CLUSTER_DIR is not set; start a cluster with tests/cluster/bin/cluster up DIR"
export KUBECONFIG=$HF_CLUSTER_DIR/admin.kubeconfig
bin=$("$cluster_tool" bin-dir)
helm=$bin/helm
kubectl=$bin/kubectl

id=vap$$
namespace=hf-$id
release=$id
pool=$id
agent=devicepool-$pool
node_a=$id-node-a
node_b=$id-node-b
# The agent ClusterRole's name: the chart's fullname plus -agent.
agent_role=$release-hashfoundry-device-operator-agent

tmp=$(mktemp -d)
cleanup() {
	# No kubelet will confirm the Pod's termination, so skip the grace period,
	# or it and its namespace would never go away.
	"$kubectl" -n "$namespace" delete pod agent --grace-period=0 --force --ignore-not-found >/dev/null 2>&1 || true
	"$kubectl" delete devicepoolnode/"$pool.$node_a" devicepoolnode/"$pool.$node_b" clusterrolebinding/"$id" \
		node/"$node_a" node/"$node_b" --ignore-not-found >/dev/null 2>&1 || true
	"$kubectl" delete resourceslice "$pool.$node_a" "$pool.$node_b" "other$id.$node_a" --ignore-not-found \
		>/dev/null 2>&1 || true
	"$helm" uninstall "$release" --namespace "$namespace" >/dev/null 2>&1 || true
	"$kubectl" delete namespace "$namespace" --wait=false --ignore-not-found >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
export HELM_CACHE_HOME=$tmp/helm/cache HELM_CONFIG_HOME=$tmp/helm/config HELM_DATA_HOME=$tmp/helm/data

"$kubectl" apply --server-side --force-conflicts -f "$repo/crds/" >/dev/null || fail "cannot apply crds/"
"$kubectl" wait --for=condition=Established --timeout=60s \
	crd/devicepools.hashfoundry.com crd/devicepoolnodes.hashfoundry.com >/dev/null || fail "CRDs not Established"
"$helm" install "$release" "$chart" --namespace "$namespace" --create-namespace --set crds.install=false >/dev/null ||
	fail "helm install"

# What the operator does for a pool: its ServiceAccount, bound to the agent role.
"$kubectl" -n "$namespace" create serviceaccount "$agent" >/dev/null
"$kubectl" create clusterrolebinding "$id" --clusterrole="$agent_role" --serviceaccount="$namespace:$agent" >/dev/null
# The API server records a node in a pod-bound token only for a Pod that is
# bound to an existing Node.
for node in "$node_a" "$node_b"; do
	printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$node" | "$kubectl" create -f - >/dev/null
done
"$kubectl" -n "$namespace" create -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: agent
spec:
  serviceAccountName: $agent
  nodeName: $node_a
  containers:
  - name: agent
    image: hashfoundry/device-operator:0.1.0
EOF
"$cluster_tool" sa-kubeconfig "$HF_CLUSTER_DIR" --namespace "$namespace" --serviceaccount "$agent" \
	--bound-pod agent --out "$tmp/bound.kubeconfig" >/dev/null 2>&1 || fail "sa-kubeconfig --bound-pod"
"$cluster_tool" sa-kubeconfig "$HF_CLUSTER_DIR" --namespace "$namespace" --serviceaccount "$agent" \
	--out "$tmp/unbound.kubeconfig" >/dev/null 2>&1 || fail "sa-kubeconfig"

whoami=$("$kubectl" --kubeconfig "$tmp/bound.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.extra.authentication\.kubernetes\.io/node-name}')
[[ $whoami == "[\"$node_a\"]" || $whoami == "$node_a" ]] ||
	fail "the pod-bound token should carry node-name $node_a, has '$whoami'"

# report POOL NODE: a DevicePoolNode manifest.
report() {
	printf 'apiVersion: hashfoundry.com/v1alpha1\nkind: DevicePoolNode\nmetadata:\n  name: %s.%s\nspec:\n  pool: "%s"\n  node: "%s"\n' \
		"$1" "$2" "$1" "$2"
}
# as KUBECONFIG ARGS...: kubectl as that identity, output in $tmp/out.
as() {
	local kubeconfig=$1
	shift
	"$kubectl" --kubeconfig "$kubeconfig" "$@" >"$tmp/out" 2>&1
}
allowed() {
	local what=$1
	shift
	as "$@" || fail "$what: expected to be allowed, got: $(cat "$tmp/out")"
	echo "ok: allowed: $what"
}
# denied WHAT MESSAGE KUBECONFIG ARGS...
denied() {
	local what=$1 message=$2
	shift 2
	if as "$@"; then
		fail "$what: expected to be denied, was allowed: $(cat "$tmp/out")"
	fi
	grep -qF "$message" "$tmp/out" || fail "$what: denied, but without '$message': $(cat "$tmp/out")"
	echo "ok: denied: $what"
}

bound=$tmp/bound.kubeconfig
unbound=$tmp/unbound.kubeconfig
report "$pool" "$node_a" >"$tmp/own.yaml"
report "$pool" "$node_b" >"$tmp/other-node.yaml"
report "other$id" "$node_a" >"$tmp/other-pool.yaml"

# slice NAME NODE DRIVER: a ResourceSlice manifest, one device.
slice() {
	printf 'apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata:\n  name: %s\nspec:\n  driver: %s\n  nodeName: %s\n  pool:\n    name: %s\n    generation: 1\n    resourceSliceCount: 1\n  devices:\n  - name: dev-0\n' \
		"$1" "$3" "$2" "$2"
}
driver=$pool.devicepool.hashfoundry.com
slice "$pool.$node_a" "$node_a" "$driver" >"$tmp/own-slice.yaml"
slice "$pool.$node_b" "$node_b" "$driver" >"$tmp/other-node-slice.yaml"
slice "other$id.$node_a" "$node_a" "other$id.devicepool.hashfoundry.com" >"$tmp/other-driver-slice.yaml"

# The API server starts enforcing a new policy a moment after it is created,
# and type-checks it against the schema in the background: wait (bounded)
# for both, probing with a dry run, which admission sees too.
policy=$release-hashfoundry-device-operator-agent-own-node
slice_policy=$release-hashfoundry-device-operator-agent-own-slices
enforced() {
	! as "$unbound" create --dry-run=server -f "$1" && grep -qF "this token names no node" "$tmp/out"
}
deadline=$((SECONDS + 30))
for probe in "$tmp/own.yaml" "$tmp/own-slice.yaml"; do
	until enforced "$probe"; do
		((SECONDS < deadline)) || fail "the policy for $probe was not enforced within 30 s; last answer: $(cat "$tmp/out")"
		sleep 0.2
	done
done
for p in "$policy" "$slice_policy"; do
	until [[ $("$kubectl" get validatingadmissionpolicy "$p" -o jsonpath='{.status.observedGeneration}') == 1 ]]; do
		((SECONDS < deadline)) || fail "the policy $p was not type-checked within 30 s"
		sleep 0.2
	done
	warnings=$("$kubectl" get validatingadmissionpolicy "$p" -o jsonpath='{.status.typeChecking.expressionWarnings}')
	[[ -z $warnings ]] || fail "type checking the policy $p against the schema warns: $warnings"
done

allowed "create its own node's report" "$bound" create -f "$tmp/own.yaml"
allowed "update its own node's report" "$bound" label devicepoolnode "$pool.$node_a" hashfoundry.com/node="$node_a"
allowed "write its own node's status" "$bound" patch devicepoolnode "$pool.$node_a" --subresource=status \
	--type=merge -p '{"status":{"registered":true,"counts":{"total":4,"healthy":4,"allocated":0}}}'
denied "create another node's report" "the agent on node $node_a may write only DevicePoolNodes of that node" \
	"$bound" create -f "$tmp/other-node.yaml"
denied "create another pool's report" "may write only DevicePoolNodes of its own pool" \
	"$bound" create -f "$tmp/other-pool.yaml"
denied "write with a token bound to no node" "this token names no node" \
	"$unbound" patch devicepoolnode "$pool.$node_a" --subresource=status --type=merge -p '{"status":{"registered":false}}'
allowed "admin creates another node's report" "$KUBECONFIG" create -f "$tmp/other-node.yaml"
denied "write another node's status" "the agent on node $node_a may write only DevicePoolNodes of that node" \
	"$bound" patch devicepoolnode "$pool.$node_b" --subresource=status --type=merge -p '{"status":{"registered":true}}'
denied "delete a report (RBAC: agents never delete)" "cannot delete resource" \
	"$bound" delete devicepoolnode "$pool.$node_a"

# ResourceSlices (DRA).
allowed "create its own node's slice" "$bound" create -f "$tmp/own-slice.yaml"
allowed "update its own node's slice" "$bound" label resourceslice "$pool.$node_a" hashfoundry.com/node="$node_a"
denied "create another node's slice" "the agent on node $node_a may write only ResourceSlices of that node" \
	"$bound" create -f "$tmp/other-node-slice.yaml"
denied "create a slice of another driver" "may write only ResourceSlices of driver $driver" \
	"$bound" create -f "$tmp/other-driver-slice.yaml"
denied "write a slice with a token bound to no node" "this token names no node" \
	"$unbound" label resourceslice "$pool.$node_a" x=y
allowed "admin creates another node's slice" "$KUBECONFIG" create -f "$tmp/other-node-slice.yaml"
denied "update another node's slice" "the agent on node $node_a may write only ResourceSlices of that node" \
	"$bound" label resourceslice "$pool.$node_b" hashfoundry.com/node="$node_a"
denied "delete another node's slice" "the agent on node $node_a may write only ResourceSlices of that node" \
	"$bound" delete resourceslice "$pool.$node_b"
"$kubectl" get resourceslice "$pool.$node_b" >/dev/null 2>&1 || fail "node $node_b's slice was deleted after all"
allowed "delete its own node's slice" "$bound" delete resourceslice "$pool.$node_a"

echo "test-admission-policy: OK"
