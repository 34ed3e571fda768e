package controlplane

import (
	"fmt"
	"strings"
)

// Component names: each is a process, a log file <name>.log and a key of
// ControlPlane.ExtraArgs.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
)

// KwokNodeAnnotation marks the Nodes that kwok manages; Start creates its
// nodes with it and with the label type=kwok.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// controllers are the kube-controller-manager controllers that run: those a
// rollout touches, not the node lifecycle controller (kwok owns node status).
// The HorizontalPodAutoscaler controller runs with no metrics API: it leaves
// a target's replicas alone while they are within its bounds.
// ExtraArgs can replace the list with a later --controllers flag.
var controllers = []string{
	"serviceaccount-token-controller",
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"pod-garbage-collector-controller",
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"ttl-after-finished-controller",
	"disruption-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"horizontal-pod-autoscaler-controller",
}

// paths are the files a control plane's processes share.
type paths struct {
	etcdData       string
	certDir        string // kube-apiserver writes apiserver.crt/.key here
	tokenFile      string
	saKey, saPub   string
	rootCA         string // certDir/apiserver.crt, the serving cert and its CA
	kcmKubeconfig  string
	schedKubecfg   string
	kwokKubeconfig string
}

// ports are the loopback ports of one attempt to start.
type ports struct {
	etcdClient, etcdPeer, apiserver, kcm, scheduler int
}

func etcdArgs(p paths, pt ports, noFsync bool) []string {
	peer := loopback("http", pt.etcdPeer)
	args := []string{
		"--name=switchyard",
		"--data-dir=" + p.etcdData,
		"--listen-client-urls=" + loopback("http", pt.etcdClient),
		"--advertise-client-urls=" + loopback("http", pt.etcdClient),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=switchyard=" + peer,
		"--initial-cluster-state=new",
		"--log-level=warn",
	}
	if noFsync {
		// Test data needs no durability; fsync dominates write latency.
		args = append(args, "--unsafe-no-fsync=true")
	}
	return args
}

func apiserverArgs(p paths, pt ports, serviceCIDR string) []string {
	return []string{
		"--etcd-servers=" + loopback("http", pt.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", pt.apiserver),
		"--cert-dir=" + p.certDir,
		"--token-auth-file=" + p.tokenFile,
		"--authorization-mode=Node,RBAC",
		// On loopback the default lease reconciler would publish 127.0.0.1
		// as the kubernetes Service endpoint, which the API rejects.
		"--endpoint-reconciler-type=none",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
	}
}

func controllerManagerArgs(p paths, pt ports) []string {
	return []string{
		"--kubeconfig=" + p.kcmKubeconfig,
		"--authentication-kubeconfig=" + p.kcmKubeconfig,
		"--authorization-kubeconfig=" + p.kcmKubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", pt.kcm),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.rootCA,
		"--cluster-name=switchyard",
		"--controllers=" + strings.Join(controllers, ","),
	}
}

func schedulerArgs(p paths, pt ports) []string {
	return []string{
		"--kubeconfig=" + p.schedKubecfg,
		"--authentication-kubeconfig=" + p.schedKubecfg,
		"--authorization-kubeconfig=" + p.schedKubecfg,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", pt.scheduler),
		"--leader-elect=false",
	}
}

func kwokArgs(p paths, stages []string, podCIDR string) []string {
	args := []string{
		"--kubeconfig=" + p.kwokKubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--cidr=" + podCIDR,
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	return args
}
