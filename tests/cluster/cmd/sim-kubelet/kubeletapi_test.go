package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
)

func servingRequest(t *testing.T, tmpl *x509.CertificateRequest) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
		Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
	}}
}

func TestCheckServingRequest(t *testing.T) {
	node := pkix.Name{CommonName: "system:node:n1", Organization: []string{"system:nodes"}}
	for _, tc := range []struct {
		name string
		tmpl x509.CertificateRequest
		want string // "" to approve, else part of the error
	}{
		{"the node's names", x509.CertificateRequest{Subject: node, DNSNames: []string{"n1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, ""},
		{"another node", x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n2", Organization: []string{"system:nodes"}}}, "subject"},
		{"a foreign DNS name", x509.CertificateRequest{Subject: node, DNSNames: []string{"kubernetes.default"}}, "DNS name"},
		{"a foreign IP", x509.CertificateRequest{Subject: node, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}, "IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkServingRequest(servingRequest(t, &tc.tmpl), "n1")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one about %s", err, tc.want)
			}
		})
	}
}

// One port answers both TLS and plain HTTP clients, each on its own server.
func TestSplitTLS(t *testing.T) {
	ln, err := net.Listen("tcp", loopback+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tlsLn, plainLn := splitTLS(ln)
	answer := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
	}
	tlsSrv := httptest.NewUnstartedServer(answer("over TLS"))
	tlsSrv.Listener = tlsLn
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plainSrv := httptest.NewUnstartedServer(answer("plain"))
	plainSrv.Listener = plainLn
	plainSrv.Start()
	defer plainSrv.Close()

	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	addr := ln.Addr().String()
	if got := get(tlsSrv.Client(), "https://"+addr+"/"); got != "over TLS" {
		t.Errorf("https: %q", got)
	}
	if got := get(http.DefaultClient, "http://"+addr+"/"); got != "plain" {
		t.Errorf("http: %q", got)
	}
}
