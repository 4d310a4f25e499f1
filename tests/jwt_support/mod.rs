//! Shared pieces of the JWT tests: keys that sign anything (to forge tokens), hand-made
//! tokens, a counting JWKS server, and a served `TokenExchange`.
#![allow(dead_code)]

#[cfg(feature = "kms")]
pub mod moto;
#[path = "../support/python_env.rs"]
pub mod python_env;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384, RSA_PSS_SHA256, RsaKeyPair,
};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use serde_json::{Value, json};
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;
use tower_iam_auth::token::{Jwk, JwkSet, KeySet, SigningKey, TokenExchange};

pub const ACCOUNT: &str = "123456789012";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/orders-reader";
pub const SESSION_ARN: &str = "arn:aws:sts::123456789012:assumed-role/orders-reader/session-1";
pub const ISSUER: &str = "https://auth.example.com";
/// The audience of proofs the exchange accepts.
pub const PROOF_AUDIENCE: &str = "token-exchange";
/// The audience of the JWTs, and the one the verifying service accepts.
pub const JWT_AUDIENCE: &str = "orders-service";

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A key that signs whatever a test asks, with whatever `alg` it claims.
pub enum TestKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl TestKey {
    pub fn rsa() -> TestKey {
        TestKey::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }

    pub fn ec() -> TestKey {
        TestKey::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub fn ed() -> TestKey {
        TestKey::Ed(Ed25519KeyPair::generate().unwrap())
    }

    pub fn pkcs8(&self) -> Vec<u8> {
        match self {
            TestKey::Rsa(k) => AsDer::as_der(k).unwrap().as_ref().to_vec(),
            TestKey::Ec(k) => k.to_pkcs8v1().unwrap().as_ref().to_vec(),
            TestKey::Ed(k) => k.to_pkcs8v1().unwrap().as_ref().to_vec(),
        }
    }

    /// The same key as the crate's `SigningKey`, with `kid`.
    pub fn signing_key(&self, kid: &str) -> SigningKey {
        SigningKey::from_pkcs8(&self.pkcs8()).unwrap().with_kid(kid)
    }

    /// The public JWK (with `kid` and the `alg` the crate pins for the key type).
    pub fn jwk(&self, kid: &str) -> Jwk {
        self.signing_key(kid).public_jwk().clone()
    }

    /// A raw JWS signature over `input` for `alg`.
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match (self, alg) {
            (TestKey::Rsa(k), "RS256" | "RS384" | "PS256") => {
                let encoding: &'static dyn aws_lc_rs::signature::RsaEncoding = match alg {
                    "RS256" => &RSA_PKCS1_SHA256,
                    "RS384" => &RSA_PKCS1_SHA384,
                    _ => &RSA_PSS_SHA256,
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(encoding, &rng, input, &mut sig).unwrap();
                sig
            }
            (TestKey::Ec(k), "ES256") => k.sign(&rng, input).unwrap().as_ref().to_vec(),
            (TestKey::Ed(k), "EdDSA") => k.sign(input).as_ref().to_vec(),
            _ => panic!("this test key does not sign {alg}"),
        }
    }
}

/// A compact JWS of `header` and `claims`, signed by `sign`.
pub fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}

/// The bytes of one base64url (unpadded) part of a compact JWS.
pub fn base64_url(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

/// A token signed by `key` under `kid` with `alg`, carrying `claims`.
pub fn token(key: &TestKey, alg: &str, kid: &str, claims: &Value) -> String {
    jws(
        &json!({"alg": alg, "typ": "JWT", "kid": kid}),
        claims,
        |input| key.sign(alg, input),
    )
}

/// The claims an exchange issues for the `orders-reader` session, valid from a minute ago for
/// five minutes.
pub fn valid_claims() -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "sub": ROLE_ARN,
        "aud": JWT_AUDIENCE,
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 300,
        "jti": "test",
        "https://sts.amazonaws.com/": {
            "aws_account": ACCOUNT,
            "principal_id": ROLE_ARN,
            "unique_id": "AROAEXAMPLEID1234567",
            "session_name": "session-1",
            "raw_arn": SESSION_ARN,
        }
    })
}

/// `valid_claims()` with `changes` merged in at the top level.
pub fn claims_with(changes: Value) -> Value {
    let mut claims = valid_claims();
    for (name, value) in changes.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

/// Serves `router` on 127.0.0.1 on a free port until the test ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A JWKS endpoint whose key set the test changes, counting the fetches.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    set: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl JwksServer {
    /// Served with `Cache-Control: public, max-age=300`.
    pub async fn start(keys: Vec<Jwk>) -> JwksServer {
        Self::start_with(keys, Some("public, max-age=300")).await
    }

    /// Served without `Cache-Control`: verifiers cache it for their `jwks_cache_ttl`.
    pub async fn start_uncached(keys: Vec<Jwk>) -> JwksServer {
        Self::start_with(keys, None).await
    }

    async fn start_with(keys: Vec<Jwk>, cache_control: Option<&'static str>) -> JwksServer {
        let set = Arc::new(Mutex::new(JwkSet::new(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (s, f, down) = (set.clone(), fetches.clone(), failing.clone());
        let router = Router::new().route(
            "/jwks.json",
            get(move || {
                let (s, f, down) = (s.clone(), f.clone(), down.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        return http::Response::builder()
                            .status(500)
                            .body(Body::empty())
                            .unwrap();
                    }
                    let body = s.lock().unwrap().to_json();
                    let mut response =
                        http::Response::builder().header("content-type", "application/json");
                    if let Some(value) = cache_control {
                        response = response.header("cache-control", value);
                    }
                    response.body(Body::from(body)).unwrap()
                }
            }),
        );
        let addr = serve(router).await;
        JwksServer {
            url: format!("http://{addr}/jwks.json"),
            set,
            fetches,
            failing,
        }
    }

    /// From now on every fetch answers 500 (`true`), or the set again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn set_keys(&self, keys: Vec<Jwk>) {
        *self.set.lock().unwrap() = JwkSet::new(keys);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// The layer of an exchange: proofs for `PROOF_AUDIENCE` from any account, verified by `sts`.
pub fn exchange_layer(sts: &LocalSts) -> IamAuthLayer {
    IamAuthLayer::new(
        IamAuthConfig::builder()
            .audience(PROOF_AUDIENCE)
            .allow_any_aws_account()
            .dangerous_sts_connect_to(sts.connect_to())
            .build()
            .unwrap(),
    )
}

/// A `TokenExchange` for proofs of `PROOF_AUDIENCE` against a LocalSts, issuing tokens for
/// `JWT_AUDIENCE`, served on 127.0.0.1 with `issuer` `http://<its address>`.
pub struct ServedExchange {
    pub sts: LocalSts,
    pub exchange: TokenExchange,
    pub base: String,
    pub jwks_fetches: Arc<AtomicUsize>,
    pub token_requests: Arc<AtomicUsize>,
    pub signer: ProofSigner,
}

impl ServedExchange {
    pub async fn start(keys: KeySet) -> ServedExchange {
        Self::start_with_clock(keys, SystemTime::now).await
    }

    /// As [`start`](Self::start), with `clock` for the exchange's `iat`, `exp` and token reuse.
    pub async fn start_with_clock(
        keys: KeySet,
        clock: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> ServedExchange {
        let sts = LocalSts::start().await.unwrap();
        let credentials = sts.assume_role(ACCOUNT, "orders-reader", "session-1");
        let layer = exchange_layer(&sts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let exchange = TokenExchange::builder(layer)
            .allow_any_aws_account()
            .issuer(&base)
            .keys(keys)
            .default_audience(JWT_AUDIENCE)
            .clock(clock)
            .build()
            .unwrap();
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let token_requests = Arc::new(AtomicUsize::new(0));
        let (jwks, tokens) = (jwks_fetches.clone(), token_requests.clone());
        let router = exchange.router().layer(tower::util::MapRequestLayer::new(
            move |request: Request<Body>| {
                match request.uri().path() {
                    "/.well-known/jwks.json" => jwks.fetch_add(1, Ordering::SeqCst),
                    "/token" => tokens.fetch_add(1, Ordering::SeqCst),
                    _ => 0,
                };
                request
            },
        ));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let signer = ProofSigner::builder(credentials)
            .audience(PROOF_AUDIENCE)
            .build()
            .unwrap();
        ServedExchange {
            sts,
            exchange,
            base,
            jwks_fetches,
            token_requests,
            signer,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    /// `POST /token` with the proof as a bearer token, over HTTP: the access token.
    pub async fn exchange_proof(&self) -> String {
        let proof = self.signer.token().await.unwrap();
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.base))
            .bearer_auth(proof.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
}

/// A Vault-format login body (`iam_http_request_method`, `iam_request_url`,
/// `iam_request_body`, `iam_request_headers`) signed with `credentials` for `audience`.
pub fn vault_login(credentials: &aws_credential_types::Credentials, audience: &str) -> Value {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;
    use base64::engine::general_purpose::STANDARD;

    let url = "https://sts.amazonaws.com/";
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let signed = [
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("X-Vault-AWS-IAM-Server-ID", audience),
    ];
    let identity = Identity::from(credentials.clone());
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        signed.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = serde_json::Map::new();
    for (name, value) in signed {
        headers.insert(name.to_owned(), json!([value]));
    }
    for (name, value) in instructions.headers() {
        headers.insert(name.to_owned(), json!([value]));
    }
    json!({
        "iam_http_request_method": "POST",
        "iam_request_url": STANDARD.encode(url),
        "iam_request_body": STANDARD.encode(body),
        "iam_request_headers": STANDARD.encode(serde_json::to_string(&headers).unwrap()),
    })
}

/// The principal as `/whoami` answers it.
pub fn principal_json(principal: &IamPrincipal) -> Value {
    serde_json::to_value(principal).unwrap()
}
