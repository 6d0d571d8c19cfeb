//! Helpers for the integration tests: starting a server from YAML, a small
//! raw HTTP/1.1 client over a real TCP socket, polling the counters, and
//! running the built binary as a child process.

#![allow(dead_code)] // Not every test binary uses every helper.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mock_server::{EmbeddedServer, ServerConfig, StatsSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts an embedded server on 127.0.0.1:0 from a YAML configuration,
/// with one worker thread.
pub fn start(yaml: &str) -> EmbeddedServer {
    start_with_workers(yaml, 1)
}

/// Starts an embedded server on 127.0.0.1:0 from a YAML configuration,
/// with `workers` worker threads.
pub fn start_with_workers(yaml: &str, workers: usize) -> EmbeddedServer {
    let config: ServerConfig = if yaml.trim().is_empty() {
        ServerConfig::default()
    } else {
        serde_yaml::from_str(yaml).expect("test config parses")
    };
    let mut settings = config.validate().expect("test config is valid");
    settings.listen = "127.0.0.1:0".parse().unwrap();
    EmbeddedServer::start(settings, workers).expect("server starts")
}

/// One parsed HTTP/1.1 answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` on a new connection with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let raw = exchange(addr, request.as_bytes()).await?;
    parse(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no complete HTTP answer in {} bytes", raw.len()),
        )
    })
}

/// Sends raw bytes on a new connection and reads until the server closes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(raw)
}

/// Parses a status line, headers and a `Content-Length` body.
pub fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(rest.len());
    Some(Reply {
        status,
        headers,
        body: rest.get(..length)?.to_vec(),
    })
}

/// Polls the server's counters until `done` holds or `timeout` passes.
pub async fn wait_for(
    server: &EmbeddedServer,
    timeout: Duration,
    done: impl Fn(&StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let start = Instant::now();
    loop {
        let stats = server.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            start.elapsed() < timeout,
            "condition not reached within {timeout:?}; stats: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the built binary with `args`; stdout is piped, stderr goes to
/// `stderr`. `nofile` lowers RLIMIT_NOFILE in the child before exec.
pub fn spawn_binary(args: &[&str], nofile: Option<u64>, stderr: Stdio) -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_mock-server"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(limit) = nofile {
        // SAFETY: the closure runs in the forked child before exec and only
        // calls setrlimit, which is async-signal-safe.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command.spawn().expect("the binary starts")
}

/// Reads the child's first stdout line and returns the address it names.
pub fn read_listen_line(child: &mut Child) -> (SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a first line");
    let addr = line
        .trim()
        .strip_prefix("mock-server listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("a socket address");
    (addr, stdout)
}

/// Sends SIGTERM to the child.
#[allow(unsafe_code)]
pub fn terminate(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

/// Waits for the child to exit, failing the test after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("the binary did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A kept-alive HTTP/1.1 connection that sends one request at a time and
/// reads each answer in full (`Content-Length` bodies only).
pub struct KeepAlive {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        Ok(KeepAlive {
            stream: TcpStream::connect(addr).await?,
            buffer: Vec::new(),
        })
    }

    /// Makes closing this connection send a RST, so that closing thousands
    /// of them leaves no TIME_WAIT sockets holding ephemeral ports.
    pub fn reset_on_close(&self) -> std::io::Result<()> {
        self.stream.set_zero_linger()
    }

    /// `GET path` on this connection; the answer's status.
    pub async fn get(&mut self, path: &str) -> std::io::Result<u16> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((reply, used)) = complete_reply(&self.buffer) {
                self.buffer.drain(..used);
                return Ok(reply.status);
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The first complete answer in `raw` and how many bytes it took.
fn complete_reply(raw: &[u8]) -> Option<(Reply, usize)> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let reply = parse(raw)?; // None until the whole body is there.
    let length: usize = reply.header("content-length")?.parse().ok()?;
    Some((reply, head_end + length))
}
