package controlplane

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// user is an identity of the static token file.
type user struct {
	name   string
	token  string
	groups []string
}

// Identities of the token file. The components run as the users kubeadm
// gives them, so the bootstrap RBAC policy applies as in a real cluster.
const (
	// AdminUser is the user of the rest.Config that Start returns; it is in
	// group system:masters.
	AdminUser             = "switchyard-admin"
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	kwokUser              = "kwok"
)

// newUsers mints a random token for each identity.
func newUsers() (map[string]user, error) {
	users := map[string]user{
		AdminUser:             {name: AdminUser, groups: []string{"system:masters"}},
		controllerManagerUser: {name: controllerManagerUser},
		schedulerUser:         {name: schedulerUser},
		kwokUser:              {name: kwokUser, groups: []string{"system:masters"}},
	}
	for k, u := range users {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		u.token = hex.EncodeToString(b)
		users[k] = u
	}
	return users, nil
}

// writeTokenFile writes the --token-auth-file: token,user,uid,"groups".
func writeTokenFile(path string, users map[string]user) error {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s,%s", u.token, u.name, u.name)
		if len(u.groups) > 0 {
			fmt.Fprintf(&b, ",%q", strings.Join(u.groups, ","))
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// writeServiceAccountKeys writes an RSA key pair that signs and verifies
// service account tokens: sa.key (PKCS#8) and sa.pub (PKIX).
func writeServiceAccountKeys(dir string) (keyPath, pubPath string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("generating service account key: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	keyPath, pubPath = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return "", "", err
	}
	return keyPath, pubPath, nil
}

// restConfig is a client configuration for u against the apiserver at host.
func restConfig(host string, caData []byte, u user) *rest.Config {
	return &rest.Config{
		Host:            host,
		BearerToken:     u.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
		// Tests and benchmarks should measure the server, not a client-side
		// rate limiter.
		QPS:   1000,
		Burst: 2000,
	}
}

// writeKubeconfig writes a kubeconfig file for cfg.
func writeKubeconfig(path string, cfg *rest.Config, userName string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["switchyard"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[userName] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["switchyard"] = &clientcmdapi.Context{Cluster: "switchyard", AuthInfo: userName}
	kc.CurrentContext = "switchyard"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// freePorts returns n distinct free TCP ports on the loopback interface.
// Another process may take one before we bind it; Start retries then.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// loopback is the URL of a loopback port.
func loopback(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
