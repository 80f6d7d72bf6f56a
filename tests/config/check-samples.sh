#!/usr/bin/env bash
# Checks that a real API server accepts every sample in config/samples: the
# CRDs from crds/ are applied for real, then each sample goes through a
# server-side dry run with strict field validation (an unknown or misspelt
# field is an error), so the schema, its defaults and every CEL rule of the
# CRD judge it. Warnings count as failures. Also checks that the samples
# cover each discovery mode (simulated, paths, pci) and both allocation APIs
# (DevicePlugin, DRA), and that the test pods
# (test-pods.yaml, what kubectl devicepool test runs) are Pods that ask for
# the sample pool's resource.
#
#   HF_CLUSTER_DIR=DIR tests/config/check-samples.sh   (DIR from tests/cluster/bin/cluster up DIR)
#
# Leaves the CRDs installed (other tests apply the same ones) and creates
# nothing else.
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
samples=$repo/config/samples

fail() {
	echo "check-samples: FAIL: $*" >&2
	exit 1
}
[[ -n ${HF_CLUSTER_DIR:-} && -r $HF_CLUSTER_DIR/admin.kubeconfig ]] ||
	fail "HF_CLUSTER_DIR must name a running cluster (tests/cluster/bin/cluster up DIR)"
export KUBECONFIG=$HF_CLUSTER_DIR/admin.kubeconfig
kubectl=$("$repo/tests/cluster/bin/cluster" bin-dir)/kubectl

"$kubectl" apply --server-side --force-conflicts -f "$repo/crds/" >/dev/null || fail "cannot apply crds/"
"$kubectl" wait --for=condition=Established --timeout=60s \
	crd/devicepools.hashfoundry.com crd/devicepoolnodes.hashfoundry.com >/dev/null ||
	fail "the CRDs did not become Established"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shopt -s nullglob
files=("$samples"/*.yaml)
((${#files[@]} > 0)) || fail "no samples in $samples"
modes=()
apis=()
for f in "${files[@]}"; do
	name=${f#"$repo"/}
	if ! "$kubectl" apply --server-side --dry-run=server --validate=strict -o json -f "$f" >"$tmp/out" 2>"$tmp/err"; then
		cat "$tmp/err" >&2
		fail "the API server rejected $name (above)"
	fi
	if grep -qi 'warning' "$tmp/err"; then
		cat "$tmp/err" >&2
		fail "the API server warned about $name (above)"
	fi
	# One object or a List of them.
	jq -r 'if .kind == "List" then .items[] else . end |
		[.kind, .metadata.name, (.spec.discovery // {} | keys | join(",") | if . == "" then "-" else . end),
		 (.spec.allocationAPI // "-"),
		 ([.spec.containers[]?.resources.limits["hashfoundry.com/custom-device"] // empty | tonumber] | add // 0)]
		| map(tostring) | join(" ")' "$tmp/out" >"$tmp/kinds"
	while read -r kind object mode api wants; do
		case $kind in
		DevicePool)
			modes+=("$mode")
			apis+=("$api")
			echo "check-samples: $name: DevicePool ($mode discovery, $api) accepted"
			;;
		Pod)
			[[ ${name##*/} == test-pods.yaml ]] || fail "$name holds a Pod; only test-pods.yaml holds the test pods"
			((wants > 0)) || fail "$name: Pod $object asks for no hashfoundry.com/custom-device"
			echo "check-samples: $name: Pod $object (asks for $wants devices) accepted"
			;;
		*) fail "$name holds a $kind; samples are DevicePools and the test pods" ;;
		esac
	done <"$tmp/kinds"
done
for want in simulated paths pci; do
	printf '%s\n' "${modes[@]}" | grep -qx "$want" || fail "no sample uses $want discovery"
done
for want in DevicePlugin DRA; do
	printf '%s\n' "${apis[@]}" | grep -qx "$want" || fail "no sample uses allocationAPI $want"
done
echo "check-samples: OK (${#files[@]} samples)"
