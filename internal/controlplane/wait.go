package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// pollInterval is how often a starting process is probed.
const pollInterval = 50 * time.Millisecond

// checkProcesses fails if any process has exited.
func (cp *ControlPlane) checkProcesses() error {
	for _, p := range cp.procs {
		if err := p.exited(); err != nil {
			return err
		}
	}
	return nil
}

// poll runs cond until it is done, a process exits or ctx ends; the error
// then names what was awaited and the last probe error.
func (cp *ControlPlane) poll(ctx context.Context, what string, cond func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if err := cp.checkProcesses(); err != nil {
			return false, err
		}
		last = cond(ctx)
		return last == nil, nil
	})
	if err != nil && wait.Interrupted(err) {
		return fmt.Errorf("waiting for %s: %w (last: %v; logs in %s)", what, err, last, cp.logDir)
	}
	return err
}

// waitAPIServer waits for the serving certificate that kube-apiserver
// writes to its --cert-dir, then for /readyz; it returns the certificate
// bundle (the serving cert and its self-signed CA) to trust.
func (cp *ControlPlane) waitAPIServer(ctx context.Context, host, certFile string, admin user) ([]byte, error) {
	var caData []byte
	err := cp.poll(ctx, "kube-apiserver serving certificate", func(context.Context) error {
		data, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return errors.New("certificate not fully written")
		}
		caData = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	cfg := restConfig(host, caData, admin)
	cfg.Timeout = 5 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	err = cp.poll(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
		_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	})
	return caData, err
}

// waitHealthy waits until each component answers /healthz on its secure
// port. Their certificates are self-signed in memory, so this probe alone
// skips verification.
func (cp *ControlPlane) waitHealthy(ctx context.Context, ports map[string]int) error {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health probe
	}
	defer client.CloseIdleConnections()
	for name, port := range ports {
		url := loopback("https", port) + "/healthz"
		err := cp.poll(ctx, name+" /healthz", func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", url, resp.Status)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
