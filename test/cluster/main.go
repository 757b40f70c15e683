// Command warden-cluster is a local Kubernetes cluster for agent-warden's tests and demo: a real
// kube-apiserver with embedded etcd, kube-controller-manager as a second process of this same
// binary, kubectl at the exact same version, and the node components (kubelet, kube-scheduler,
// kube-proxy) that test/cluster/node runs inside a network namespace of its own.
//
//	warden-cluster up --dir DIR        start the control plane, write DIR/kubeconfig once /readyz answers
//	warden-cluster up --dir DIR --node-ip IP --api-port P --no-controller-manager
//	                                   the same for a real node (see test/cluster/node/supervisor.ts):
//	                                   listen on all addresses of the node's namespace, advertise IP,
//	                                   client certificates for the kubelet and the node's components
//	warden-cluster kubectl ...         kubectl built from the same Kubernetes release
//	warden-cluster kube-controller-manager|kube-scheduler|kubelet|kube-proxy ...
//	                                   the upstream commands, driven by their flags
//
// `up` keeps its ports, certificates and etcd data in DIR, so stopping it (SIGTERM) and running
// `up` again with the same DIR is an API-server restart that clients survive with the same
// kubeconfig.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client metrics, as the upstream mains register them
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: warden-cluster up --dir DIR | kubectl ... | kube-controller-manager ...")
		os.Exit(2)
	}
	sub, rest := os.Args[1], os.Args[2:]
	switch sub {
	case "kubectl":
		os.Args = append([]string{"kubectl"}, rest...)
		cmd := kubectlcmd.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(cmd); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-proxy":
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "up":
		if err := up(rest); err != nil {
			fmt.Fprintln(os.Stderr, "warden-cluster:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "warden-cluster: unknown command %q\n", sub)
		os.Exit(2)
	}
}

// state is what must survive a restart so that an existing kubeconfig keeps working.
type state struct {
	EtcdClientPort int    `json:"etcdClientPort"`
	EtcdPeerPort   int    `json:"etcdPeerPort"`
	APIServerPort  int    `json:"apiServerPort"`
	AdminToken     string `json:"adminToken"`
}

// options of `up`. Without nodeIP it is today's loopback-only control plane; with it, the API
// server serves a real node in the network namespace it runs in.
type options struct {
	dir               string
	nodeIP            net.IP
	nodeName          string
	apiPort           int
	controllerManager bool
}

const upUsage = "usage: up --dir DIR [--node-ip IP --node-name NAME --api-port PORT] [--no-controller-manager]"

func parseUpArgs(args []string) (options, error) {
	o := options{controllerManager: true, nodeName: "warden-node"}
	value := func(i *int, name string) (string, error) {
		a := args[*i]
		if strings.HasPrefix(a, name+"=") {
			return strings.TrimPrefix(a, name+"="), nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value (%s)", name, upUsage)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		name := strings.SplitN(args[i], "=", 2)[0]
		switch name {
		case "--dir":
			v, err := value(&i, name)
			if err != nil {
				return o, err
			}
			o.dir = v
		case "--node-ip":
			v, err := value(&i, name)
			if err != nil {
				return o, err
			}
			if o.nodeIP = net.ParseIP(v).To4(); o.nodeIP == nil {
				return o, fmt.Errorf("--node-ip %q is not an IPv4 address", v)
			}
		case "--node-name":
			v, err := value(&i, name)
			if err != nil {
				return o, err
			}
			o.nodeName = v
		case "--api-port":
			v, err := value(&i, name)
			if err != nil {
				return o, err
			}
			if _, err := fmt.Sscanf(v, "%d", &o.apiPort); err != nil || o.apiPort < 1 || o.apiPort > 65535 {
				return o, fmt.Errorf("--api-port %q is not a port number (1-65535)", v)
			}
		case "--no-controller-manager":
			o.controllerManager = false
		default:
			return o, fmt.Errorf("unknown argument %q (%s)", args[i], upUsage)
		}
	}
	if o.dir == "" {
		return o, fmt.Errorf("--dir is required (%s)", upUsage)
	}
	return o, nil
}

func up(args []string) error {
	o, err := parseUpArgs(args)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Two `up` on one DIR would rewrite each other's keys and share etcd data: refuse the second.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("another warden-cluster is already running with --dir %s", dir)
	}
	st, err := loadOrCreateState(dir, o.apiPort)
	if err != nil {
		return err
	}
	if err := ensurePKI(dir, o); err != nil {
		return err
	}
	// A stale kubeconfig must not be mistaken for a ready server.
	_ = os.Remove(filepath.Join(dir, "kubeconfig"))

	etcd, err := startEtcd(dir, st)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()
	logf("etcd ready on 127.0.0.1:%d", st.EtcdClientPort)

	cmd := apiserver.NewAPIServerCommand()
	cmd.SetArgs(apiServerArgs(dir, st, o))
	apiDone := make(chan int, 1)
	go func() { apiDone <- cli.Run(cmd) }()

	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	if err := waitReady(ctx, dir, st, apiDone); err != nil {
		return err
	}
	if err := writeKubeconfig(dir, st); err != nil {
		return err
	}
	logf("kube-apiserver ready on https://127.0.0.1:%d", st.APIServerPort)

	var kcm *exec.Cmd
	kcmDone := make(chan struct{})
	if o.controllerManager {
		if kcm, err = startControllerManager(dir); err != nil {
			return fmt.Errorf("kube-controller-manager: %w", err)
		}
		go func() { _ = kcm.Wait(); close(kcmDone) }()
		// kube-apiserver installed its own SIGTERM/SIGINT handler and starts shutting down on the
		// same signal; the controller-manager must go at once, or its open watches hold the API
		// server's shutdown for its full 60 s request timeout.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			<-sig
			_ = kcm.Process.Signal(syscall.SIGTERM)
		}()
	} else {
		close(kcmDone)
	}
	fmt.Printf("KUBECONFIG=%s\n", filepath.Join(dir, "kubeconfig"))

	code := <-apiDone
	logf("kube-apiserver stopped (code %d)", code)
	if kcm != nil {
		_ = kcm.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-kcmDone:
	case <-time.After(5 * time.Second):
		_ = kcm.Process.Kill()
	}
	_ = os.Remove(filepath.Join(dir, "kubeconfig"))
	return nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[warden-cluster] "+format+"\n", a...)
}

func loadOrCreateState(dir string, apiPort int) (state, error) {
	var st state
	p := filepath.Join(dir, "state.json")
	if b, err := os.ReadFile(p); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("%s: %w", p, err)
		}
		return st, nil
	}
	ports, err := freePorts(3)
	if err != nil {
		return st, err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return st, err
	}
	st = state{EtcdClientPort: ports[0], EtcdPeerPort: ports[1], APIServerPort: ports[2], AdminToken: hex.EncodeToString(tok)}
	if apiPort != 0 {
		// A node's API server listens in its own network namespace on the port that the host's
		// bridge took on the host's loopback, so one kubeconfig serves both sides.
		st.APIServerPort = apiPort
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return st, err
	}
	tokens := fmt.Sprintf("%s,admin,admin,system:masters\n", st.AdminToken)
	return st, os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600)
}

// freePorts asks the kernel for distinct free loopback ports (never port 0 for the apiserver).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func ensurePKI(dir string, o options) error {
	if _, err := os.Stat(filepath.Join(dir, "serving.crt")); err == nil {
		return nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "warden-cluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	if o.nodeIP != nil {
		srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, o.nodeIP)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if o.nodeIP != nil {
		// Client certificates: the API server's own toward the kubelet (exec, logs, port-forward),
		// and the kubelet's, which the Node authorizer recognises by its name and group.
		clients := []struct{ name, cn, org string }{
			{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"},
			{"kubelet-client", "system:node:" + o.nodeName, "system:nodes"},
		}
		for _, c := range clients {
			if err := writeClientCert(dir, c.name, c.cn, c.org, caCert, caKey); err != nil {
				return err
			}
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":      pemBlock("CERTIFICATE", caDER),
		"ca.key":      mustPKCS8(caKey),
		"serving.key": mustPKCS8(srvKey),
		// The API server reads the ServiceAccount public key out of a SEC1 "EC PRIVATE KEY" block only.
		"sa.key": mustSEC1(saKey),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	// Written last: its presence means the PKI is complete.
	return os.WriteFile(filepath.Join(dir, "serving.crt"), pemBlock("CERTIFICATE", srvDER), 0o600)
}

func writeClientCert(dir, name, cn, org string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), mustPKCS8(key), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".crt"), pemBlock("CERTIFICATE", der), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKCS8(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func mustSEC1(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func startEtcd(dir string, st state) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "warden"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.LogLevel = "error"
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdClientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("not ready after 60s")
	}
}

func apiServerArgs(dir string, st state, o options) []string {
	p := func(name string) string { return filepath.Join(dir, name) }
	bind, advertise, authz := "127.0.0.1", "127.0.0.1", "RBAC"
	var node []string
	if o.nodeIP != nil {
		// Inside the node's own network namespace: pods reach the API server through the
		// kubernetes Service, whose endpoint is the advertised node address.
		bind, advertise, authz = "0.0.0.0", o.nodeIP.String(), "Node,RBAC"
		node = []string{
			"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP",
			"--enable-admission-plugins=NodeRestriction",
		}
	}
	return append([]string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", st.EtcdClientPort),
		fmt.Sprintf("--secure-port=%d", st.APIServerPort),
		"--bind-address=" + bind,
		"--advertise-address=" + advertise,
		"--tls-cert-file=" + p("serving.crt"),
		"--tls-private-key-file=" + p("serving.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--token-auth-file=" + p("tokens.csv"),
		"--authorization-mode=" + authz,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.key"),
		"--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--cert-dir=" + p("certs"),
		"--v=0",
	}, node...)
}

func waitReady(ctx context.Context, dir string, st state, apiDone <-chan int) error {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	u := fmt.Sprintf("https://127.0.0.1:%d/readyz", st.APIServerPort)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+st.AdminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case code := <-apiDone:
			return fmt.Errorf("kube-apiserver exited with code %d before it was ready", code)
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func writeKubeconfig(dir string, st state) error {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	b64 := func(b []byte) string { return base64Std(b) }
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: warden-local
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: warden-local
  context:
    cluster: warden-local
    user: admin
    namespace: default
current-context: warden-local
`, st.APIServerPort, b64(caPEM), st.AdminToken)
	tmp := filepath.Join(dir, "kubeconfig.tmp")
	if err := os.WriteFile(tmp, []byte(kc), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "kubeconfig"))
}

func startControllerManager(dir string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	logFile, err := os.OpenFile(p("kube-controller-manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "kube-controller-manager",
		"--kubeconfig="+p("kubeconfig"),
		"--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,root-ca-cert-publisher",
		"--leader-elect=false",
		"--secure-port=0",
		"--service-account-private-key-file="+p("sa.key"),
		"--root-ca-file="+p("ca.crt"),
		"--concurrent-gc-syncs=5",
		"--v=0",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Dies with us even on SIGKILL, so no orphan keeps writing to a removed cluster.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd, cmd.Start()
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
