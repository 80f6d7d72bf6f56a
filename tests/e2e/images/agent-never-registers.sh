#!/bin/sh
# A broken build of devicepool-agent that serves its device-plugin socket but
# never registers with the kubelet: the real agent with every argument kept
# but --kubelet-dir, which names an empty directory of its own, where the
# kubelet's kubelet.sock never appears. It reports registered=false and its
# /readyz fails, so its pod is never Ready.
#
# Installed as <images>/by-image/<escaped image>/devicepool-agent, so the real
# agent is <images>/devicepool-agent (sim-kubelet runs this script by its host
# path). The directory is per node: nodes of one test share the host's /tmp.
set -eu
agent="$(dirname "$0")/../../devicepool-agent"
kubelet_dir="/tmp/hf-agent-never-registers-${NODE_NAME:-node}"
mkdir -p "$kubelet_dir"
for arg; do
	shift
	case "$arg" in
	--kubelet-dir=*) set -- "$@" "--kubelet-dir=$kubelet_dir" ;;
	*) set -- "$@" "$arg" ;;
	esac
done
exec "$agent" "$@"
