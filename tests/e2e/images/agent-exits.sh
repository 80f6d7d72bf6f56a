#!/bin/sh
# A broken build of devicepool-agent that crashes at start: it says why on
# stderr and in the termination message (as the real agent does for a fatal
# error) and exits 1. The fixture installs it as
# <images>/by-image/<escaped image>/devicepool-agent (tests/e2e/e2e_fixture.h,
# InstallAgentImage); it ignores the agent's arguments.
reason="devicepool-agent (test build agent-exits.sh): crashed at start"
if [ -w /dev/termination-log ]; then
	echo "$reason" >/dev/termination-log 2>/dev/null || true
fi
echo "$reason" >&2
exit 1
