#!/usr/bin/env bash
# Everything that names the project's repository or image agrees with
# release.env: the Dockerfile's SOURCE default, each deploy/argocd
# Application's repoURL (SOURCE_URL.git), the chart's image.repository. And
# scripts/set-source-url, run on a copy of the tree, changes all of them.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail=0
check() {  # tree
  local tree=$1 SOURCE_URL IMAGE bad=0
  # shellcheck source=../../release.env
  source "$tree/release.env"
  local arg
  arg=$(sed -n 's/^ARG SOURCE=//p' "$tree/Dockerfile")
  [[ $arg == "$SOURCE_URL" ]] || { echo "Dockerfile: ARG SOURCE=$arg, release.env: $SOURCE_URL"; bad=1; } >&2
  grep -q 'org.opencontainers.image.source="${SOURCE}"' "$tree/Dockerfile" ||
    { echo "Dockerfile: the source label does not use \${SOURCE}"; bad=1; } >&2
  local n=0 f u
  while IFS=: read -r f u; do
    u=$(echo "$u" | sed -E 's/^ *repoURL: *//')
    [[ $u == "$SOURCE_URL.git" ]] || { echo "$f: repoURL $u, release.env: $SOURCE_URL.git"; bad=1; } >&2
    n=$((n + 1))
  done < <(grep -r 'repoURL:' "$tree/deploy/argocd" --include='*.yaml')
  [[ $n -eq 3 ]] || { echo "deploy/argocd: $n repoURLs, expected 3"; bad=1; } >&2
  local chart
  chart=$(sed -n 's/^  repository: //p' "$tree/charts/hashfoundry-device-operator/values.yaml" | head -n1)
  [[ $chart == "$IMAGE" ]] || { echo "chart image.repository $chart, release.env: $IMAGE"; bad=1; } >&2
  echo "$SOURCE_URL"
  return $bad
}
got=$(check "$repo") || fail=1
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
mkdir -p "$copy/scripts" "$copy/charts/hashfoundry-device-operator"
cp -r "$repo/release.env" "$repo/Dockerfile" "$copy/"
cp -r "$repo/deploy" "$copy/"
cp "$repo/scripts/set-source-url" "$copy/scripts/"
cp "$repo/charts/hashfoundry-device-operator/values.yaml" "$copy/charts/hashfoundry-device-operator/"
"$copy/scripts/set-source-url" https://git.example.org/team/fork.git >/dev/null
moved=$(check "$copy") || fail=1
[[ $moved == https://git.example.org/team/fork ]] || { echo "set-source-url left SOURCE_URL at $moved"; fail=1; } >&2
if ! "$copy/scripts/set-source-url" 'not a url' 2>/dev/null; then :; else echo "set-source-url took a bad URL" >&2; fail=1; fi
[[ $fail -eq 0 ]] && echo "source URL $got: release.env, Dockerfile, deploy/argocd and the chart agree"
exit $fail
