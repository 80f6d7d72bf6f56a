package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The cluster lives for one test run or demo, so certificates are valid for a
// year (far beyond any run) and back-dated an hour so that small clock
// differences between processes never make a fresh certificate "not yet valid".
const (
	certValidity = 365 * 24 * time.Hour
	certBackdate = time.Hour
)

// ECDSA P-256 everywhere: key generation is instant (RSA-2048 costs tens of
// milliseconds per key on a small machine, and `up` makes several), and every
// Kubernetes component, as well as OpenSSL-based clients, accepts it, including
// for service-account token signing (ES256).
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// keyPair is a certificate together with the private key it was issued for.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newCA(commonName string) (*keyPair, error) {
	return sign(&x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
}

// certSpec describes a leaf certificate. Kubernetes reads a client's user name
// from the subject's CommonName and its groups from Organization.
type certSpec struct {
	commonName    string
	organizations []string
	dnsNames      []string
	ips           []net.IP
	usage         x509.ExtKeyUsage
}

func (ca *keyPair) issue(spec certSpec) (*keyPair, error) {
	return sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: spec.commonName, Organization: spec.organizations},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{spec.usage},
		DNSNames:    spec.dnsNames,
		IPAddresses: spec.ips,
	}, ca)
}

// sign makes a new key and a certificate for it from tmpl, with a random
// serial and the validity above filled in, signed by parent, or self-signed
// when parent is nil.
func sign(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-certBackdate), now.Add(certValidity)
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func clientCert(ca *keyPair, user string, groups ...string) (*keyPair, error) {
	return ca.issue(certSpec{commonName: user, organizations: groups, usage: x509.ExtKeyUsageClientAuth})
}

func certPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// write stores the pair as NAME.crt and NAME.key in dir and returns both paths.
func (kp *keyPair) write(dir, name string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	keyBytes, err := keyPEM(kp.key)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(certFile, certPEM(kp.cert), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, keyBytes, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// loadKeyPair reads a pair written by write, so that later subcommands can
// issue certificates from the cluster's CA.
func loadKeyPair(dir, name string) (*keyPair, error) {
	certBytes, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	keyBytes, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	certBlock, _ := pem.Decode(certBytes)
	keyBlock, _ := pem.Decode(keyBytes)
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("%s/%s.{crt,key}: not PEM", dir, name)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	return &keyPair{cert: cert, key: key}, nil
}

// The "kubernetes" Service's ClusterIP, the first address of serviceCIDR.
// Clients inside a cluster reach the apiserver by it and check the serving
// certificate against it.
const firstServiceIP = "10.96.0.1"

// clusterPKI holds the paths of the keys and certificates `up` hands to the
// components.
type clusterPKI struct {
	caCert, caKey           string
	servingCert, servingKey string
	saKey, saPublicKey      string // service-account token signing pair
	adminCert, adminKey     string
	// The apiserver's client certificate for kubelets (logs, exec).
	kubeletClientCert, kubeletClientKey string
}

// kubeletClientUser is the apiserver's identity towards kubelets; RBAC
// grants it system:kubelet-api-admin (see bindKubeletClient), as kubeadm
// grants its apiserver-kubelet-client.
const kubeletClientUser = "kube-apiserver-kubelet-client"

// writeClusterPKI creates a fresh CA and everything issued from it, plus a
// kubeconfig for each client identity.
func writeClusterPKI(l layout, apiserverURL string) (clusterPKI, error) {
	var files clusterPKI
	dir := l.pki()
	ca, err := newCA("hashfoundry-test-ca")
	if err != nil {
		return files, err
	}
	if files.caCert, files.caKey, err = ca.write(dir, "ca"); err != nil {
		return files, err
	}
	serving, err := ca.issue(certSpec{
		commonName: apiserver,
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ips:   []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(firstServiceIP)},
		usage: x509.ExtKeyUsageServerAuth,
	})
	if err != nil {
		return files, err
	}
	if files.servingCert, files.servingKey, err = serving.write(dir, apiserver); err != nil {
		return files, err
	}

	kubeletClient, err := clientCert(ca, kubeletClientUser)
	if err != nil {
		return files, err
	}
	if files.kubeletClientCert, files.kubeletClientKey, err = kubeletClient.write(dir, kubeletClientUser); err != nil {
		return files, err
	}

	saKey, err := newKey()
	if err != nil {
		return files, err
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return files, err
	}
	saPublicPEM, err := publicKeyPEM(saKey)
	if err != nil {
		return files, err
	}
	files.saKey, files.saPublicKey = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(files.saKey, saKeyPEM, 0o600); err != nil {
		return files, err
	}
	if err := os.WriteFile(files.saPublicKey, saPublicPEM, 0o644); err != nil {
		return files, err
	}

	// Each component authenticates as itself, so RBAC and audit see the same
	// identities as in a kubeadm cluster.
	identities := []struct {
		name   string // of the kubeconfig and the certificate files
		user   string
		groups []string
	}{
		{"admin", "admin", []string{"system:masters"}},
		{controllerManager, "system:kube-controller-manager", nil},
		{scheduler, "system:kube-scheduler", nil},
	}
	for _, id := range identities {
		kp, err := clientCert(ca, id.user, id.groups...)
		if err != nil {
			return files, err
		}
		certFile, keyFile, err := kp.write(dir, id.name)
		if err != nil {
			return files, err
		}
		if id.name == "admin" {
			files.adminCert, files.adminKey = certFile, keyFile
		}
		if err := writeCertKubeconfig(l.kubeconfig(id.name), apiserverURL, ca.cert, kp); err != nil {
			return files, err
		}
	}
	return files, nil
}
