//! The STS emulators as child processes: moto (signature checking switched on after set-up) and
//! ministack (`AUTH=true`), each on a free port of `127.0.0.1`, with an IAM user and an
//! assumed-role session created through their own APIs, behind a [`CountingProxy`].
//!
//! Each test starts the emulator it needs (moto is ready in about 0.6 s, ministack in 0.3 s):
//! nextest runs every test in its own process, so a per-binary shared fixture would not be
//! shared anyway, and a fresh emulator keeps each test's call count its own.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::proxy::{CountingProxy, ForwardedRequest};
use crate::python::{run_helper, venv_executable};

/// The account both emulators put their identities in (ministack is told to use it).
pub const ACCOUNT: &str = "123456789012";
/// The IAM user every emulator gets.
pub const USER: &str = "alice";
/// The role the user assumes, and the session name.
pub const ROLE: &str = "deployer";
pub const SESSION: &str = "ci-run-42";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `moto_server` (moto 5.2.5).
    Moto,
    /// `ministack` (1.5.33), `AUTH=true`.
    Ministack,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Moto => "moto",
            Flavor::Ministack => "ministack",
        }
    }
}

/// Credentials an emulator issued, and the ARN it says they belong to.
#[derive(Clone, Debug)]
pub struct Identity {
    pub credentials: Credentials,
    pub arn: String,
    json: Value,
}

impl Identity {
    pub fn from_json(json: &Value) -> Identity {
        let field = |name: &str| {
            json[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} missing in {json}"))
                .to_owned()
        };
        let session_token = json["session_token"].as_str().map(str::to_owned);
        Identity {
            credentials: Credentials::new(
                field("access_key_id"),
                field("secret_access_key"),
                session_token,
                None,
                "interop",
            ),
            arn: field("arn"),
            json: json.clone(),
        }
    }

    /// `{access_key_id, secret_access_key, session_token, arn}`, as `peers.py` takes them.
    pub fn as_json(&self) -> &Value {
        &self.json
    }
}

/// A child process killed (and reaped) on drop, its output in a log file.
struct PeerProcess {
    child: Child,
    log: PathBuf,
}

impl PeerProcess {
    fn log_tail(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        let start = bytes.len().saturating_sub(3000);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One running emulator with its identities, behind a counting proxy.
pub struct Emulator {
    addr: SocketAddr,
    proxy: CountingProxy,
    /// IAM user [`USER`] with a long-term key.
    pub user: Identity,
    /// A session [`SESSION`] of role [`ROLE`], assumed by the user.
    pub role_session: Identity,
    _process: PeerProcess,
}

impl Emulator {
    /// Starts `flavor` with signature checking on, and its user and role session.
    pub async fn start(flavor: Flavor) -> Emulator {
        Self::start_with(flavor, true).await
    }

    /// moto as it runs out of the box: it checks no signature at all.
    pub async fn start_moto_without_auth() -> Emulator {
        Self::start_with(Flavor::Moto, false).await
    }

    async fn start_with(flavor: Flavor, auth: bool) -> Emulator {
        let (process, addr) = spawn_ready(flavor).await;
        let answer = run_helper(json!({
            "command": "identities",
            "endpoint": format!("http://{addr}"),
            "flavor": flavor.name(),
            "user": USER,
            "role": ROLE,
            "session": SESSION,
            "enable_auth": auth,
        }))
        .await;
        let proxy = CountingProxy::start(addr).await;
        Emulator {
            addr,
            proxy,
            user: Identity::from_json(&answer["user"]),
            role_session: Identity::from_json(&answer["role_session"]),
            _process: process,
        }
    }

    /// Where the layer sends STS calls: the counting proxy in front of the emulator.
    pub fn connect_to(&self) -> String {
        self.proxy.connect_to()
    }

    /// The emulator itself, bypassing the proxy (for direct requests that are not counted).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// STS calls that reached the emulator through the proxy.
    pub fn calls(&self) -> usize {
        self.proxy.calls()
    }

    /// The requests that reached the emulator through the proxy.
    pub fn requests(&self) -> Vec<ForwardedRequest> {
        self.proxy.requests()
    }
}

/// Spawns the emulator on a free port and waits until it answers HTTP. Retries on another port
/// if the chosen one was taken in between.
async fn spawn_ready(flavor: Flavor) -> (PeerProcess, SocketAddr) {
    let mut last_failure = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut process = spawn(flavor, port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                last_failure = format!(
                    "{} exited with {status} before answering:\n{}",
                    flavor.name(),
                    process.log_tail()
                );
                break;
            }
            if answers_http(addr, flavor) {
                if listener_belongs_to(port, process.child.id()) {
                    return (process, addr);
                }
                // Another test's emulator won the race for this port: ours will fail to bind.
                last_failure = format!("port {port} was taken by another process");
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not answer on {addr} within 30 s:\n{}",
                    flavor.name(),
                    process.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("{last_failure}");
}

fn spawn(flavor: Flavor, port: u16) -> PeerProcess {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&dir).expect("create the interop scratch directory");
    let log = dir.join(format!("{}-{port}.log", flavor.name()));
    let output = std::fs::File::create(&log).expect("create the peer log");
    let mut command = match flavor {
        Flavor::Moto => {
            let mut command = Command::new(venv_executable("moto_server"));
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        }
        Flavor::Ministack => {
            let mut command = Command::new(venv_executable("ministack"));
            // Port and bind address come from the environment (ministack/app.py `main`); its
            // pid file goes to TMPDIR.
            command
                .env("AUTH", "true")
                .env("GATEWAY_PORT", port.to_string())
                .env("BIND_HOST", "127.0.0.1")
                .env("MINISTACK_ACCOUNT_ID", ACCOUNT)
                .env("LOG_LEVEL", "WARNING")
                .env("TMPDIR", &dir);
            command
        }
    };
    let child = command
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("clone the log handle"))
        .stderr(output)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", flavor.name()));
    PeerProcess { child, log }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether the socket listening on `127.0.0.1:port` is one of `pid`'s open files (Linux
/// `/proc`). Where `/proc` cannot tell, assume it is.
fn listener_belongs_to(port: u16, pid: u32) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return true;
    };
    let local = format!("0100007F:{port:04X}");
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ... inode (field 9); st 0A is LISTEN.
        (fields.len() > 9 && fields[1] == local && fields[3] == "0A").then(|| fields[9].to_owned())
    });
    let Some(inode) = inode else {
        return true;
    };
    let socket = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket.as_str())
    })
}

/// Whether the emulator answers a plain GET of its health page.
fn answers_http(addr: SocketAddr, flavor: Flavor) -> bool {
    let path = match flavor {
        Flavor::Moto => "/moto-api/",
        Flavor::Ministack => "/_ministack/health",
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
