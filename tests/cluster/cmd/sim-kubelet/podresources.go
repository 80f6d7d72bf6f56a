package main

import (
	"context"
	"errors"
	"net"
	"os"

	"google.golang.org/grpc"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
	"k8s.io/kubernetes/pkg/kubelet/apis/podresources"
)

// podResourcesSocket is where the kubelet serves its PodResources API, seen
// from inside the node.
const podResourcesSocket = kubeletDir + "/pod-resources/kubelet.sock"

// podResourcesServer serves the kubelet's real PodResources v1 server
// (List, Get, GetAllocatableResources) over the node's pods, the device
// manager's allocations and the DRA manager's prepared claims. CPUs and
// memory are not simulated and come back empty.
type podResourcesServer struct {
	grpc *grpc.Server
}

func startPodResources(ctx context.Context, pods podresources.PodsProvider, devices podresources.DevicesProvider,
	dynamic podresources.DynamicResourcesProvider) (*podResourcesServer, error) {
	if err := os.Remove(podResourcesSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", podResourcesSocket)
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer()
	podresourcesapi.RegisterPodResourcesListerServer(s, podresources.NewV1PodResourcesServer(ctx, podresources.PodResourcesProviders{
		Pods: pods, Devices: devices, Cpus: noResources{}, Memory: noResources{}, DynamicResources: dynamic,
	}))
	go func() { _ = s.Serve(ln) }()
	return &podResourcesServer{grpc: s}, nil
}

// stop ends the server; closing its listener removes the socket.
func (s *podResourcesServer) stop() { s.grpc.Stop() }

type noResources struct{}

func (noResources) GetCPUs(string, string) []int64 { return nil }
func (noResources) GetAllocatableCPUs() []int64    { return nil }
func (noResources) GetMemory(string, string) []*podresourcesapi.ContainerMemory {
	return nil
}
func (noResources) GetAllocatableMemory() []*podresourcesapi.ContainerMemory { return nil }
