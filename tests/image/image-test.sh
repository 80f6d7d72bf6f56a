#!/usr/bin/env bash
# The container image, built for real (scripts/build-image) and checked for
# what it is:
#
#   image-test.sh check          build it; the binaries run in it (--version,
#                                --help, chrooted, the operator as 65532);
#                                ldd inside finds every library; the image's
#                                user and entrypoint; its size, compressed
#                                and not
#   image-test.sh e2e E2E_TEST   run the e2e suite (the gtest binary E2E_TEST)
#                                with the operator and every agent started
#                                from the image's root filesystem
#
# Needs root (buildah, chroot). The e2e mode needs the local cluster
# (HF_CLUSTER_DIR), as the e2e suite does.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "image-test: $*" >&2; exit 1; }

tag=$("$repo/scripts/build-image")
c=$(buildah from --pull-never "$tag")
cleanup() {
  buildah umount "$c" >/dev/null 2>&1 || true
  buildah rm "$c" >/dev/null 2>&1 || true
  [[ -n ${tmp:-} ]] && rm -rf "$tmp"
}
trap cleanup EXIT
root=$(buildah mount "$c")
tmp=$(mktemp -d)
version=${tag##*:}  # scripts/build-image tags IMAGE:<project version>

case ${1:-} in
  check)
    for bin in devicepool-operator devicepool-agent kubectl-devicepool; do
      v=--version
      [[ $bin == kubectl-devicepool ]] && v=version
      out=$(chroot "$root" "/usr/bin/$bin" $v 2>&1) || fail "$bin $v in the image: $out"
      [[ $out == *"$version"* ]] || fail "$bin $v says '$out', not $version"
      out=$(chroot "$root" "/usr/bin/$bin" --help 2>&1) || fail "$bin --help in the image: $out"
      [[ $out == *--kubeconfig* ]] || fail "$bin --help lists no --kubeconfig: $out"
      libs=$(chroot "$root" ldd "/usr/bin/$bin") || fail "ldd $bin in the image failed: $libs"
      if grep -q "not found" <<<"$libs"; then fail "$bin misses libraries in the image:"$'\n'"$(grep 'not found' <<<"$libs")"; fi
      echo "$bin: runs in the image, $(grep -c '=>' <<<"$libs") libraries, all found"
    done
    user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
    [[ $user == 65532:65532 ]] || fail "the image runs as '$user', not 65532:65532"
    entry=$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$tag")
    [[ $entry == '[/usr/bin/devicepool-operator]' ]] || fail "entrypoint $entry"
    out=$(chroot --userspec=65532:65532 "$root" /usr/bin/devicepool-operator --version 2>&1) ||
      fail "the operator does not run as 65532: $out"
    source_label=$(buildah inspect --type image \
      --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.source"}}' "$tag")
    # shellcheck source=../../release.env
    source "$repo/release.env"
    [[ $source_label == "$SOURCE_URL" ]] || fail "source label '$source_label', release.env: $SOURCE_URL"
    echo "user 65532:65532, entrypoint the operator, source $source_label"
    # Sizes: unpacked, and as a registry stores it (gzip layers of an OCI archive).
    unpacked=$(du -sb --apparent-size "$root" | cut -f1)
    buildah push --quiet --format oci "$tag" "oci-archive:$tmp/image.tar" >/dev/null
    packed=$(stat -c %s "$tmp/image.tar")
    awk -v u="$unpacked" -v p="$packed" -v t="$tag" \
      'BEGIN { printf "%s: %.1f MiB unpacked, %.1f MiB compressed\n", t, u / 1048576, p / 1048576 }'
    ;;
  e2e)
    e2e=${2:?image-test.sh e2e needs the e2e_test binary}
    # Each binary runs with the image's own loader and libraries, not the
    # host's (the image's root filesystem replaces /usr for them). Before it
    # starts, the loader lists what it would load: anything from outside the
    # image fails the start, so a library the image lacks cannot be taken
    # from the host unnoticed.
    ld=$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
    [[ -f $ld && ! -L $ld ]] || fail "no loader at $ld"
    mkdir -p "$tmp/bin"
    for bin in devicepool-operator devicepool-agent; do
      cat >"$tmp/bin/$bin" <<WRAP
#!/bin/sh
# $bin from the image $tag, mounted at $root
set -e
ld='$ld'
libs='$root/usr/lib/x86_64-linux-gnu'
bin='$root/usr/bin/$bin'
outside=\$("\$ld" --inhibit-cache --library-path "\$libs" --list "\$bin" | grep '=>' | grep -v "=> $root/" || true)
if [ -n "\$outside" ]; then echo "$bin: libraries from outside the image: \$outside" >&2; exit 127; fi
exec "\$ld" --inhibit-cache --library-path "\$libs" "\$bin" "\$@"
WRAP
      chmod 755 "$tmp/bin/$bin"
      "$tmp/bin/$bin" --version >/dev/null || fail "$bin from the image's root does not start"
    done
    echo "e2e on the image's binaries ($tag at $root)"
    HF_BIN_DIR=$tmp/bin "$e2e"
    ;;
  *)
    echo "usage: image-test.sh check | e2e E2E_TEST" >&2
    exit 2
    ;;
esac
