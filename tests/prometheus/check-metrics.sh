#!/usr/bin/env bash
# Runs a binary, scrapes its /metrics and checks the exposition with promtool
# (built by tests/cluster/hack/build.sh):
#
#   check-metrics.sh operator BINARY     `promtool check metrics` on the
#       operator's /metrics while it reconciles a pool of its own. Needs the
#       local cluster: HF_CLUSTER_DIR (admin.kubeconfig, env) from
#       `tests/cluster/bin/cluster up`. The pool selects no node, so nothing
#       runs; it is deleted again while the operator still runs to release
#       its finalizer.
#   check-metrics.sh agent BINARY        the same for the agent, with no
#       kubelet and no cluster: simulated devices in a temporary --dev-root,
#       a temporary --kubelet-dir, --report=false.
#   check-metrics.sh agent-rules BINARY  the agent's exposition has the series
#       the operator's PrometheusRule selects (tests/operator/golden/
#       prometheusrule.json): hashfoundry_agent_devices with labels pool and
#       node, for each state the rules and the dashboard read (total, healthy,
#       unhealthy, allocated).
#
# Both binaries bind 127.0.0.1:0 and log the port they got
# ("http server listening on port N"). Exit 0 when the checks pass.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)

mode=${1:-}
binary=${2:-}
if [[ ! $mode =~ ^(operator|agent|agent-rules)$ || ! -x $binary ]]; then
	echo "usage: $0 operator|agent|agent-rules BINARY" >&2
	exit 2
fi

fail() {
	echo "check-metrics: FAIL: $*" >&2
	exit 1
}
step() { echo "check-metrics: $*" >&2; }

bin=$("$repo/tests/cluster/hack/build.sh" | tail -n 1)
promtool=$bin/promtool
[[ -x $promtool ]] || fail "no promtool in $bin (tests/cluster/hack/build.sh builds it)"

tmp=$(mktemp -d)
pid=""
cleanups=()
cleanup() {
	local i
	for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# eventually SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds,
# failing after SECONDS.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2 # poll interval of a bounded wait
	done
}

# start LOG ARGS...: runs the binary in the background; sets pid and port.
start() {
	local log=$1
	shift
	"$binary" "$@" >"$log" 2>&1 &
	pid=$!
	port_logged() {
		kill -0 "$pid" 2>/dev/null || {
			cat "$log" >&2
			fail "${binary##*/} exited before serving"
		}
		grep -q 'http server listening on port [0-9]' "$log"
	}
	eventually 30 port_logged || {
		cat "$log" >&2
		fail "${binary##*/} did not log its port within 30s"
	}
	port=$(grep -o 'http server listening on port [0-9]*' "$log" | head -n1 | awk '{ print $NF }')
	step "${binary##*/} serves on 127.0.0.1:$port"
}

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" >"$tmp/metrics"; }

promtool_check() {
	step "promtool check metrics ($("$promtool" --version | head -n 1))"
	if ! "$promtool" check metrics <"$tmp/metrics" >"$tmp/promtool.out" 2>&1; then
		cat "$tmp/promtool.out" >&2
		fail "promtool check metrics found problems in ${binary##*/}'s /metrics (above)"
	fi
	cat "$tmp/promtool.out" >&2
}

run_agent() {
	mkdir -p "$tmp/dev" "$tmp/kubelet" "$tmp/pod-resources"
	start "$tmp/agent.log" --pool=metrics-check --pool-uid=00000000-0000-0000-0000-000000000001 \
		--resource-name=hashfoundry.com/metrics-check --node-name=metrics-node \
		--discovery=simulated --simulated-count=3 --dev-root="$tmp/dev" \
		--kubelet-dir="$tmp/kubelet" --pod-resources-socket="$tmp/pod-resources/kubelet.sock" \
		--http-address=127.0.0.1:0 --report=false --log-format=text --log-level=debug
	# The first scan has happened once the devices are counted.
	scanned() { scrape && grep -q '^hashfoundry_agent_devices{.*state="healthy".*} 3$' "$tmp/metrics"; }
	eventually 30 scanned || {
		cat "$tmp/agent.log" "$tmp/metrics" >&2
		fail "the agent's /metrics never showed its 3 simulated devices as healthy"
	}
}

case $mode in
agent)
	run_agent
	promtool_check
	;;

agent-rules)
	run_agent
	# label VALUE of each hashfoundry_agent_devices sample, one line per sample:
	# its labels as name=value pairs.
	awk '/^hashfoundry_agent_devices\{/ {
		s = $0; sub(/^[^{]*\{/, "", s); sub(/\}.*/, "", s); gsub(/"/, "", s); gsub(/,/, " ", s); print s
	}' "$tmp/metrics" >"$tmp/devices"
	missing=()
	for state in total healthy unhealthy allocated; do
		grep -Eq "(^| )state=$state( |$)" "$tmp/devices" &&
			grep -E "(^| )state=$state( |$)" "$tmp/devices" | grep -Eq '(^| )pool=metrics-check( |$)' &&
			grep -E "(^| )state=$state( |$)" "$tmp/devices" | grep -Eq '(^| )node=metrics-node( |$)' ||
			missing+=("hashfoundry_agent_devices{pool=\"metrics-check\",node=\"metrics-node\",state=\"$state\"}")
	done
	if ((${#missing[@]} > 0)); then
		echo "the agent exports:" >&2
		grep '^hashfoundry_agent_devices' "$tmp/metrics" >&2 || echo "  (no hashfoundry_agent_devices samples)" >&2
		echo "the operator's PrometheusRule selects:" >&2
		jq -r '.spec.groups[].rules[].expr' "$repo/tests/operator/golden/prometheusrule.json" | sed 's/^/  /' >&2
		fail "the agent does not export ${missing[*]}; those alerts can never fire"
	fi
	step "the agent exports every hashfoundry_agent_devices series the rules select"
	;;

operator)
	[[ -n ${HF_CLUSTER_DIR:-} && -r $HF_CLUSTER_DIR/admin.kubeconfig ]] ||
		fail "HF_CLUSTER_DIR must name a running cluster (tests/cluster/bin/cluster up DIR)"
	export KUBECONFIG=$HF_CLUSTER_DIR/admin.kubeconfig
	kubectl=$bin/kubectl
	suffix=$$-$RANDOM
	ns=hf-metrics-$suffix
	pool=metrics-check-$suffix

	step "CRDs and namespace $ns"
	"$kubectl" apply --server-side --force-conflicts -f "$repo/crds/" >/dev/null || fail "cannot apply crds/"
	"$kubectl" wait --for=condition=Established --timeout=60s \
		crd/devicepools.hashfoundry.com crd/devicepoolnodes.hashfoundry.com >/dev/null ||
		fail "the CRDs did not become Established"
	"$kubectl" create namespace "$ns" >/dev/null || fail "cannot create namespace $ns"
	cleanups+=("\"$kubectl\" delete namespace \"$ns\" --wait=false >/dev/null")

	start "$tmp/operator.log" --kubeconfig="$KUBECONFIG" --namespace="$ns" --http-address=127.0.0.1:0 \
		--identity="$pool" --log-format=text --log-level=debug

	step "pool $pool (selects no node)"
	"$kubectl" apply --server-side -f - >/dev/null <<EOF || fail "cannot create pool $pool"
apiVersion: hashfoundry.com/v1alpha1
kind: DevicePool
metadata:
  name: $pool
spec:
  resourceName: hashfoundry.com/$pool
  nodeSelector:
    matchLabels:
      hashfoundry.com/$pool: "enabled"
  discovery:
    simulated:
      count: 2
EOF
	# Runs before the operator is stopped (cleanups run first): the pool goes
	# while its finalizer can still be released.
	cleanups+=("\"$kubectl\" delete devicepool \"$pool\" --timeout=60s >/dev/null")
	"$kubectl" wait --for=condition=Ready --timeout=60s "devicepool/$pool" >/dev/null || {
		cat "$tmp/operator.log" >&2
		fail "the operator did not make pool $pool Ready"
	}
	has_pool_metrics() { scrape && grep -q "^hashfoundry_pool_ready{.*pool=\"$pool\".*} 1" "$tmp/metrics"; }
	eventually 30 has_pool_metrics || {
		cat "$tmp/metrics" >&2
		fail "the operator's /metrics never showed hashfoundry_pool_ready for $pool"
	}
	# A pool on no node has nothing to roll out: phase Idle, 0 nodes.
	grep -q "^hashfoundry_pool_rollout_phase{.*phase=\"Idle\".*pool=\"$pool\".*} 1" "$tmp/metrics" ||
		grep -q "^hashfoundry_pool_rollout_phase{.*pool=\"$pool\".*phase=\"Idle\".*} 1" "$tmp/metrics" ||
		fail "hashfoundry_pool_rollout_phase{phase=\"Idle\"} is not 1 for $pool"
	grep -q "^hashfoundry_pool_rollout_nodes{.*pool=\"$pool\".*state=\"total\".*} 0" "$tmp/metrics" ||
		fail "hashfoundry_pool_rollout_nodes{state=\"total\"} is not 0 for $pool"
	promtool_check
	;;
esac
step "OK"
