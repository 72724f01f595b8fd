//! A second, real Docker Engine for the tests that move an app between two engines: `dockerd`
//! in a network namespace of its own (`unshare --net`, its loopback brought up), with its own
//! socket, data root, exec root and pid file under a fresh directory and its own config file
//! (the machine's /etc/docker/daemon.json sets `data-root`, which may not be given twice), no
//! bridge network and no iptables rules. The namespace matters: `--bridge none` makes dockerd
//! delete the `docker0` interface of the namespace it runs in, and its swarm would share the
//! machine's `docker_gwbridge`; in its own namespace it leaves the machine's engine and network
//! alone. It is made a single-node swarm manager on 127.0.0.2 (its loopback) with its own
//! ports; the test image is loaded into it from the machine's engine (`docker save | docker
//! load`, over its unix socket). Stopped (TERM, then KILL) and its directory removed on drop.
//! An engine that does not start fails the test with its log.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The second engine.
pub struct Engine2 {
    child: Child,
    dir: PathBuf,
    /// `unix:///.../docker.sock`.
    pub endpoint: String,
    /// The swarm's node address (what the Swarm driver reports as services' public address).
    pub node_addr: String,
}

impl Engine2 {
    /// Start it, wait (60 s at most) until it answers, init its swarm, load `image`.
    pub fn start(name: &str, image: &str) -> Engine2 {
        let dir = PathBuf::from(format!("/tmp/bridge-d2-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let storage = Command::new("docker")
            .args(["info", "--format", "{{.Driver}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let conf = dir.join("daemon.json");
        let mut c = serde_json::json!({"log-driver": "json-file"});
        if !storage.is_empty() {
            c["storage-driver"] = storage.into();
        }
        std::fs::write(&conf, c.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let sock = dir.join("docker.sock");
        let endpoint = format!("unix://{}", sock.display());
        let log = dir.join("dockerd.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        // `exec`: the child's pid is dockerd's.
        let child = Command::new("unshare")
            .args(["--net", "sh", "-c"])
            .arg(r#"ip link set lo up && exec dockerd "$@""#)
            .arg("dockerd")
            .arg("--config-file")
            .arg(&conf)
            .arg("--host")
            .arg(&endpoint)
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dockerd in a new network namespace (unshare --net): {e}")
            });
        let mut e = Engine2 {
            child,
            dir,
            endpoint,
            node_addr: "127.0.0.2".into(),
        };
        let start = Instant::now();
        loop {
            if e.docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                break;
            }
            if let Ok(Some(status)) = e.child.try_wait() {
                panic!("dockerd exited ({status}); its log:\n{}", e.log());
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "the second dockerd did not answer within 60 s; its log:\n{}",
                    e.log()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        // Its own namespace: every port is free there.
        let listen = format!("{}:2377", e.node_addr);
        let data_port = "4789".to_string();
        let o = e.docker(&[
            "swarm",
            "init",
            "--advertise-addr",
            &e.node_addr.clone(),
            "--listen-addr",
            &listen,
            "--data-path-port",
            &data_port,
        ]);
        assert!(
            o.status.success(),
            "swarm init on the second engine: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            e.log()
        );
        // The image, from the machine's engine.
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|x| panic!("docker save: {x}"));
        let load = Command::new("docker")
            .args(["-H", &e.endpoint, "load"])
            .stdin(save.stdout.take().unwrap_or_else(|| panic!("no stdout")))
            .output()
            .unwrap_or_else(|x| panic!("docker load: {x}"));
        let saved = save.wait().unwrap_or_else(|x| panic!("docker save: {x}"));
        assert!(saved.success(), "docker save {image}: {saved}");
        assert!(
            load.status.success(),
            "loading {image} into the second engine: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        e
    }

    /// `docker -H <this engine> args...`.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["-H", &self.endpoint])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// The names of the objects of `kind` (`service`, `volume`, `secret`, `network`) labelled
    /// `bridge.app=<app>` on this engine.
    pub fn labelled(&self, kind: &str, app: &str) -> Vec<String> {
        let o = self.docker(&[
            kind,
            "ls",
            "--filter",
            &format!("label=bridge.app={app}"),
            "--format",
            "{{.Name}}",
        ]);
        assert!(
            o.status.success(),
            "{kind} ls: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Engine2 {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its containerd shim mounts, then its files.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.dir.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
