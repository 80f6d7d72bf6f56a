package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterName names the cluster and context entries in every kubeconfig written
// here.
const clusterName = "hashfoundry-test"

// writeKubeconfig writes a self-contained kubeconfig (certificates inline) so
// that it keeps working when copied or mounted elsewhere.
func writeKubeconfig(path, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts[clusterName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = clusterName
	return clientcmd.WriteToFile(*cfg, path)
}

func writeCertKubeconfig(path, server string, ca *x509.Certificate, client *keyPair) error {
	key, err := keyPEM(client.key)
	if err != nil {
		return err
	}
	auth := &clientcmdapi.AuthInfo{ClientCertificateData: certPEM(client.cert), ClientKeyData: key}
	return writeKubeconfig(path, server, certPEM(ca), client.cert.Subject.CommonName, auth, "")
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

func cmdSAKubeconfig(args []string) error {
	fs := flag.NewFlagSet("sa-kubeconfig", flag.ContinueOnError)
	namespace := fs.String("namespace", "", "namespace of the ServiceAccount (required)")
	serviceAccount := fs.String("serviceaccount", "", "name of the ServiceAccount (required)")
	out := fs.String("out", "", "kubeconfig file to write (required)")
	duration := fs.Duration("duration", time.Hour, "requested token lifetime (the apiserver enforces at least 10m)")
	boundPod := fs.String("bound-pod", "", "bind the token to this pod in the namespace, like a projected token, so it dies with the pod")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *namespace == "" || *serviceAccount == "" || *out == "" {
		return usageError("usage: cluster sa-kubeconfig DIR --namespace NS --serviceaccount SA --out FILE [--duration 1h] [--bound-pod NAME]")
	}
	l, err := newLayout(pos[0])
	if err != nil {
		return err
	}
	admin, err := restConfig(l.adminKubeconfig())
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	seconds := int64(duration.Seconds())
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}
	if *boundPod != "" {
		// A bound token names the pod's UID, not just its name, so a pod
		// recreated under the same name does not inherit it.
		pod, err := cs.CoreV1().Pods(*namespace).Get(ctx, *boundPod, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("bound pod: %w", err)
		}
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID,
		}
	}
	tok, err := cs.CoreV1().ServiceAccounts(*namespace).CreateToken(ctx, *serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("TokenRequest for %s/%s: %w", *namespace, *serviceAccount, err)
	}
	user := fmt.Sprintf("system:serviceaccount:%s:%s", *namespace, *serviceAccount)
	if err := writeKubeconfig(*out, admin.Host, admin.CAData, user, &clientcmdapi.AuthInfo{Token: tok.Status.Token}, *namespace); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster sa-kubeconfig: %s as %s, token expires %s\n",
		*out, user, tok.Status.ExpirationTimestamp.UTC().Format(time.RFC3339))
	return nil
}

func cmdNodeKubeconfig(args []string) error {
	fs := flag.NewFlagSet("node-kubeconfig", flag.ContinueOnError)
	out := fs.String("out", "", "kubeconfig file to write (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || *out == "" {
		return usageError("usage: cluster node-kubeconfig DIR NODE --out FILE")
	}
	l, err := newLayout(pos[0])
	if err != nil {
		return err
	}
	node := pos[1]
	admin, err := restConfig(l.adminKubeconfig())
	if err != nil {
		return err
	}
	ca, err := loadKeyPair(l.pki(), "ca")
	if err != nil {
		return err
	}
	// The identity kubelets present: the Node authorizer and the
	// NodeRestriction admission plugin recognise it by exactly this form.
	kp, err := clientCert(ca, "system:node:"+node, "system:nodes")
	if err != nil {
		return err
	}
	if err := writeCertKubeconfig(*out, admin.Host, ca.cert, kp); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster node-kubeconfig: %s as system:node:%s\n", *out, node)
	return nil
}
