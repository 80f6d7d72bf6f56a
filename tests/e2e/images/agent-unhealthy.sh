#!/bin/sh
# A broken build of devicepool-agent that looks for its devices in the wrong
# place: the real agent with every argument kept but --dev-root, which names
# a directory under /proc that nobody can create. The simulated scanner's
# Prepare only warns that it cannot create the files, and every scan finds
# every device missing, so the agent registers with the kubelet and reports
# all its devices Unhealthy.
#
# Installed as <images>/by-image/<escaped image>/devicepool-agent, so the real
# agent is <images>/devicepool-agent (sim-kubelet runs this script by its host
# path).
set -eu
agent="$(dirname "$0")/../../devicepool-agent"
for arg; do
	shift
	case "$arg" in
	--dev-root=*) set -- "$@" "--dev-root=/proc/hf-no-devices" ;;
	*) set -- "$@" "$arg" ;;
	esac
done
exec "$agent" "$@"
