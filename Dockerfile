# One image holding both binaries: devicepool-operator (the default
# entrypoint, run by the chart's Deployment) and devicepool-agent (run by the
# DaemonSets the operator writes, which default to the operator's own image),
# and the kubectl plugin kubectl-devicepool beside them.
#
#   docker build -t hashfoundry/device-operator:0.1.0 .
#   scripts/build-image        the same with buildah, here (no daemon needed)
#
# Every Debian package comes from scripts/install-deps (build set here,
# runtime set below); scripts/check-dockerfile keeps the two from drifting
# and checks that the runtime set covers every shared library the binaries
# load.

FROM debian:bookworm AS build
COPY scripts/install-deps /usr/local/sbin/install-deps
RUN install-deps build && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the release build reads (tests are off in the release preset), so
# editing tests or docs does not invalidate the compile layer.
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake/ cmake/
COPY proto/ proto/
COPY kube/ kube/
COPY api/ api/
COPY agent/ agent/
COPY operator/ operator/
COPY cli/ cli/
# kubectl-devicepool compiles its test pods in.
COPY config/samples/test-pods.yaml config/samples/test-pods.yaml
RUN cmake --preset release \
 && cmake --build --preset release \
 && cmake --install build/release --prefix /usr --strip

FROM debian:bookworm-slim
# VERSION is the CMake project version and SOURCE the repository, both from
# release.env by scripts/build-image; the project declares no licence yet,
# so the licence label says so (SPDX NOASSERTION) until one is chosen.
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/hashfoundry/device-operator
ARG LICENSE=NOASSERTION
LABEL org.opencontainers.image.title="hashfoundry-device-operator" \
      org.opencontainers.image.description="HashFoundry device operator: DevicePools advertise node devices as Kubernetes extended resources through a per-node device plugin agent (devicepool-operator and devicepool-agent)." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSE}" \
      org.opencontainers.image.version="${VERSION}"
COPY scripts/install-deps /usr/local/sbin/install-deps
RUN install-deps runtime && rm -rf /var/lib/apt/lists/* /usr/local/sbin/install-deps
COPY --from=build /usr/bin/devicepool-operator /usr/bin/devicepool-operator
COPY --from=build /usr/bin/devicepool-agent /usr/bin/devicepool-agent
COPY --from=build /usr/bin/kubectl-devicepool /usr/bin/kubectl-devicepool
# The operator runs as nobody-like 65532 (the chart's runAsUser too); the
# agent DaemonSet sets runAsUser 0 itself for the kubelet socket and /dev.
USER 65532:65532
ENTRYPOINT ["/usr/bin/devicepool-operator"]
