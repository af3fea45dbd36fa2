//! A `pingress run --manifests DIR` process on free loopback ports, with its manifests in a
//! private temporary directory, and helpers to write Kubernetes YAML for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{free_port, get, wait_until, ChildGuard, Response};

/// A running gateway; killed and its directory removed on drop.
pub struct GatewayProcess {
    child: ChildGuard,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    /// How the process was started, to start a successor the same way.
    binary: String,
    args: Vec<String>,
    /// Processes this one succeeded (graceful upgrade), kept until the test ends.
    retired: Vec<ChildGuard>,
}

impl GatewayProcess {
    /// Writes `files` (name, YAML) into a fresh manifest directory, starts `binary run` on it
    /// with `extra_args`, and waits until `/readyz` answers 200.
    pub fn start(binary: &str, files: &[(&str, &str)], extra_args: &[&str]) -> GatewayProcess {
        let dir = fresh_dir();
        for (name, yaml) in files {
            std::fs::write(dir.join("manifests").join(name), yaml).expect("write manifest");
        }
        let source = [
            "--manifests".to_string(),
            dir.join("manifests").to_string_lossy().into_owned(),
        ];
        Self::launch(binary, dir, &source, extra_args)
    }

    /// Starts `binary run --kubernetes` against the API server at `api_url` (through a
    /// kubeconfig written for it) and waits until `/readyz` answers 200.
    pub fn start_kubernetes(binary: &str, api_url: &str, extra_args: &[&str]) -> GatewayProcess {
        let dir = fresh_dir();
        let kubeconfig = dir.join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{api_url}\"}}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\ncurrent-context: fake\n"
        );
        std::fs::write(&kubeconfig, config).expect("write kubeconfig");
        let source = [
            "--kubernetes".to_string(),
            "--kubeconfig".to_string(),
            kubeconfig.to_string_lossy().into_owned(),
        ];
        Self::launch(binary, dir, &source, extra_args)
    }

    fn launch(
        binary: &str,
        dir: PathBuf,
        source: &[String],
        extra_args: &[&str],
    ) -> GatewayProcess {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let https: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = dir.join("pingress.log");
        let mut args: Vec<String> = vec!["run".into()];
        args.extend(source.iter().cloned());
        for (flag, value) in [
            ("--listen-http", http.to_string()),
            ("--listen-https", https.to_string()),
            ("--listen-admin", admin.to_string()),
            ("--threads", "2".into()),
            (
                "--upgrade-socket",
                dir.join("upgrade.sock").to_string_lossy().into_owned(),
            ),
        ] {
            args.extend([flag.to_string(), value]);
        }
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let child = spawn(binary, &args, &log);
        let mut gateway = GatewayProcess {
            child,
            http,
            https,
            admin,
            dir,
            log,
            binary: binary.to_string(),
            args,
            retired: Vec::new(),
        };
        gateway.wait_ready();
        gateway
    }

    fn wait_ready(&mut self) {
        let ready = wait_until(Duration::from_secs(30), || {
            self.child.is_running()
                && get(self.admin, "admin", "/readyz").is_ok_and(|r| r.status == 200)
        });
        assert!(
            ready,
            "pingress did not become ready; log:\n{}",
            self.log_text()
        );
    }

    /// Graceful upgrade: starts a successor with `--upgrade`, tells this process (SIGQUIT) to
    /// hand over its listening sockets, and waits until the successor serves. The old process
    /// drains and exits on its own; the guard keeps it until the test ends.
    pub fn upgrade(&mut self) {
        let mut args = self.args.clone();
        args.push("--upgrade".into());
        let log = self
            .dir
            .join(format!("pingress-{}.log", self.retired.len() + 2));
        let successor = spawn(&self.binary, &args, &log);
        // The successor polls the upgrade socket until the sockets arrive.
        std::thread::sleep(Duration::from_millis(500));
        let status = Command::new("kill")
            .args(["-QUIT", &self.child.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGQUIT to the running gateway");
        let old = std::mem::replace(&mut self.child, successor);
        self.retired.push(old);
        self.log = log;
        self.wait_ready();
    }

    /// Replaces (or creates) a manifest file.
    pub fn write(&self, name: &str, yaml: &str) {
        // Write then rename, as editors and `kubectl`-style tools do, so the watcher never
        // reads a half-written file.
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml).expect("write manifest");
        std::fs::rename(&tmp, self.manifest(name)).expect("rename manifest");
    }

    /// Removes a manifest file.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.manifest(name)).expect("remove manifest");
    }

    fn manifest(&self, name: &str) -> PathBuf {
        self.dir.join("manifests").join(name)
    }

    pub fn manifests_dir(&self) -> PathBuf {
        self.dir.join("manifests")
    }

    /// One GET through the gateway on a fresh connection.
    pub fn get(&self, host: &str, path: &str) -> Response {
        get(self.http, host, path)
            .unwrap_or_else(|e| panic!("GET {host}{path} failed: {e}; log:\n{}", self.log_text()))
    }

    /// `/metrics` of the admin listener.
    pub fn metrics(&self) -> String {
        get(self.admin, "admin", "/metrics")
            .expect("GET /metrics")
            .body
    }

    /// `/metrics`, parsed by a real Prometheus text-format parser.
    pub fn scrape(&self) -> prometheus_parse::Scrape {
        let text = self.metrics();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .unwrap_or_else(|e| panic!("unparsable /metrics ({e}):\n{text}"))
    }

    /// The sum of the counter/gauge samples of `metric` whose labels include `labels`; `None`
    /// when there is no such sample.
    pub fn metric_sum(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        use prometheus_parse::Value;
        let values: Vec<f64> = self
            .scrape()
            .samples
            .into_iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .filter_map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                _ => None,
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// The value of an unlabelled metric, e.g. `pingress_config_generation`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metric_sum(name, &[])
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id, e.g. to send it a signal.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A new private directory (with an empty `manifests/`) for one gateway.
fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pingress-e2e-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("manifests")).expect("create temp dir");
    dir
}

fn spawn(binary: &str, args: &[String], log: &Path) -> ChildGuard {
    let mut command = Command::new(binary);
    command.args(args).env("RUST_LOG", "info");
    ChildGuard::spawn(command, log).expect("spawn pingress")
}

/// Kubernetes YAML for the objects the tests need.
pub mod yaml {
    use std::net::SocketAddr;

    /// `ingress_yaml` (from [`ingress`]) with these annotations.
    pub fn annotated(ingress_yaml: &str, annotations: &[(&str, &str)]) -> String {
        let mut block = String::from("  annotations:\n");
        for (k, v) in annotations {
            block.push_str(&format!("    {k}: \"{v}\"\n"));
        }
        ingress_yaml.replacen("spec:\n", &format!("{block}spec:\n"), 1)
    }

    /// An IngressClass named `pingress` for our controller, marked default when `default`.
    pub fn ingress_class(default: bool) -> String {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: pingress\n  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"{default}\"\nspec:\n  controller: pingress.io/ingress-controller\n---\n"
        )
    }

    /// A Service `name` with port 80 named `http`, and one EndpointSlice per endpoint (each
    /// endpoint listens on its own port), all ready.
    pub fn service(name: &str, endpoints: &[SocketAddr]) -> String {
        let endpoints: Vec<(SocketAddr, bool)> = endpoints.iter().map(|a| (*a, true)).collect();
        service_with_readiness(name, &endpoints)
    }

    /// Like [`service`], with each endpoint's `ready` condition given: `(address, ready)`.
    /// The EndpointSlice of the i-th endpoint is named `NAME-i`.
    pub fn service_with_readiness(name: &str, endpoints: &[(SocketAddr, bool)]) -> String {
        let mut out = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n  - name: http\n    port: 80\n---\n"
        );
        for (i, (addr, ready)) in endpoints.iter().enumerate() {
            out.push_str(&format!(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-{i}\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: IPv4\nports:\n- name: http\n  port: {}\nendpoints:\n- addresses: [\"{}\"]\n  conditions:\n    ready: {ready}\n---\n",
                addr.port(),
                addr.ip()
            ));
        }
        out
    }

    /// One path of a rule: `(path, pathType, service)`; the Service port is 80.
    pub type Path<'a> = (&'a str, &'a str, &'a str);

    /// An Ingress of class `pingress`. `rules` is `(host or "", paths)`.
    pub fn ingress(name: &str, rules: &[(&str, &[Path])]) -> String {
        let mut out = format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\nspec:\n  ingressClassName: pingress\n  rules:\n"
        );
        for (host, paths) in rules {
            if host.is_empty() {
                out.push_str("  - http:\n      paths:\n");
            } else {
                out.push_str(&format!("  - host: \"{host}\"\n    http:\n      paths:\n"));
            }
            for (path, path_type, service) in paths.iter() {
                out.push_str(&format!(
                    "      - path: {path}\n        pathType: {path_type}\n        backend:\n          service:\n            name: {service}\n            port:\n              number: 80\n"
                ));
            }
        }
        out.push_str("---\n");
        out
    }
}
