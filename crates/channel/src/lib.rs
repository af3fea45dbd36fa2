//! The config channel between `pingress controller` and `pingress gateway`, two processes of
//! one pod sharing a directory.
//!
//! ```text
//! controller: serve(socket, watch of Arc<Snapshot>)        gateway: follow(socket, watch sender)
//!   listens on a Unix socket (mode 0600)        <-------      connects, reconnecting with backoff
//!   sends the current Snapshot, then each new one  ----->      checks its schema, publishes it to
//!                                                              the gateway, persists it to
//!                                                              --state-dir, acks
//!   reads acknowledgements {"generation": N}       <-----      or refuses it and keeps the last
//!   (logs a warning on {"refused": "why"})                     good one
//! ```
//!
//! Frames and the schema check are in [`wire`]. A Snapshot is always complete, so a gateway that
//! reconnects, or restarts from its persisted state, is never partially configured. Snapshots
//! carry TLS private keys: the socket and the state file are readable by the owner only.

pub mod wire;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use pingress_model::Snapshot;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::wire::{decode, framed, Ack, FramedStream, Refusal};

/// The persisted Snapshot inside `--state-dir`.
const STATE_FILE: &str = "snapshot.json";

/// Controller side: serves every gateway that connects, until the process ends.
pub async fn serve(path: &Path, snapshots: watch::Receiver<Arc<Snapshot>>) -> io::Result<()> {
    let _ = std::fs::remove_file(path); // a socket left by a previous run
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %path.display(), "config channel listening");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(feed(stream, snapshots.clone()));
    }
}

/// Sends one gateway the current Snapshot and every later one; logs its acknowledgements.
async fn feed(stream: UnixStream, mut snapshots: watch::Receiver<Arc<Snapshot>>) {
    tracing::info!("gateway connected to the config channel");
    let mut frames = framed(stream);
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.generation > 0 {
            let body = serde_json::to_vec(&*snapshot).expect("snapshots serialize");
            let ack = match exchange(&mut frames, body).await {
                Ok(ack) => ack,
                Err(e) => {
                    tracing::info!("gateway left the config channel: {e}");
                    return;
                }
            };
            // An acknowledgement changes nothing here: an unreadable one is only reported.
            match serde_json::from_slice(&ack) {
                Ok(Ack {
                    generation,
                    refused: None,
                }) => tracing::debug!(generation, "gateway applied"),
                Ok(Ack {
                    generation,
                    refused: Some(why),
                }) => {
                    let serving = match generation {
                        0 => "it serves no configuration yet".to_string(),
                        kept => format!("it keeps serving generation {kept}"),
                    };
                    tracing::warn!(
                        "a gateway refused configuration generation {}: {why}; {serving}",
                        snapshot.generation
                    );
                }
                Err(e) => tracing::warn!(
                    ack = %String::from_utf8_lossy(&ack),
                    "a gateway acknowledged configuration generation {} with something other than {{\"generation\": N}}: {e}",
                    snapshot.generation
                ),
            }
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

/// Sends one Snapshot body and reads the gateway's acknowledgement of it.
async fn exchange(frames: &mut FramedStream, body: Vec<u8>) -> io::Result<BytesMut> {
    frames.send(Bytes::from(body)).await?;
    frames.next().await.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the gateway closed the connection",
        )
    })?
}

/// What the gateway knows about its channel, for metrics and `/readyz`.
#[derive(Debug, Default)]
pub struct ChannelStatus {
    connected: AtomicBool,
    /// Unix time (s) the channel was last lost; 0 while connected or never connected.
    lost_at: AtomicU64,
    /// Snapshots refused since the process started ([`ChannelStatus::refused`]).
    refused: AtomicU64,
}

impl ChannelStatus {
    /// Whether the gateway is connected to its controller now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// How long the channel has been down; zero while connected.
    pub fn stale_for(&self) -> Duration {
        match self.lost_at.load(Ordering::SeqCst) {
            0 => Duration::ZERO,
            lost => Duration::from_secs(unix_now().saturating_sub(lost)),
        }
    }

    /// How many Snapshots from the controller were refused (another schema, or unreadable)
    /// since the process started.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    fn set(&self, connected: bool) {
        self.connected.store(connected, Ordering::SeqCst);
        self.lost_at
            .store(if connected { 0 } else { unix_now() }, Ordering::SeqCst);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Gateway side: loads the persisted Snapshot (if any, and of this schema) so that traffic is
/// served before the controller is back, then follows the channel until the process ends,
/// reconnecting with backoff (100 ms doubling to 5 s). Every Snapshot received is checked
/// ([`wire::decode`]); one that passes is published to `snapshots`, persisted to `state_dir` and
/// acknowledged, one that does not is logged, counted in `status` and acknowledged as refused,
/// while the last good configuration keeps serving.
pub async fn follow(
    path: PathBuf,
    snapshots: watch::Sender<Arc<Snapshot>>,
    status: Arc<ChannelStatus>,
    state_dir: Option<PathBuf>,
) {
    status.set(false);
    if let Some(snapshot) = state_dir.as_deref().and_then(load_state) {
        tracing::info!(
            generation = snapshot.generation,
            "serving the persisted configuration until the controller answers"
        );
        snapshots.send_replace(Arc::new(snapshot));
    }
    let mut backoff = Duration::from_millis(100);
    loop {
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                status.set(true);
                backoff = Duration::from_millis(100);
                tracing::info!(socket = %path.display(), "config channel connected");
                let e = receive(framed(stream), &snapshots, &status, state_dir.as_deref()).await;
                status.set(false);
                tracing::warn!(
                    "config channel lost ({e}); serving the last configuration, reconnecting"
                );
            }
            Err(e) => {
                tracing::debug!(socket = %path.display(), "config channel not available: {e}")
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Takes or refuses every Snapshot on one connection; returns why the connection ended.
///
/// A refused Snapshot does not end the connection: the controller would only send the same
/// one again on the next connection, and the next Snapshot it sends may well be readable.
/// Only a framing error (which leaves the stream out of step) or the end of the stream does.
async fn receive(
    mut frames: FramedStream,
    snapshots: &watch::Sender<Arc<Snapshot>>,
    status: &ChannelStatus,
    state_dir: Option<&Path>,
) -> io::Error {
    loop {
        let body = match frames.next().await {
            Some(Ok(body)) => body,
            Some(Err(e)) => return e,
            None => {
                return io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the controller closed the connection",
                )
            }
        };
        let ack = match decode(&body) {
            Ok(snapshot) => {
                let generation = snapshot.generation;
                if let Some(dir) = state_dir {
                    if let Err(e) = save_state(dir, &body) {
                        tracing::warn!(dir = %dir.display(), "cannot persist the configuration: {e}");
                    }
                }
                snapshots.send_replace(Arc::new(snapshot));
                Ack {
                    generation,
                    refused: None,
                }
            }
            Err(refusal) => {
                status.refused.fetch_add(1, Ordering::SeqCst);
                let why = match &refusal {
                    Refusal::Schema { .. } => format!(
                        "{refusal}: the controller and gateway containers run different Pingress versions (run the same version in both)"
                    ),
                    Refusal::Malformed(_) => refusal.to_string(),
                };
                let kept = snapshots.borrow().generation;
                let serving = match kept {
                    0 => "no configuration to keep yet".to_string(),
                    kept => format!("keeping generation {kept}"),
                };
                tracing::error!("refusing a configuration from the controller: {why}; {serving}");
                Ack {
                    generation: kept,
                    refused: Some(why),
                }
            }
        };
        let ack = serde_json::to_vec(&ack).expect("acks serialize");
        if let Err(e) = frames.send(Bytes::from(ack)).await {
            return e;
        }
    }
}

/// Writes the Snapshot atomically (a temporary file renamed over the old one), owner-only.
fn save_state(dir: &Path, body: &[u8]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    std::fs::write(&tmp, body)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE))
}

/// The persisted Snapshot, if there is a readable one of this schema. One written by a
/// Pingress of another schema (the gateway before an upgrade) is not served: the gateway waits
/// for its controller instead.
pub fn load_state(dir: &Path) -> Option<Snapshot> {
    let path = dir.join(STATE_FILE);
    let body = std::fs::read(&path).ok()?;
    match decode(&body) {
        Ok(snapshot) => Some(snapshot),
        Err(refusal) => {
            tracing::error!(
                file = %path.display(),
                "not serving the persisted configuration: {refusal}; waiting for the controller"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::{HostMatch, VirtualHost, SCHEMA_VERSION};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn snapshot(generation: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            generation,
            virtual_hosts: vec![VirtualHost {
                host: HostMatch::Exact(format!("g{generation}.test")),
                routes: vec![],
            }],
            ..Snapshot::default()
        })
    }

    /// A fresh directory for one test (the tests of this crate share one process).
    fn temp_dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pingress-channel-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Waits (at most 5 s) until the gateway serves generation `n`.
    async fn wait_for(gateway: &watch::Receiver<Arc<Snapshot>>, n: u64) -> Arc<Snapshot> {
        let mut gateway = gateway.clone();
        let served = tokio::time::timeout(
            Duration::from_secs(5),
            gateway.wait_for(|s| s.generation == n),
        )
        .await
        .expect("in time")
        .expect("channel open")
        .clone();
        served
    }

    /// A gateway following `socket`, with its state in `state`.
    fn gateway(
        socket: &Path,
        state: Option<PathBuf>,
    ) -> (
        watch::Receiver<Arc<Snapshot>>,
        Arc<ChannelStatus>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let status = Arc::new(ChannelStatus::default());
        let task = tokio::spawn(follow(socket.to_path_buf(), tx, status.clone(), state));
        (rx, status, task)
    }

    /// A controller written by hand, to pin the wire format: accepts one gateway on `socket`.
    async fn hand_written_controller(socket: &Path) -> UnixStream {
        let listener = UnixListener::bind(socket).unwrap();
        let (stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the gateway connects in time")
            .unwrap();
        stream
    }

    /// Sends `body` in one frame (4-byte big-endian length, body) and reads the answer.
    async fn send(stream: &mut UnixStream, body: &[u8]) -> Ack {
        let len = u32::try_from(body.len()).unwrap();
        stream.write_all(&len.to_be_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let answer = async {
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).await.unwrap();
            let mut ack = vec![0; u32::from_be_bytes(len) as usize];
            stream.read_exact(&mut ack).await.unwrap();
            ack
        };
        let ack = tokio::time::timeout(Duration::from_secs(5), answer)
            .await
            .expect("an acknowledgement in time");
        serde_json::from_slice(&ack).unwrap()
    }

    #[tokio::test]
    async fn snapshots_flow_are_persisted_and_survive_a_restart() {
        let dir = temp_dir("restart");
        let socket = dir.join("config.sock");
        let state = dir.join("state");

        let (publish, rx) = watch::channel(snapshot(1));
        let server = tokio::spawn({
            let socket = socket.clone();
            async move { serve(&socket, rx).await }
        });
        let (gateway_rx, status, client) = gateway(&socket, Some(state.clone()));
        assert_eq!(
            wait_for(&gateway_rx, 1).await.virtual_hosts,
            snapshot(1).virtual_hosts
        );
        assert!(status.connected());
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the socket is owner-only");
        publish.send_replace(snapshot(2));
        wait_for(&gateway_rx, 2).await;

        // The controller goes away: the gateway keeps its last Snapshot and reports staleness.
        server.abort();
        let _ = server.await;
        std::fs::remove_file(&socket).unwrap();
        client.abort();
        let _ = client.await;
        assert_eq!(load_state(&state).unwrap().generation, 2);
        let mode = std::fs::metadata(state.join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the state file is owner-only");

        // A restarted gateway serves the persisted Snapshot before any controller answers.
        let (restarted, status, client) = gateway(&socket, Some(state.clone()));
        assert_eq!(wait_for(&restarted, 2).await.generation, 2);
        assert!(!status.connected());
        client.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_matching_snapshot_is_published_and_acked() {
        let dir = temp_dir("matching");
        let socket = dir.join("config.sock");
        let state = dir.join("state");
        let (gateway_rx, status, client) = gateway(&socket, Some(state.clone()));
        let mut controller = hand_written_controller(&socket).await;

        let body = serde_json::to_vec(&*snapshot(1)).unwrap();
        let ack = send(&mut controller, &body).await;
        assert_eq!(
            ack,
            Ack {
                generation: 1,
                refused: None
            }
        );
        assert_eq!(*wait_for(&gateway_rx, 1).await, *snapshot(1));
        assert_eq!(load_state(&state).unwrap(), *snapshot(1), "persisted");
        assert_eq!(status.refused(), 0);
        client.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_snapshot_of_another_schema_is_refused_and_the_last_good_one_kept() {
        let dir = temp_dir("refused");
        let socket = dir.join("config.sock");
        let state = dir.join("state");
        let (gateway_rx, status, client) = gateway(&socket, Some(state.clone()));
        let mut controller = hand_written_controller(&socket).await;
        send(&mut controller, &serde_json::to_vec(&*snapshot(1)).unwrap()).await;
        wait_for(&gateway_rx, 1).await;

        // What a controller of the next schema might send: anything after the header may
        // have changed.
        let next = SCHEMA_VERSION + 1;
        let newer =
            format!(r#"{{"schema":{next},"generation":2,"virtual_hosts":{{"renamed":true}}}}"#);
        let ack = send(&mut controller, newer.as_bytes()).await;
        assert_eq!(ack.generation, 1, "the ack names the generation kept");
        let why = ack.refused.expect("the ack says refused");
        assert!(
            why.contains(&format!("schema {next}"))
                && why.contains(&format!("schema {SCHEMA_VERSION}"))
                && why.contains("different Pingress versions"),
            "{why}"
        );
        assert_eq!(gateway_rx.borrow().generation, 1, "not published");
        assert_eq!(load_state(&state).unwrap().generation, 1, "not persisted");
        assert_eq!(status.refused(), 1);

        // The right schema but no Snapshot: refused too, and the connection stays up.
        let broken = format!(r#"{{"schema":{SCHEMA_VERSION},"generation":3}}"#);
        let ack = send(&mut controller, broken.as_bytes()).await;
        assert!(ack.refused.is_some_and(|why| why.contains("virtual_hosts")));
        assert_eq!(status.refused(), 2);

        let ack = send(&mut controller, &serde_json::to_vec(&*snapshot(4)).unwrap()).await;
        assert_eq!(ack.refused, None);
        wait_for(&gateway_rx, 4).await;
        assert!(status.connected(), "one connection throughout");
        client.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_controller_carries_on_after_a_refusal() {
        let dir = temp_dir("carries-on");
        let socket = dir.join("config.sock");
        let newer = Snapshot {
            schema: SCHEMA_VERSION + 1,
            ..(*snapshot(1)).clone()
        };
        let (publish, rx) = watch::channel(Arc::new(newer));
        let server = tokio::spawn({
            let socket = socket.clone();
            async move { serve(&socket, rx).await }
        });
        let (gateway_rx, status, client) = gateway(&socket, None);
        let refused = async {
            while status.refused() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), refused)
            .await
            .expect("refused in time");
        assert_eq!(gateway_rx.borrow().generation, 0, "not published");
        publish.send_replace(snapshot(2));
        wait_for(&gateway_rx, 2).await;
        server.abort();
        client.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_persisted_state_of_another_schema_is_not_served() {
        let dir = temp_dir("state-schema");
        let newer = Snapshot {
            schema: SCHEMA_VERSION + 1,
            ..(*snapshot(9)).clone()
        };
        save_state(&dir, &serde_json::to_vec(&newer).unwrap()).unwrap();
        assert_eq!(load_state(&dir), None);
        save_state(&dir, &serde_json::to_vec(&*snapshot(9)).unwrap()).unwrap();
        assert_eq!(load_state(&dir).unwrap().generation, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
