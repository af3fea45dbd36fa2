//! End-to-end: `pingress controller` and `pingress gateway` as two processes joined by the
//! config channel (a Unix socket), as in the two-container pod.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pingress_testkit::gateway::yaml;
use pingress_testkit::{free_port, get, wait_until, Backend, Behaviour, ChildGuard};

const BIN: &str = env!("CARGO_BIN_EXE_pingress");

struct Pod {
    dir: PathBuf,
    http: SocketAddr,
    admin: SocketAddr,
}

impl Pod {
    fn new() -> Pod {
        let dir = std::env::temp_dir().join(format!("pingress-split-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("manifests")).unwrap();
        let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
        Pod {
            http: addr(free_port()),
            admin: addr(free_port()),
            dir,
        }
    }

    fn socket(&self) -> String {
        self.dir.join("config.sock").to_string_lossy().into_owned()
    }

    fn write(&self, yaml: &str) {
        let tmp = self.dir.join(".web.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.dir.join("manifests/web.yaml")).unwrap();
    }

    fn controller(&self, log: &str) -> ChildGuard {
        let mut command = Command::new(BIN);
        command
            .args(["controller", "--manifests"])
            .arg(self.dir.join("manifests"));
        command.args(["--config-socket", &self.socket()]);
        ChildGuard::spawn(command, &self.dir.join(log)).unwrap()
    }

    fn gateway(&self, log: &str) -> ChildGuard {
        let mut command = Command::new(BIN);
        command.args(["gateway", "--config-socket", &self.socket()]);
        command.arg("--state-dir").arg(self.dir.join("state"));
        command.args(["--listen-http", &self.http.to_string()]);
        command.args(["--listen-https", &format!("127.0.0.1:{}", free_port())]);
        command.args(["--listen-admin", &self.admin.to_string()]);
        command.args([
            "--upgrade-socket",
            &self.dir.join("upgrade.sock").to_string_lossy(),
        ]);
        command.args(["--threads", "1", "--stale-after", "1s"]);
        ChildGuard::spawn(command, &self.dir.join(log)).unwrap()
    }

    fn backend(&self) -> Option<String> {
        get(self.http, "web.test", "/")
            .ok()?
            .backend()
            .map(str::to_string)
    }

    fn metric(&self, name: &str) -> Option<f64> {
        let text = get(self.admin, "admin", "/metrics").ok()?.body;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    fn logs(&self) -> String {
        [
            "controller.log",
            "gateway.log",
            "controller2.log",
            "gateway2.log",
        ]
        .iter()
        .map(|f| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
    }
}

fn manifests(service: &str, backend: &Backend) -> String {
    [
        yaml::service(service, &[backend.addr()]),
        yaml::ingress("web", &[("web.test", &[("/", "Prefix", service)])]),
    ]
    .concat()
}

fn within(what: &str, pod: &Pod, check: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(10), check),
        "{what}; logs:\n{}",
        pod.logs()
    );
}

#[test]
fn the_gateway_follows_its_controller_and_outlives_it() {
    let blue = Backend::start("blue", "127.0.0.2", Behaviour::Echo).unwrap();
    let green = Backend::start("green", "127.0.0.3", Behaviour::Echo).unwrap();
    let pod = Pod::new();
    pod.write(&manifests("blue", &blue));
    let controller = pod.controller("controller.log");
    let mut gateway = pod.gateway("gateway.log");
    within(
        "the gateway serves the controller's configuration",
        &pod,
        || pod.backend().as_deref() == Some("blue"),
    );
    assert_eq!(pod.metric("pingress_config_channel_connected"), Some(1.0));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(pod.socket()).unwrap().permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the socket carries TLS keys: owner-only"
    );

    pod.write(&manifests("green", &green));
    within("a change reaches the gateway", &pod, || {
        pod.backend().as_deref() == Some("green")
    });

    // The controller dies: traffic goes on, the gateway reports the channel as down and,
    // past --stale-after, stops claiming to be ready.
    drop(controller);
    within("the channel is reported down", &pod, || {
        pod.metric("pingress_config_channel_connected") == Some(0.0)
    });
    for _ in 0..10 {
        assert_eq!(pod.backend().as_deref(), Some("green"));
    }
    within("/readyz turns 503 once stale", &pod, || {
        get(pod.admin, "admin", "/readyz")
            .is_ok_and(|r| r.status == 503 && r.body.contains("stale"))
    });

    // The gateway restarts while the controller is still down: it serves the persisted
    // configuration at once.
    drop(gateway);
    gateway = pod.gateway("gateway2.log");
    within(
        "the restarted gateway serves its persisted configuration",
        &pod,
        || pod.backend().as_deref() == Some("green"),
    );
    assert!(gateway.is_running());

    // The controller comes back: the gateway reconnects and follows again.
    let _controller = pod.controller("controller2.log");
    within("the gateway reconnects", &pod, || {
        pod.metric("pingress_config_channel_connected") == Some(1.0)
    });
    pod.write(&manifests("blue", &blue));
    within("changes flow again", &pod, || {
        pod.backend().as_deref() == Some("blue")
    });
    drop(gateway);
    let _ = std::fs::remove_dir_all(Path::new(&pod.dir));
}
