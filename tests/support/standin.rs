//! A stand-in for a GCE VM on the machine's Docker Engine (gce_health_report, gce_boot_secrets):
//! a scratch directory for the scripts the VM's units run and their logs, the VM's own docker
//! network and the name of the container its scripts start. On drop: the scripts' processes are
//! killed, the container and the network removed, what the scripts mounted under the directory
//! unmounted, and the directory removed.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::engine::ensure_test_image;
use super::peers;

/// `docker ARGS...`: whether it succeeded, and its stdout (its status and both outputs where
/// it failed).
pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        peers::text(&out)
    };
    (out.status.success(), text)
}

/// The stand-in VM.
pub struct StandinVm {
    /// The scratch directory.
    pub dir: PathBuf,
    /// Its docker network (the scripts' `--network APP-net` is to be replaced by it).
    pub net: String,
    /// The container its scripts start.
    pub container: String,
    children: Vec<Child>,
    mounts: Vec<PathBuf>,
}

impl StandinVm {
    /// A fresh directory `bridge-<dir>` in the temp dir and a fresh docker network `net` (both
    /// made again where a run before left them), for the container `container` (removed first
    /// where it is left over).
    pub fn new(dir: &str, net: &str, container: &str) -> StandinVm {
        ensure_test_image();
        let dir = std::env::temp_dir().join(format!("bridge-{dir}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let _ = docker(&["network", "rm", net]);
        let (ok, out) = docker(&["network", "create", net]);
        assert!(ok, "network create {net}: {out}");
        let _ = docker(&["rm", "-f", container]);
        StandinVm {
            dir,
            net: net.to_string(),
            container: container.to_string(),
            children: Vec::new(),
            mounts: Vec::new(),
        }
    }

    /// Run `script` (as its unit would: `sh`, stdin /dev/null) in the background, its output in
    /// `<name>.log`, with `env` set.
    pub fn spawn(&mut self, name: &str, script: &str, env: &[(&str, String)]) {
        let f = self.dir.join(format!("{name}.sh"));
        std::fs::write(&f, script).unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut c = Command::new("sh");
        c.arg(&f).stdin(Stdio::null()).stdout(log).stderr(err);
        for (k, v) in env {
            c.env(k, v);
        }
        self.children.push(
            c.spawn()
                .unwrap_or_else(|e| panic!("cannot run {name}: {e}")),
        );
    }

    /// What the script `name` printed so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Wait (60 s at most) until the container runs; the script `name` (`script`) started it.
    pub fn wait_running(&self, name: &str, script: &str) {
        let end = Instant::now() + Duration::from_secs(60);
        while docker(&["inspect", "-f", "{{.State.Running}}", &self.container])
            .1
            .trim()
            != "true"
        {
            assert!(
                Instant::now() < end,
                "{} does not run: {}\n{script}",
                self.container,
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `path` (under the directory) may be a mount point a script made: unmounted on drop.
    pub fn unmount_on_drop(&mut self, path: PathBuf) {
        self.mounts.push(path);
    }
}

impl Drop for StandinVm {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = docker(&["network", "rm", &self.net]);
        for m in &self.mounts {
            while Command::new("mountpoint")
                .arg("-q")
                .arg(m)
                .status()
                .is_ok_and(|st| st.success())
            {
                if !Command::new("umount")
                    .arg(m)
                    .status()
                    .is_ok_and(|st| st.success())
                {
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
