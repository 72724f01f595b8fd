//! Copying a named volume's data between two Docker engines (or two volumes of one engine) for
//! `bridge move`: a transfer container is created (never started) on each side with the volume
//! mounted at `/bridge-transfer`; the source's files are streamed as a tar from the Engine's
//! archive endpoint (`GET /containers/{id}/archive`) straight into the target's
//! (`PUT /containers/{id}/archive`), so nothing lands on the machine running bridge and no
//! process runs in either container. Both containers are removed afterwards, also on failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, RemoveContainerOptions,
    UploadToContainerOptions,
};
use futures_util::StreamExt;

use super::{api, unreachable_error};
use crate::DriverError;

const AT: &str = "/bridge-transfer";

/// An engine: `DOCKER_HOST` (or the local socket; TLS with DOCKER_TLS_VERIFY) when `host` is
/// None, else that endpoint (`unix:///path`, `tcp://host:port`, `http://host:port`; no TLS),
/// with the API version agreed.
pub async fn engine(host: Option<&str>) -> Result<Docker, DriverError> {
    let shown = host.map(str::to_string).unwrap_or_else(super::default_host);
    let d = match host {
        None => Docker::connect_with_defaults(),
        Some(h) if h.starts_with("unix://") => {
            Docker::connect_with_unix(h, 120, bollard::API_DEFAULT_VERSION)
        }
        Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
            Docker::connect_with_http(
                &h.replacen("tcp://", "http://", 1),
                120,
                bollard::API_DEFAULT_VERSION,
            )
        }
        Some(h) => {
            return Err(unreachable_error(
                h,
                "not an engine endpoint: unix:///path/docker.sock or tcp://host:port",
            ));
        }
    }
    .map_err(|e| unreachable_error(&shown, &e.to_string()))?;
    d.negotiate_version()
        .await
        .map_err(|e| unreachable_error(&shown, &e.to_string()))
}

async fn holder(d: &Docker, volume: &str, image: &str, what: &str) -> Result<String, DriverError> {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["true".into()]),
        labels: Some([("bridge.transfer".to_string(), volume.to_string())].into()),
        host_config: Some(HostConfig {
            mounts: Some(vec![Mount {
                target: Some(AT.into()),
                source: Some(volume.into()),
                typ: Some(MountType::VOLUME),
                ..Mount::default()
            }]),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    d.create_container(None::<CreateContainerOptions>, body)
        .await
        .map(|r| r.id)
        .map_err(|e| {
            api(&format!("volume/{volume}"), e).with_hint(format!(
                "the {what} transfer container uses the image {image}: it must be on that engine"
            ))
        })
}

async fn remove(d: &Docker, id: &str) {
    let _ = d
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await;
}

/// Copy the files of volume `from` on engine `src` into volume `to` on engine `dst` (which
/// must exist; files there with the same path are overwritten). `image` is any image both
/// engines hold (the containers are never started). Returns the bytes of tar streamed.
pub async fn copy_volume(
    src: &Docker,
    from: &str,
    dst: &Docker,
    to: &str,
    image: &str,
) -> Result<u64, DriverError> {
    let a = holder(src, from, image, "source").await?;
    let b = match holder(dst, to, image, "target").await {
        Ok(b) => b,
        Err(e) => {
            remove(src, &a).await;
            return Err(e);
        }
    };
    let sent = Arc::new(AtomicU64::new(0));
    let (n, vol) = (sent.clone(), from.to_string());
    // The engine's tar names the entries `bridge-transfer/...`: the target extracts them at
    // `/`, into its own mount of the volume at the same path. A read error on the source ends
    // the upload with that error.
    let tar = src
        .download_from_container(&a, Some(DownloadFromContainerOptions { path: AT.into() }))
        .map(move |r| {
            r.inspect(|b| {
                n.fetch_add(b.len() as u64, Ordering::Relaxed);
            })
            .map_err(|e| std::io::Error::other(format!("reading volume {vol}: {e}")))
        });
    let up = dst
        .upload_to_container(
            &b,
            Some(UploadToContainerOptions {
                path: "/".into(),
                ..UploadToContainerOptions::default()
            }),
            bollard::body_try_stream(tar),
        )
        .await;
    remove(src, &a).await;
    remove(dst, &b).await;
    up.map_err(|e| api(&format!("volume/{to}"), e))?;
    Ok(sent.load(Ordering::Relaxed))
}
