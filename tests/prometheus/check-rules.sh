#!/usr/bin/env bash
# Checks the alerting rules the operator writes into each pool's
# PrometheusRule with a real Prometheus rule engine (promtool, built by
# tests/cluster/hack/build.sh):
#
#   check-rules.sh check   promtool check rules: the rules parse, the PromQL is
#                          valid, the templates render
#   check-rules.sh test    promtool test rules with the *_test.yaml files next
#                          to this script: each alert fires, and stays quiet,
#                          on synthetic agent series exactly as its thresholds
#                          say
#
# The rule file is the spec of tests/operator/golden/prometheusrule.json, the
# golden output of DesiredPrometheusRule (operator/desired.cc), so these tests
# follow the operator's rules as its golden test pins them. The *_test.yaml
# files assume the golden pool's thresholds; this script checks them first so
# a changed threshold fails with that message rather than a timing diff.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
repo=$(cd "$here/../.." && pwd)
golden=$repo/tests/operator/golden/prometheusrule.json

mode=${1:-}
case $mode in
check | test) ;;
*)
	echo "usage: $0 check|test" >&2
	exit 2
	;;
esac

bin=$("$repo/tests/cluster/hack/build.sh" | tail -n 1)
promtool=$bin/promtool
[[ -x $promtool ]] || {
	echo "check-rules: no promtool in $bin (tests/cluster/hack/build.sh builds it)" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# JSON is YAML, so the PrometheusRule's spec is a Prometheus rule file as is.
jq '.spec' "$golden" >"$tmp/rules.json"

# alert NAME FIELD: the field of the golden rule for alert NAME.
alert() { jq -r --arg a "$1" ".groups[].rules[] | select(.alert == \$a) | $2" "$tmp/rules.json"; }
expect() {
	local what=$1 got=$2 want=$3
	if [[ $got != "$want" ]]; then
		echo "check-rules: the golden rule's $what is '$got'; the tests in $here assume '$want' (update both)" >&2
		exit 1
	fi
}
expect "DevicePluginDown for (pluginDownFor)" "$(alert DevicePluginDown .for)" 5m
expect "DevicePluginNotRegistered for (pluginDownFor)" "$(alert DevicePluginNotRegistered .for)" 5m
expect "DeviceUnhealthy for (unhealthyFor)" "$(alert DeviceUnhealthy .for)" 5m
expect "DeviceAllocationHigh for (allocationHighFor)" "$(alert DeviceAllocationHigh .for)" 10m
expect "DeviceAllocationHigh threshold (allocationHighRatio)" \
	"$(alert DeviceAllocationHigh .expr | sed -n 's/.*> *\([0-9.]*\)$/\1/p')" 0.8
expect "pool" "$(alert DevicePluginDown .labels.pool)" custom-device

"$promtool" --version | head -n 1
case $mode in
check)
	"$promtool" check rules "$tmp/rules.json"
	;;
test)
	cp "$here"/*_test.yaml "$tmp/"
	cd "$tmp"
	"$promtool" test rules ./*_test.yaml
	;;
esac
