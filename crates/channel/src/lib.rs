//! The config channel between `pingress controller` and `pingress gateway`, two processes of
//! one pod sharing a directory.
//!
//! ```text
//! controller: serve(socket, watch of Arc<Snapshot>)        gateway: follow(socket, watch sender)
//!   listens on a Unix socket (mode 0600)        <-------      connects, reconnecting with backoff
//!   sends the current Snapshot, then each new one  ----->      publishes it to the gateway,
//!   reads acknowledgements {"generation": N}       <-----      persists it to --state-dir, acks
//! ```
//!
//! Frames are a 4-byte big-endian length and a JSON body. A Snapshot is always complete, so a
//! gateway that reconnects, or restarts from its persisted state, is never partially
//! configured. Snapshots carry TLS private keys: the socket and the state file are readable by
//! the owner only.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pingress_model::Snapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Largest frame accepted (a Snapshot of tens of thousands of Ingresses is far smaller).
const MAX_FRAME: u32 = 512 * 1024 * 1024;
/// The persisted Snapshot inside `--state-dir`.
const STATE_FILE: &str = "snapshot.json";

async fn write_frame(stream: &mut UnixStream, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

async fn read_frame(stream: &mut UnixStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut body = vec![0; len as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

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
async fn feed(mut stream: UnixStream, mut snapshots: watch::Receiver<Arc<Snapshot>>) {
    tracing::info!("gateway connected to the config channel");
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.generation > 0 {
            let body = serde_json::to_vec(&*snapshot).expect("snapshots serialize");
            let sent = write_frame(&mut stream, &body).await;
            let acked = match sent {
                Ok(()) => read_frame(&mut stream).await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(ack) => tracing::debug!(ack = %String::from_utf8_lossy(&ack), "gateway applied"),
                Err(e) => {
                    tracing::info!("gateway left the config channel: {e}");
                    return;
                }
            }
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

/// What the gateway knows about its channel, for metrics and `/readyz`.
#[derive(Debug, Default)]
pub struct ChannelStatus {
    connected: AtomicBool,
    /// Unix time (s) the channel was last lost; 0 while connected or never connected.
    lost_at: AtomicU64,
}

impl ChannelStatus {
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

/// Gateway side: loads the persisted Snapshot (if any) so that traffic is served before the
/// controller is back, then follows the channel until the process ends, reconnecting with
/// backoff (100 ms doubling to 5 s). Every Snapshot received is published to `snapshots`,
/// persisted to `state_dir`, and acknowledged.
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
                let e = receive(stream, &snapshots, state_dir.as_deref()).await;
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

async fn receive(
    mut stream: UnixStream,
    snapshots: &watch::Sender<Arc<Snapshot>>,
    state_dir: Option<&Path>,
) -> io::Error {
    loop {
        let body = match read_frame(&mut stream).await {
            Ok(body) => body,
            Err(e) => return e,
        };
        let snapshot: Snapshot = match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return io::Error::new(io::ErrorKind::InvalidData, e),
        };
        let generation = snapshot.generation;
        if let Some(dir) = state_dir {
            if let Err(e) = save_state(dir, &body) {
                tracing::warn!(dir = %dir.display(), "cannot persist the configuration: {e}");
            }
        }
        snapshots.send_replace(Arc::new(snapshot));
        let ack = format!("{{\"generation\":{generation}}}");
        if let Err(e) = write_frame(&mut stream, ack.as_bytes()).await {
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

/// The persisted Snapshot, if there is a readable one.
pub fn load_state(dir: &Path) -> Option<Snapshot> {
    let path = dir.join(STATE_FILE);
    let body = std::fs::read(&path).ok()?;
    match serde_json::from_slice(&body) {
        Ok(snapshot) => Some(snapshot),
        Err(e) => {
            tracing::warn!(file = %path.display(), "ignoring an unreadable persisted configuration: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingress_model::{HostMatch, VirtualHost};

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

    #[tokio::test]
    async fn snapshots_flow_are_persisted_and_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("pingress-channel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("config.sock");
        let state = dir.join("state");

        let (publish, rx) = watch::channel(snapshot(1));
        let server = tokio::spawn({
            let socket = socket.clone();
            async move { serve(&socket, rx).await }
        });
        let (tx, mut gateway) = watch::channel(Arc::new(Snapshot::default()));
        let status = Arc::new(ChannelStatus::default());
        let client = tokio::spawn(follow(
            socket.clone(),
            tx,
            status.clone(),
            Some(state.clone()),
        ));

        let wait = |gateway: &mut watch::Receiver<Arc<Snapshot>>, n: u64| {
            let mut gateway = gateway.clone();
            async move {
                tokio::time::timeout(
                    Duration::from_secs(5),
                    gateway.wait_for(|s| s.generation == n),
                )
                .await
                .expect("in time")
                .expect("channel open")
                .clone()
            }
        };
        assert_eq!(
            wait(&mut gateway, 1).await.virtual_hosts,
            snapshot(1).virtual_hosts
        );
        assert!(status.connected());
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the socket is owner-only");
        publish.send_replace(snapshot(2));
        wait(&mut gateway, 2).await;

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
        let (tx, restarted) = watch::channel(Arc::new(Snapshot::default()));
        let status = Arc::new(ChannelStatus::default());
        let client = tokio::spawn(follow(
            socket.clone(),
            tx,
            status.clone(),
            Some(state.clone()),
        ));
        let mut restarted2 = restarted.clone();
        assert_eq!(wait(&mut restarted2, 2).await.generation, 2);
        assert!(!status.connected());
        client.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
