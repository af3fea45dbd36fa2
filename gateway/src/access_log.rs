//! The access log: one line per request on stdout, as JSON (default) or text.
//!
//! The request path formats its line and hands it to a writer thread over a bounded channel;
//! it never waits for stdout, and never wakes the writer (which drains the queue every 20 ms). When the writer falls behind and the channel is full, the line is
//! dropped and `pingress_access_log_dropped_total` counts it.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::SystemTime;

use prometheus::IntCounter;
use serde::Serialize;

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16_384;

/// `--access-log` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogFormat {
    Off,
    Json,
    Text,
}

/// One request, as logged. Durations are in seconds.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub request_id: &'a str,
    pub client: Option<String>,
    pub method: &'a str,
    pub host: &'a str,
    /// The request path without its query string (queries often carry tokens).
    pub path: &'a str,
    pub protocol: &'static str,
    pub status: u16,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub duration: f64,
    pub upstream_duration: Option<f64>,
    /// `namespace/name` of the Ingress whose rule matched; absent when none did.
    pub ingress: Option<&'a str>,
    /// The rule that matched: host and path, e.g. `shop.example.com Prefix /api`.
    pub route: Option<&'a str>,
    /// The Service and port, e.g. `shop/web:80`.
    pub service: Option<&'a str>,
    pub endpoint: Option<String>,
    pub retries: usize,
    pub tls: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*time))
}

impl Entry<'_> {
    fn text(&self) -> String {
        let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
        format!(
            "{} {} {} \"{} {}{} {}\" {} {} {:.3} {} ingress={} service={} endpoint={} retries={} id={}\n",
            humantime::format_rfc3339_millis(self.time),
            or_dash(self.client.as_deref()),
            or_dash(self.tls),
            self.method,
            self.host,
            self.path,
            self.protocol,
            self.status,
            self.response_bytes,
            self.duration,
            self.upstream_duration
                .map_or("-".to_string(), |d| format!("{d:.3}")),
            or_dash(self.ingress),
            or_dash(self.service),
            or_dash(self.endpoint.as_deref()),
            self.retries,
            self.request_id,
        )
    }
}

/// The request path's handle on the access log.
pub struct AccessLog {
    format: AccessLogFormat,
    queue: Option<SyncSender<String>>,
    dropped: IntCounter,
}

impl AccessLog {
    /// Starts the writer thread (unless `format` is `Off`).
    pub fn start(format: AccessLogFormat, dropped: IntCounter) -> Self {
        let queue = (format != AccessLogFormat::Off).then(|| {
            let (tx, rx) = sync_channel(QUEUE);
            std::thread::Builder::new()
                .name("pingress-access-log".into())
                .spawn(move || write_lines(rx))
                .expect("spawn the access log writer");
            tx
        });
        AccessLog {
            format,
            queue,
            dropped,
        }
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues one line; never blocks.
    pub fn log(&self, entry: &Entry) {
        let Some(queue) = &self.queue else { return };
        let line = match self.format {
            AccessLogFormat::Json => {
                let mut line = serde_json::to_string(entry).expect("entries serialize");
                line.push('\n');
                line
            }
            AccessLogFormat::Text => entry.text(),
            AccessLogFormat::Off => return,
        };
        if let Err(TrySendError::Full(_)) = queue.try_send(line) {
            self.dropped.inc();
        }
    }
}

/// How often the writer wakes to drain the queue. Waking on a timer rather than per line keeps
/// the request path free of wake-up system calls; at the queue's size this drains over 800,000
/// lines a second.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Writes queued lines to stdout in batches until every sender is gone.
fn write_lines(lines: Receiver<String>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    loop {
        std::thread::sleep(DRAIN_EVERY);
        let mut wrote = false;
        loop {
            match lines.try_recv() {
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                    wrote = true;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        if wrote {
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            time: SystemTime::UNIX_EPOCH,
            request_id: "abc",
            client: Some("127.0.0.9:5000".into()),
            method: "GET",
            host: "shop.test",
            path: "/cart",
            protocol: "HTTP/1.1",
            status: 200,
            request_bytes: 0,
            response_bytes: 12,
            duration: 0.0015,
            upstream_duration: Some(0.001),
            ingress: Some("default/shop"),
            route: Some("shop.test Prefix /cart"),
            service: Some("default/web:80"),
            endpoint: Some("127.0.0.2:8080".into()),
            retries: 0,
            tls: Some("TLSv1.3"),
            user_agent: None,
        }
    }

    #[test]
    fn json_lines_carry_every_field() {
        let json: serde_json::Value = serde_json::to_value(entry()).unwrap();
        assert_eq!(json["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["status"], 200);
        assert_eq!(json["ingress"], "default/shop");
        assert_eq!(json["endpoint"], "127.0.0.2:8080");
        assert_eq!(json["upstream_duration"], 0.001);
        assert!(json["user_agent"].is_null());
    }

    #[test]
    fn text_lines_are_one_line() {
        let line = entry().text();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(
            line.contains("\"GET shop.test/cart HTTP/1.1\" 200 12 0.002"),
            "{line}"
        );
    }

    #[test]
    fn a_full_queue_drops_lines_instead_of_blocking() {
        let dropped = IntCounter::new("dropped", "test").unwrap();
        let (tx, _rx) = sync_channel(1);
        let log = AccessLog {
            format: AccessLogFormat::Json,
            queue: Some(tx),
            dropped: dropped.clone(),
        };
        for _ in 0..3 {
            log.log(&entry());
        }
        assert_eq!(dropped.get(), 2);
    }
}
