//! The access log: one line per request on stdout, as JSON (default) or text.
//!
//! The request path formats its line into a scratch buffer of its thread, then appends it to
//! one shared buffer under a mutex held only for the copy (so lines keep the order in which
//! requests finished, across threads). It never waits for stdout, never allocates once the
//! buffers have grown, and never wakes the writer: the writer swaps the shared buffer out every
//! 20 ms. When it holds more than [`MAX_PENDING`] bytes (the writer fell behind), the line is
//! dropped and `pingress_access_log_dropped_total` counts it.
//!
//! The JSON line is written by hand (the fields are fixed): it was `serde_json`'s map
//! serializer into a fresh `String` per line, a sixth of what Pingress adds to a request
//! (docs/performance.md, "Where the time goes").

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use prometheus::IntCounter;
use serde::Serialize;

/// Bytes the buffer may hold between two drains before lines are dropped (about 18,000
/// lines; the writer drains every 20 ms).
const MAX_PENDING: usize = 8 << 20;

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
    /// The connecting client's address and port.
    pub client: Option<SocketAddr>,
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
    /// The upstream endpoint that answered (the last one tried).
    pub endpoint: Option<SocketAddr>,
    pub retries: usize,
    pub tls: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*time))
}

impl Entry<'_> {
    /// Appends the JSON line (with its newline) to `out`: the same object `serde_json` makes
    /// of an `Entry` (the tests compare the two).
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut obj = JsonObject::new(out);
        obj.key("time");
        write_time(obj.out, self.time);
        obj.str("request_id", Some(self.request_id));
        obj.addr("client", self.client);
        obj.str("method", Some(self.method));
        obj.str("host", Some(self.host));
        obj.str("path", Some(self.path));
        obj.str("protocol", Some(self.protocol));
        obj.uint("status", self.status.into());
        obj.uint("request_bytes", self.request_bytes as u64);
        obj.uint("response_bytes", self.response_bytes as u64);
        obj.float("duration", Some(self.duration));
        obj.float("upstream_duration", self.upstream_duration);
        obj.str("ingress", self.ingress);
        obj.str("route", self.route);
        obj.str("service", self.service);
        obj.addr("endpoint", self.endpoint);
        obj.uint("retries", self.retries as u64);
        obj.str("tls", self.tls);
        obj.str("user_agent", self.user_agent);
        obj.out.extend_from_slice(b"}\n");
    }

    fn write_text(&self, out: &mut Vec<u8>) {
        fn or_dash(v: Option<&str>) -> &str {
            v.unwrap_or("-")
        }
        let _ = write!(out, "{} ", humantime::format_rfc3339_millis(self.time));
        write_addr_or_dash(out, self.client);
        let _ = write!(
            out,
            " {} \"{} {}{} {}\" {} {} {:.3} ",
            or_dash(self.tls),
            self.method,
            self.host,
            self.path,
            self.protocol,
            self.status,
            self.response_bytes,
            self.duration,
        );
        let _ = match self.upstream_duration {
            Some(d) => write!(out, "{d:.3}"),
            None => write!(out, "-"),
        };
        let _ = write!(
            out,
            " ingress={} service={} endpoint=",
            or_dash(self.ingress),
            or_dash(self.service),
        );
        write_addr_or_dash(out, self.endpoint);
        let _ = writeln!(out, " retries={} id={}", self.retries, self.request_id);
    }

    #[cfg(test)]
    fn text(&self) -> String {
        let mut out = Vec::new();
        self.write_text(&mut out);
        String::from_utf8(out).expect("UTF-8")
    }
}

/// Appends `time` as a JSON string, RFC 3339 in UTC with milliseconds (what
/// `humantime::format_rfc3339_millis` writes). The date and time up to the second are
/// formatted once per second per thread.
fn write_time(out: &mut Vec<u8>, time: SystemTime) {
    thread_local! {
        /// The last second formatted: `YYYY-MM-DDTHH:MM:SS.`.
        static SECOND: RefCell<Option<(u64, [u8; 20])>> = const { RefCell::new(None) };
    }
    let Ok(since) = time.duration_since(std::time::UNIX_EPOCH) else {
        let _ = write!(out, "\"{}\"", humantime::format_rfc3339_millis(time));
        return;
    };
    let secs = since.as_secs();
    let prefix = SECOND.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((cached, prefix)) = *cache {
            if cached == secs {
                return Some(prefix);
            }
        }
        let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let text = humantime::format_rfc3339_millis(whole).to_string();
        // `YYYY-MM-DDTHH:MM:SS.000Z`; years past 9999 are longer and not cached.
        let prefix: [u8; 20] = text.as_bytes().get(..20)?.try_into().ok()?;
        (text.len() == 24).then(|| {
            *cache = Some((secs, prefix));
            prefix
        })
    });
    let Some(prefix) = prefix else {
        let _ = write!(out, "\"{}\"", humantime::format_rfc3339_millis(time));
        return;
    };
    let millis = since.subsec_millis();
    out.push(b'"');
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&[
        b'0' + (millis / 100) as u8,
        b'0' + (millis / 10 % 10) as u8,
        b'0' + (millis % 10) as u8,
        b'Z',
        b'"',
    ]);
}

/// Appends `value` in decimal, without the formatting machinery.
fn write_uint(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `addr` as `Display` writes it; an IPv4 address (nearly every line) without the
/// formatting machinery, which cost more than the rest of the line's fields together.
fn write_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                write_uint(out, octet.into());
            }
            out.push(b':');
            write_uint(out, v4.port().into());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

fn write_addr_or_dash(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
    match addr {
        Some(addr) => write_addr(out, addr),
        None => out.push(b'-'),
    }
}

/// Writes the members of one JSON object.
struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(v) => json_string(self.out, v),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    /// An unsigned integer, without the formatting machinery.
    fn uint(&mut self, key: &str, value: u64) {
        self.key(key);
        write_uint(self.out, value);
    }

    /// A socket address as a string (`"127.0.0.1:8080"`, `"[::1]:8080"`), or `null`.
    fn addr(&mut self, key: &str, value: Option<SocketAddr>) {
        self.key(key);
        match value {
            Some(addr) => {
                self.out.push(b'"');
                write_addr(self.out, addr);
                self.out.push(b'"');
            }
            None => self.out.extend_from_slice(b"null"),
        }
    }

    /// A number as `serde_json` writes it: the shortest form that reads back the same; `null`
    /// when not finite.
    fn float(&mut self, key: &str, value: Option<f64>) {
        self.key(key);
        match value {
            Some(v) if v.is_finite() => {
                let _ = write!(self.out, "{v:?}");
            }
            _ => self.out.extend_from_slice(b"null"),
        }
    }
}

/// Appends `s` as a JSON string: quote and backslash escaped, control characters as `\n`,
/// `\t`, ... or `\u00XX`, everything else (UTF-8 included) as is, like `serde_json`.
fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // The common case, nothing to escape: one pass the compiler vectorises, one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// What the request path and the writer share: the lines not written yet.
struct Shared {
    pending: Mutex<Vec<u8>>,
}

thread_local! {
    /// Where this thread formats a line before appending it to [`Shared::pending`].
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The request path's handle on the access log.
pub struct AccessLog {
    format: AccessLogFormat,
    shared: Option<Arc<Shared>>,
    dropped: IntCounter,
    max_pending: usize,
}

impl AccessLog {
    /// Starts the writer thread (unless `format` is `Off`).
    pub fn start(format: AccessLogFormat, dropped: IntCounter) -> Self {
        let log = Self::unstarted(format, dropped, MAX_PENDING);
        if let Some(shared) = &log.shared {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("pingress-access-log".into())
                .spawn(move || write_lines(shared))
                .expect("spawn the access log writer");
        }
        log
    }

    /// The log without its writer thread.
    fn unstarted(format: AccessLogFormat, dropped: IntCounter, max_pending: usize) -> Self {
        let shared = (format != AccessLogFormat::Off).then(|| {
            Arc::new(Shared {
                pending: Mutex::new(Vec::new()),
            })
        });
        AccessLog {
            format,
            shared,
            dropped,
            max_pending,
        }
    }

    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues one line; never blocks on output.
    pub fn log(&self, entry: &Entry) {
        let Some(shared) = &self.shared else { return };
        let written = SCRATCH.with(|scratch| {
            let mut line = scratch.borrow_mut();
            line.clear();
            match self.format {
                AccessLogFormat::Json => entry.write_json(&mut line),
                AccessLogFormat::Text => entry.write_text(&mut line),
                AccessLogFormat::Off => return true,
            }
            let mut pending = shared.pending.lock();
            if pending.len() >= self.max_pending {
                return false;
            }
            pending.extend_from_slice(&line);
            true
        });
        if !written {
            self.dropped.inc();
        }
    }
}

/// How often the writer wakes to drain the buffers. Waking on a timer rather than per line
/// keeps the request path free of wake-up system calls.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Writes the queued lines to stdout every [`DRAIN_EVERY`], until the log is dropped.
fn write_lines(shared: Arc<Shared>) {
    let mut out = std::io::stdout().lock();
    // Swapped with the shared buffer, so both keep their capacity.
    let mut spare: Vec<u8> = Vec::new();
    loop {
        std::thread::sleep(DRAIN_EVERY);
        // Only this thread holds `shared` once the AccessLog is gone: drain once more, stop.
        let last = Arc::strong_count(&shared) == 1;
        std::mem::swap(&mut *shared.pending.lock(), &mut spare);
        if !spare.is_empty() {
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
        }
        if last {
            return;
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
            client: Some("127.0.0.9:5000".parse().unwrap()),
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
            endpoint: Some("127.0.0.2:8080".parse().unwrap()),
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
    fn a_full_buffer_drops_lines_instead_of_blocking() {
        let dropped = IntCounter::new("dropped", "test").unwrap();
        let log = AccessLog::unstarted(AccessLogFormat::Json, dropped.clone(), 1);
        for _ in 0..3 {
            log.log(&entry());
        }
        assert_eq!(dropped.get(), 2);
    }

    #[test]
    fn json_lines_are_what_serde_json_makes() {
        let mut e = entry();
        let awkward = "a\"b\\c\nd\te\u{1}f\u{7f}g é ✓";
        let later = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_764_083_458_034);
        for (user_agent, upstream, client, time) in [
            (None, None, None, SystemTime::UNIX_EPOCH),
            (Some(awkward), Some(1e-7), Some("[::1]:80"), later),
            (
                Some(""),
                Some(12345.678),
                Some("0.0.0.0:0"),
                later + std::time::Duration::from_millis(966),
            ),
            (
                None,
                Some(0.25),
                Some("255.255.255.255:65535"),
                later + std::time::Duration::from_millis(1_001),
            ),
        ] {
            e.time = time;
            e.user_agent = user_agent;
            e.upstream_duration = upstream;
            e.client = client.map(|c| c.parse().unwrap());
            e.endpoint = e.client.filter(|c| c.is_ipv4());
            let mut line = Vec::new();
            e.write_json(&mut line);
            assert!(line.ends_with(b"}\n") && line.iter().filter(|&&b| b == b'\n').count() == 1);
            let ours: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let theirs = serde_json::to_value(&e).unwrap();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for addr in [
            "1.2.3.4:5",
            "10.200.30.4:8080",
            "255.255.255.255:65535",
            "0.0.0.0:0",
            "[::1]:443",
            "[2001:db8::7]:80",
            "[::ffff:10.0.0.1]:1",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut out = Vec::new();
            write_addr(&mut out, addr);
            assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
        }
    }

    #[test]
    fn lines_of_every_thread_reach_the_writer() {
        let dropped = IntCounter::new("dropped", "test").unwrap();
        let log = Arc::new(AccessLog::unstarted(
            AccessLogFormat::Text,
            dropped,
            MAX_PENDING,
        ));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || (0..5).for_each(|_| log.log(&entry())))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let shared = log.shared.as_ref().unwrap();
        let pending = shared.pending.lock();
        assert_eq!(pending.iter().filter(|&&c| c == b'\n').count(), 15);
        assert!(pending.ends_with(b"\n"));
    }
}
