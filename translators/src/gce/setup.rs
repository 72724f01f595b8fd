//! The host's boot-time setup, run by the systemd oneshot `bridge-setup.service` before any
//! container (each container unit gets a drop-in that requires it): mount the persistent disks
//! (formatting a blank one), then fetch secrets and configs from Secret Manager into
//! [`SECRETS_DIR`] and [`CONFIGS_DIR`].
//!
//! Fetching uses the metadata server's token for the VM's service account and `curl` (both on
//! Container-Optimized OS); the Secret Manager URL is generated here and only requested on the
//! VM, never by bridge. The metadata server is `metadata.google.internal` unless
//! `GCE_METADATA_HOST` names another (as Google's client libraries read it), and Secret Manager
//! is `https://secretmanager.googleapis.com/v1/` unless `BRIDGE_GCE_SECRETS_ENDPOINT` names
//! another (the variable the driver reads too): neither is set on a VM, so the script a VM runs
//! is the rendered one, and a test points both at its own servers. The values exist only on the VM: in a tmpfs, mode 0400 unless the
//! reference sets `mode`, owned by root unless it sets `uid`/`gid`. Every word that comes from
//! the app is quoted with [`shell::quote`]; the unit itself names only the script.

use bridge_core::shell;

use crate::cloudinit::{SCRIPTS_DIR, SECRETS_DIR};

/// Where configs are put (the shared cloud-init generator mounts them from here).
pub const CONFIGS_DIR: &str = "/etc/bridge/configs";
/// Where persistent disks are mounted: `/mnt/disks/<volume>` (writable on Container-Optimized OS).
pub const DISKS_DIR: &str = "/mnt/disks";
/// The setup unit's name (the shared container units order themselves after it).
pub const UNIT: &str = "bridge-setup.service";

/// A persistent disk to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskMount {
    /// The attached disk's device name (`/dev/disk/by-id/google-<device>`).
    pub device: String,
    /// The mount point.
    pub path: String,
}

/// A Secret Manager secret to write to a file on the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The secret id in Secret Manager.
    pub secret_id: String,
    /// The file written.
    pub path: String,
    /// Write `VAR=value` (a docker `--env-file`) instead of the raw value.
    pub env_var: Option<String>,
    /// Owner uid.
    pub uid: Option<String>,
    /// Owner gid.
    pub gid: Option<String>,
    /// File mode (default 0400).
    pub mode: Option<u32>,
}

/// A file written by cloud-init whose owner or mode the setup sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chown {
    /// The file.
    pub path: String,
    /// Owner uid.
    pub uid: Option<String>,
    /// Owner gid.
    pub gid: Option<String>,
    /// File mode.
    pub mode: Option<u32>,
}

/// What one host prepares at boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// The project for Secret Manager; None: the VM's own project, from the metadata server.
    pub project: Option<String>,
    /// Disks to mount.
    pub disks: Vec<DiskMount>,
    /// Secrets and configs to fetch.
    pub fetches: Vec<Fetch>,
    /// Owner and mode of files cloud-init wrote.
    pub chowns: Vec<Chown>,
}

impl Setup {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.disks.is_empty() && self.fetches.is_empty() && self.chowns.is_empty()
    }
}

fn q(s: &str) -> String {
    shell::quote(s)
}

fn owner_lines(out: &mut String, path: &str, uid: &Option<String>, gid: &Option<String>) {
    match (uid, gid) {
        (Some(u), Some(g)) => {
            out.push_str(&format!("chown {} {}\n", q(&format!("{u}:{g}")), q(path)))
        }
        (Some(u), None) => out.push_str(&format!("chown {} {}\n", q(u), q(path))),
        (None, Some(g)) => out.push_str(&format!("chgrp {} {}\n", q(g), q(path))),
        (None, None) => {}
    }
}

/// The setup script (POSIX `sh`).
pub fn script(s: &Setup) -> String {
    let mut o = String::from(
        "#!/bin/sh\n# written by bridge: prepares this host before its containers start\nset -eu\n",
    );
    for d in &s.disks {
        let dev = format!("/dev/disk/by-id/google-{}", d.device);
        o.push_str(&format!(
            "# persistent disk {dev}: formatted only when blank\n\
             dev={dev}\n\
             blkid \"$dev\" >/dev/null 2>&1 || mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard \"$dev\"\n\
             mkdir -p {mnt}\n\
             mountpoint -q {mnt} || mount -o discard,defaults \"$dev\" {mnt}\n",
            dev = q(&dev),
            mnt = q(&d.path),
        ));
    }
    if !s.fetches.is_empty() {
        o.push_str(&format!(
            "# secrets live in memory only\n\
             umask 077\n\
             mkdir -p {sec} {cfg}\n\
             mountpoint -q {sec} || mount -t tmpfs -o size=16m,mode=0700 tmpfs {sec}\n\
             md=\"http://${{GCE_METADATA_HOST:-metadata.google.internal}}/computeMetadata/v1\"\n\
             sm=\"${{BRIDGE_GCE_SECRETS_ENDPOINT:-https://secretmanager.googleapis.com/v1/}}\"\n\
             token=$(curl -sSf -H 'Metadata-Flavor: Google' \"$md/instance/service-accounts/default/token\" | sed -n 's/.*\"access_token\" *: *\"\\([^\"]*\\)\".*/\\1/p')\n\
             [ -n \"$token\" ] || {{ echo 'bridge: no access token from the metadata server' >&2; exit 1; }}\n",
            sec = q(SECRETS_DIR),
            cfg = q(CONFIGS_DIR),
        ));
        match &s.project {
            Some(p) => o.push_str(&format!("project={}\n", q(p))),
            None => o.push_str(
                "project=$(curl -sSf -H 'Metadata-Flavor: Google' \"$md/project/project-id\")\n",
            ),
        }
        o.push_str(
            "nl='\n'\n\
             # fetch SECRET_ID: the latest version's payload, still base64, in $data\n\
             fetch() {\n\
             \tresp=$(curl -sSf -H \"Authorization: Bearer $token\" \"${sm%/}/projects/$project/secrets/$1/versions/latest:access\") || { echo \"bridge: cannot read secret $1\" >&2; exit 1; }\n\
             \tdata=$(printf '%s' \"$resp\" | tr -d ' \\n' | sed -n 's/.*\"data\":\"\\([^\"]*\\)\".*/\\1/p')\n\
             }\n",
        );
        for f in &s.fetches {
            o.push_str(&format!("fetch {}\n", q(&f.secret_id)));
            let tmp = format!("{}.tmp", f.path);
            match &f.env_var {
                Some(var) => o.push_str(&format!(
                    "val=$(printf '%s' \"$data\" | base64 -d)\n\
                     case \"$val\" in *\"$nl\"*) echo {msg} >&2; exit 1;; esac\n\
                     printf '%s=%s\\n' {var} \"$val\" > {tmp}\n",
                    msg = q(&format!(
                        "bridge: secret {} holds a line break, which docker --env-file cannot carry",
                        f.secret_id
                    )),
                    var = q(var),
                    tmp = q(&tmp),
                )),
                None => o.push_str(&format!(
                    "printf '%s' \"$data\" | base64 -d > {}\n",
                    q(&tmp)
                )),
            }
            o.push_str(&format!(
                "chmod {:04o} {}\n",
                f.mode.unwrap_or(0o400),
                q(&tmp)
            ));
            owner_lines(&mut o, &tmp, &f.uid, &f.gid);
            o.push_str(&format!("mv -f {} {}\n", q(&tmp), q(&f.path)));
        }
        o.push_str("unset token data val resp\n");
    }
    for c in &s.chowns {
        if let Some(m) = c.mode {
            o.push_str(&format!("chmod {m:04o} {}\n", q(&c.path)));
        }
        owner_lines(&mut o, &c.path, &c.uid, &c.gid);
    }
    o
}

/// The oneshot unit that runs the script once per boot, before the containers.
pub fn unit() -> String {
    format!(
        "[Unit]\nDescription=bridge host setup: disks, secrets, configs\n\
         After=network-online.target\nWants=network-online.target\n\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh {SCRIPTS_DIR}/setup.sh\n"
    )
}

/// The drop-in that makes a container unit require the setup (so a failed secret fetch keeps the
/// container from starting without its secrets).
pub fn drop_in() -> String {
    format!("[Unit]\nRequires={UNIT}\nAfter={UNIT}\n")
}

/// The health reporter's unit (started by a drop-in of every container unit on the host).
pub const HEALTH_UNIT: &str = "bridge-health.service";

/// The health reporter (POSIX `sh`, a loop): every 10 s it reads docker's health of the host's
/// checked containers and, when it changed, writes it to the guest attributes
/// `bridge/health` (`healthy`, `starting` or `unhealthy`) and `bridge/output` (the failing
/// container and its last check output) through the metadata server, which the GCE driver reads
/// with `instances.getGuestAttributes`. Writing only on change keeps under the metadata server's
/// limit of 10 guest-attribute queries a minute. `GCE_METADATA_HOST` names another metadata
/// server, as for the boot script (a test's stand-in VM).
pub fn health_script(containers: &[String]) -> String {
    let mut o = String::from(
        "#!/bin/sh\n# written by bridge: reports the health of this host's containers to its guest attributes\n\
         ga=\"http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1/instance/guest-attributes/bridge\"\n\
         put() { curl -sS -X PUT -H 'Metadata-Flavor: Google' --data-binary \"$2\" \"$ga/$1\" >/dev/null; }\n\
         last=\n\
         while :; do\n\
         \tstate=healthy out=\n\
         \tfor c in",
    );
    for c in containers {
        o.push(' ');
        o.push_str(&q(c));
    }
    o.push_str(
        "; do\n\
         \t\ts=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' \"$c\" 2>/dev/null) || s=missing\n\
         \t\tcase \"$s\" in\n\
         \t\thealthy) ;;\n\
         \t\tstarting|created) [ \"$state\" = unhealthy ] || { state=starting; out=\"$c: $s\"; } ;;\n\
         \t\t*) state=unhealthy\n\
         \t\t\tout=\"$c: $s: $(docker inspect --format '{{$o := \"\"}}{{if .State.Health}}{{range .State.Health.Log}}{{$o = .Output}}{{end}}{{end}}{{printf \"%q\" $o}}' \"$c\" 2>/dev/null)\" ;;\n\
         \t\tesac\n\
         \tdone\n\
         \tif [ \"$state $out\" != \"$last\" ]; then\n\
         \t\tput output \"$out\" && put health \"$state\" && last=\"$state $out\"\n\
         \tfi\n\
         \tsleep 10\n\
         done\n",
    );
    o
}

/// The reporter's unit: restarted when it stops.
pub fn health_unit() -> String {
    format!(
        "[Unit]\nDescription=bridge health reporter: container health to guest attributes\n\
         After=docker.service\n\n\
         [Service]\nExecStart=/bin/sh {SCRIPTS_DIR}/health.sh\nRestart=always\nRestartSec=5\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_and_orders() {
        let s = Setup {
            project: Some("my-proj".into()),
            disks: vec![DiskMount {
                device: "shop-data".into(),
                path: "/mnt/disks/data".into(),
            }],
            fetches: vec![
                Fetch {
                    secret_id: "shop-db_password".into(),
                    path: format!("{SECRETS_DIR}/db_password.env"),
                    env_var: Some("DB_PASSWORD".into()),
                    uid: None,
                    gid: None,
                    mode: None,
                },
                Fetch {
                    secret_id: "shop-key".into(),
                    path: format!("{SECRETS_DIR}/key"),
                    env_var: None,
                    uid: Some("1000".into()),
                    gid: Some("1000".into()),
                    mode: Some(0o440),
                },
            ],
            chowns: vec![],
        };
        let t = script(&s);
        assert!(t.contains("dev=/dev/disk/by-id/google-shop-data\n"));
        assert!(t.contains("mount -o discard,defaults \"$dev\" /mnt/disks/data"));
        assert!(t.contains("project=my-proj\n"));
        assert!(t.contains("fetch shop-db_password\n"));
        assert!(t.contains(
            "printf '%s=%s\\n' DB_PASSWORD \"$val\" > /run/bridge/secrets/db_password.env.tmp"
        ));
        assert!(t.contains("chmod 0400 /run/bridge/secrets/db_password.env.tmp"));
        assert!(t.contains(
            "chmod 0440 /run/bridge/secrets/key.tmp\nchown 1000:1000 /run/bridge/secrets/key.tmp\n"
        ));
        assert!(t.find("mkfs.ext4").unwrap_or(usize::MAX) < t.find("fetch shop-key").unwrap_or(0));
        // No project: read from the metadata server.
        let t = script(&Setup {
            project: None,
            ..s.clone()
        });
        assert!(t.contains("$md/project/project-id"));
        assert!(unit().contains("ExecStart=/bin/sh /etc/bridge/setup.sh\n"));
    }
}
