#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl), the `cluster` tool, sim-kubelet, agent-bench and the
# kubelet's sample device plugin (agent-bench's peer), prometheus-sync, helm,
# promtool and Prometheus from the Go module graph, and prints the directory
# holding them as the last line on stdout.
#
# The binaries are cached under
#   ${HF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashfoundry}/cluster-KEY/bin
# where KEY hashes everything that decides their content: go.mod, go.sum, this
# script (it holds the build flags), the module's non-test Go sources, the
# go.mod and go.sum of the nested tool modules (tools/helm, tools/promtool)
# and the Go version.
# When that directory is complete nothing is built, so a rebuild with nothing
# changed costs a few hashes. Go's own build and module caches
# (default GOCACHE and GOMODCACHE) make a rebuild after a change incremental.
set -euo pipefail

export GOTOOLCHAIN=local
# Static binaries, as Kubernetes releases them: no C toolchain needed, and the
# binaries do not depend on the libc of the machine that built them.
export CGO_ENABLED=0

module_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$module_dir"

key=$(
	{
		go version
		find . -name '*.go' ! -name '*_test.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
		sha256sum go.mod go.sum hack/build.sh tools/helm/go.mod tools/helm/go.sum \
			tools/promtool/go.mod tools/promtool/go.sum
	} | sha256sum | cut -c1-16
)
cache_root=${HF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hashfoundry}
out=$cache_root/cluster-$key
# The stamp is written only after bin/ is complete, so its presence is the
# whole check, and needs no lock.
if [[ -f $out/stamp ]]; then
	touch "$out/stamp" # marks the build as recently used for pruning below
	echo "$out/bin"
	exit 0
fi

mkdir -p "$out"
# Parallel test runs may all find the cache empty; one builds, the others wait
# for it instead of each spending minutes and gigabytes on the same build.
exec 9>"$out/lock"
flock 9
if [[ -f $out/stamp ]]; then
	echo "$out/bin"
	exit 0
fi

k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' go.mod)
k8s_minor=${k8s_version#v1.}
k8s_minor=${k8s_minor%%.*}
# What Kubernetes' own build stamps into its binaries; without it they report
# v0.0.0-master, and clients such as kubectl warn about version skew.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done

echo "building Kubernetes ${k8s_version} control plane from Go modules into ${out}; the first build takes several minutes" >&2
started=$SECONDS
rm -rf "$out/bin.tmp"
go build -trimpath -ldflags="$ldflags" -o "$out/bin.tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/test/images/sample-device-plugin \
	./cmd/etcd \
	./cmd/cluster \
	./cmd/sim-kubelet \
	./cmd/agent-bench \
	./cmd/prometheus-sync
# helm has its own module because it needs newer k8s.io staging modules than
# our replace block pins. Stamped as helm's release build does: its version,
# and the Kubernetes version `helm template` and `helm lint` assume offline
# (client-go v0.N.P means v1.N).
helm_version=$(awk '$1 == "helm.sh/helm/v3" { print $2; exit }' tools/helm/go.mod)
helm_k8s_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' tools/helm/go.mod)
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
	helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
go -C tools/helm build -trimpath -ldflags="$helm_ldflags" -o "$out/bin.tmp/" helm.sh/helm/v3/cmd/helm
# promtool (rule checks and rule unit tests) and the Prometheus server (the
# e2e suite's and the demo's, run by prometheus-sync) have their own module
# for the same reason. Prometheus 3.X.Y is tagged v0.3XX.Y as a Go module;
# stamp the release version, as its own build does, so `--version` says 3.X.Y.
prom_module_version=$(awk '$1 == "github.com/prometheus/prometheus" { print $2; exit }' tools/promtool/go.mod)
prom_version=$(awk -v v="$prom_module_version" 'BEGIN {
	split(substr(v, 2), p, ".")  # v0.316.0 -> 0 316 0
	printf "%d.%d.%s", int(p[2] / 100), p[2] % 100, p[3]
}')
go -C tools/promtool build -trimpath \
	-ldflags="-s -w -X github.com/prometheus/common/version.Version=$prom_version" \
	-o "$out/bin.tmp/" github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus/cmd/prometheus
rm -rf "${out:?}/bin"
mv "$out/bin.tmp" "$out/bin"
echo "$key" >"$out/stamp"
echo "built in $((SECONDS - started))s" >&2

# Each build takes over 500 MB and every edit of the Go sources makes a new
# one, so builds are pruned: the three most recently used (stamp mtime, see the
# fast path) stay, and so does any used in the last hour, because a cluster
# started from another checkout may still need its kubectl. Only completed
# builds have a stamp, so none in progress is touched.
find "$cache_root" -mindepth 2 -maxdepth 2 -path '*/cluster-*/stamp' -printf '%T@ %h\n' |
	sort -rn | awk -v now="$(date +%s)" 'NR > 3 && $1 < now - 3600 { sub(/^[^ ]+ /, ""); print }' |
	while IFS= read -r old_dir; do
		rm -rf "$old_dir"
	done
echo "$out/bin"
