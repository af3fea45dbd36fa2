//! Test support shared by the end-to-end tests and the demo: real HTTP/1.1 backends on
//! loopback that say who they are, a small HTTP/1.1 client that shows exactly what came back,
//! and a guard that kills a child process (by its PID) when the test ends.
//!
//! Everything here is blocking `std` code on purpose: the tests drive a real `pingress`
//! process over real sockets and must not depend on the runtime they are testing.

pub mod certs;
pub mod gateway;
pub mod kube_api;
pub mod load;

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a [`Backend`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `200` with a body naming the backend and echoing the request line and headers.
    Echo,
    /// Like `Echo`, after sleeping this long.
    Delay(Duration),
    /// Writes bytes that are not HTTP and closes the connection.
    Garbage,
    /// Answers with this status (and an echo body).
    Status(u16),
    /// Reads the request, then closes the connection without answering.
    Close,
}

/// A real HTTP/1.1 server on a loopback address, one thread per connection, keep-alive aware.
/// Its body is `backend=NAME` followed by `method=`, `path=` (with query) and one
/// `header:NAME=VALUE` line per request header (names lower-cased), so tests can check both who
/// answered and what the proxy forwarded.
///
/// `GET /healthz` is a health probe: `200`, or `503` after [`Backend::set_healthy`]`(false)`;
/// probes are counted apart from requests.
pub struct Backend {
    name: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// Counters and switches shared by a backend's threads.
#[derive(Default)]
struct Shared {
    requests: AtomicUsize,
    probes: AtomicUsize,
    connections: AtomicUsize,
    unhealthy: AtomicBool,
    stop: AtomicBool,
    /// The connections being served, by accept number, so that [`Backend::kill`] can close them.
    open: Mutex<BTreeMap<usize, TcpStream>>,
}

impl Backend {
    /// Starts a backend on `ip` (e.g. `127.0.0.2`) and a free port.
    pub fn start(name: &str, ip: &str, behaviour: Behaviour) -> io::Result<Backend> {
        Self::start_on(name, &format!("{ip}:0"), behaviour)
    }

    /// Starts a backend on exactly `addr`.
    pub fn start_on(name: &str, addr: &str, behaviour: Behaviour) -> io::Result<Backend> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (name_c, shared_c) = (name.to_string(), shared.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if shared_c.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = shared_c.connections.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    lock(&shared_c.open).insert(id, clone);
                }
                if shared_c.stop.load(Ordering::SeqCst) {
                    // Killed while this one was being accepted (`kill` may have missed it):
                    // close it unanswered.
                    lock(&shared_c.open).remove(&id);
                    break;
                }
                let (name, shared) = (name_c.clone(), shared_c.clone());
                thread::spawn(move || {
                    serve_connection(stream, &name, behaviour, &shared);
                    lock(&shared.open).remove(&id);
                });
            }
        });
        Ok(Backend {
            name: name.to_string(),
            addr,
            shared,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many requests (not health probes) this backend has received.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many `GET /healthz` probes it has answered.
    pub fn probes(&self) -> usize {
        self.shared.probes.load(Ordering::SeqCst)
    }

    /// How many TCP connections this backend has accepted (fewer than requests means reuse).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Makes `GET /healthz` answer `200` (healthy) or `503`.
    pub fn set_healthy(&self, healthy: bool) {
        self.shared.unhealthy.store(!healthy, Ordering::SeqCst);
    }

    /// Dies as a killed process would: the listener closes (new connections are refused) and
    /// every open connection is shut down, whether idle, mid-request or mid-delay; requests it
    /// was working on get no answer. Returns how many connections were open. A new backend may
    /// then be started on the same address with [`Backend::start_on`].
    pub fn kill(&self) -> usize {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener; what it accepts
        // meanwhile is dropped (closed) unanswered.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        let open = std::mem::take(&mut *lock(&self.shared.open));
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        open.len()
    }
}

/// Locks `mutex`, also after a panic in another thread (the data is plain bookkeeping).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve_connection(stream: TcpStream, name: &str, behaviour: Behaviour, shared: &Shared) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Ok(Some(head)) = read_head(&mut reader) else {
            return;
        };
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines.filter_map(split_header).collect();
        let chunked = header_value(&headers, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            read_chunked_body(&mut reader)
        } else {
            let length = header_value(&headers, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).map(|()| body)
        };
        let Ok(body) = body else {
            return;
        };
        let mut parts = request_line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let close = header_value(&headers, "connection").is_some_and(|v| v == "close");
        if target == "/healthz" {
            shared.probes.fetch_add(1, Ordering::SeqCst);
            let status = if shared.unhealthy.load(Ordering::SeqCst) {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            if writer.write_all(response.as_bytes()).is_err() || close {
                return;
            }
            continue;
        }
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let status = match behaviour {
            Behaviour::Garbage => {
                let _ = writer.write_all(b"this is not HTTP\r\n\r\n");
                return;
            }
            Behaviour::Close => return,
            Behaviour::Delay(d) => {
                thread::sleep(d);
                200
            }
            Behaviour::Status(code) => code,
            Behaviour::Echo => 200,
        };
        let mut text = format!(
            "backend={name}\nmethod={method}\npath={target}\nbody-bytes={}\n",
            body.len()
        );
        for (k, v) in &headers {
            text.push_str(&format!("header:{k}={v}\n"));
        }
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-backend: {name}\r\n{}\r\n{text}",
            text.len(),
            if close { "connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// A chunked message body (RFC 9112 §7.1) of a request or response, trailers skipped.
fn read_chunked_body(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
        if size == 0 {
            read_head(reader)?; // trailers, up to the blank line
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Reads up to and including the blank line; `None` on a clean end of stream.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if line == "\r\n" || line == "\n" {
            return Ok(Some(head));
        }
        head.push_str(&line);
    }
}

fn split_header(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once(':')?;
    Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A response as it came off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names; repeated headers keep the last value.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Response {
    /// The `backend=` line of a [`Backend`]'s body, if a backend answered.
    pub fn backend(&self) -> Option<&str> {
        self.body_field("backend")
    }

    /// A `key=value` line of an echo body, e.g. `path` or `header:x-forwarded-for`.
    pub fn body_field(&self, key: &str) -> Option<&str> {
        self.body
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

/// One client connection to the gateway, reusable for several requests (keep-alive), over
/// plain TCP or any other stream (e.g. TLS).
pub struct Connection<S: Read + Write = TcpStream> {
    reader: BufReader<S>,
}

impl Connection {
    pub fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Connection::over(stream))
    }
}

impl<S: Read + Write> Connection<S> {
    /// HTTP/1.1 over an established stream.
    pub fn over(stream: S) -> Connection<S> {
        Connection {
            reader: BufReader::new(stream),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        self.reader.get_ref()
    }

    /// Sends a request with the given `Host` and extra headers and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        host: &str,
        target: &str,
        extra: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\n");
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes())?;
        self.read_response(method == "HEAD")
    }

    /// Like [`Connection::request`], with a body; a `content-length` header is added.
    pub fn request_with_body(
        &mut self,
        method: &str,
        host: &str,
        target: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.reader.get_mut().write_all(&bytes)?;
        self.read_response(method == "HEAD")
    }

    /// Writes raw bytes, then reads one response.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<Response> {
        self.reader.get_mut().write_all(bytes)?;
        self.read_response(false)
    }

    fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let head = read_head(&mut self.reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.to_string()))?;
        let headers: BTreeMap<String, String> = lines.filter_map(split_header).collect();
        let mut body = Vec::new();
        if head_only || status == 204 || status == 304 {
        } else if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            body = read_chunked_body(&mut self.reader)?;
        } else if let Some(len) = headers.get("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "content-length"))?;
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, host: &str, target: &str) -> io::Result<Response> {
    Connection::open(addr)?.request("GET", host, target, &[("connection", "close")])
}

/// A child process that is killed (by its PID) and reaped when the guard drops.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `command` with stdout/stderr going to `log` (so a failing test can show it).
    pub fn spawn(mut command: Command, log: &Path) -> io::Result<ChildGuard> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        command.stdout(Stdio::from(out)).stderr(Stdio::from(err));
        Ok(ChildGuard(command.spawn()?))
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_backend_names_itself_and_echoes_headers() {
        let backend = Backend::start("blue", "127.0.0.1", Behaviour::Echo).unwrap();
        let mut conn = Connection::open(backend.addr()).unwrap();
        for i in 0..3 {
            let r = conn
                .request("GET", "example.com", &format!("/p{i}?q=1"), &[("x-a", "b")])
                .unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.backend(), Some("blue"));
            assert_eq!(r.body_field("path"), Some(format!("/p{i}?q=1").as_str()));
            assert_eq!(r.body_field("header:x-a"), Some("b"));
            assert_eq!(r.body_field("header:host"), Some("example.com"));
        }
        assert_eq!(backend.requests(), 3);
        assert_eq!(
            backend.connections(),
            1,
            "one keep-alive connection, three requests"
        );
    }

    #[test]
    fn garbage_backend_does_not_speak_http() {
        let backend = Backend::start("bad", "127.0.0.1", Behaviour::Garbage).unwrap();
        let err = get(backend.addr(), "x", "/").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
