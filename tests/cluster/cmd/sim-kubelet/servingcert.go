package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/certificate"
	"k8s.io/klog/v2"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletcertificate "k8s.io/kubernetes/pkg/kubelet/certificate"
)

// nodeAddresses are the addresses this node reports, and the names its
// serving certificate is for: the API server reaches every node at
// 127.0.0.1 (--kubelet-preferred-address-types=InternalIP first), each at
// its own port.
func nodeAddresses(nodeName string) []v1.NodeAddress {
	return []v1.NodeAddress{
		{Type: v1.NodeInternalIP, Address: loopback},
		{Type: v1.NodeHostName, Address: nodeName},
	}
}

// startServingCertificate gets the kubelet API's serving certificate as a
// kubelet with serverTLSBootstrap does, with the kubelet's own certificate
// manager: a CertificateSigningRequest to the kubernetes.io/kubelet-serving
// signer, which the controller manager signs with the cluster CA once it
// is approved; kept under <root>/var/lib/kubelet/pki and renewed before it
// expires. Nothing in the control plane approves serving certificates, so
// with an approver client (the --recorder-kubeconfig, admin) the node
// approves its own requests, after checking they ask for nothing but its
// names; without one they wait for `kubectl certificate approve`.
func startServingCertificate(ctx context.Context, k *kubelet) (certificate.Manager, error) {
	m, err := kubeletcertificate.NewKubeletServerCertificateManager(k.client, &kubeletconfig.KubeletConfiguration{},
		types.NodeName(k.o.nodeName), func() []v1.NodeAddress { return nodeAddresses(k.o.nodeName) },
		k.o.hostPath(kubeletDir+"/pki"))
	if err != nil {
		return nil, err
	}
	if k.recorder != nil {
		if err := approveServingRequests(ctx, k.recorder, k.o.nodeName); err != nil {
			return nil, err
		}
	} else {
		klog.InfoS("No --recorder-kubeconfig: this node's kubelet-serving CertificateSigningRequests wait for approval (kubectl certificate approve)", "node", k.o.nodeName)
	}
	m.Start()
	return m, nil
}

// approveServingRequests approves this node's pending kubelet-serving
// requests as they appear, until ctx ends.
func approveServingRequests(ctx context.Context, approver kubernetes.Interface, nodeName string) error {
	factory := informers.NewSharedInformerFactoryWithOptions(approver, 0, informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
		lo.FieldSelector = "spec.signerName=" + certificatesv1.KubeletServingSignerName
	}))
	informer := factory.Certificates().V1().CertificateSigningRequests().Informer()
	approve := func(obj any) {
		csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
		if !ok || csr.Spec.Username != "system:node:"+nodeName || decided(csr) {
			return
		}
		if err := checkServingRequest(csr, nodeName); err != nil {
			klog.ErrorS(err, "Not approving a serving certificate request", "csr", csr.Name)
			return
		}
		approved := csr.DeepCopy()
		approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: v1.ConditionTrue,
			Reason: "SimKubeletApprove", Message: "sim-kubelet approved its own serving certificate for its names",
		})
		if _, err := approver.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, approved, metav1.UpdateOptions{}); err != nil {
			klog.ErrorS(err, "Approving a serving certificate request", "csr", csr.Name)
			return
		}
		klog.InfoS("Approved the kubelet serving certificate request", "csr", csr.Name, "node", nodeName)
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    approve,
		UpdateFunc: func(_, obj any) { approve(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	return nil
}

func decided(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateApproved || c.Type == certificatesv1.CertificateDenied ||
			c.Type == certificatesv1.CertificateFailed {
			return true
		}
	}
	return false
}

// checkServingRequest accepts a request whose subject is the node and
// whose names are among the node's addresses (what the signer itself
// does not check).
func checkServingRequest(csr *certificatesv1.CertificateSigningRequest, nodeName string) error {
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return errors.New("spec.request: not PEM")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("spec.request: %w", err)
	}
	if req.Subject.CommonName != "system:node:"+nodeName || !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
		return fmt.Errorf("subject %s is not system:node:%s in system:nodes", req.Subject, nodeName)
	}
	var dns []string
	var ips []net.IP
	for _, a := range nodeAddresses(nodeName) {
		if ip := net.ParseIP(a.Address); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, a.Address)
		}
	}
	for _, name := range req.DNSNames {
		if !slices.Contains(dns, name) {
			return fmt.Errorf("DNS name %q is not this node's", name)
		}
	}
	for _, ip := range req.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			return fmt.Errorf("IP address %s is not this node's", ip)
		}
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return errors.New("the request names e-mail addresses or URIs")
	}
	return nil
}
