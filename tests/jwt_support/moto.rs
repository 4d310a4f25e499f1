//! moto's server with KMS (through `moto_kms.py`, which makes `Sign` with `MessageType=DIGEST`
//! behave as AWS KMS documents), on a free port.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};

/// moto's server on a free port, stopped when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts it through `moto_kms.py` and waits until it listens.
    pub async fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jwt_support/moto_kms.py");
        let child = Command::new(super::python_env::interpreter())
            .arg(launcher)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not listen on {port} within 10 s");
    }

    /// A KMS client for it.
    pub fn client(&self) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// Creates a KMS key; answers its id.
    pub async fn create_key(&self, spec: KeySpec, usage: KeyUsageType) -> String {
        self.client()
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .key_id()
            .to_owned()
    }
}
