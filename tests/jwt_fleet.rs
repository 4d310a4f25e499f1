//! The JWT mode across a fleet: two token exchanges share one key set and one STS, three
//! services verify the exchanged JWTs offline through the JWKS. STS is called once per distinct
//! proof presented at the exchanges and never by a service, and a key rotation in the middle
//! (new key published, then active, the old one published until its tokens expired, then
//! dropped) loses no request.
#![cfg(feature = "jwt")]

mod jwt_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use jwt_support::*;
use serde_json::Value;
use tower::ServiceExt;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{IamAuthConfig, IamAuthLayer};
use tower_iam_auth::testing::LocalSts;
use tower_iam_auth::token::{
    DEFAULT_PUBLISH_LEAD, JwtAlgorithm, JwtVerifier, KeySet, RETIREMENT_GRACE, SigningKey,
    TokenExchange, TrustedIssuer,
};

const TOKEN_TTL: Duration = Duration::from_secs(600);
const CLIENTS_PER_WAVE: usize = 8;

/// The fleet's clock: the exchanges, their key set and the services read it, and the test moves
/// it forward (proofs are signed and checked on the real clock, so they stay valid).
#[derive(Clone)]
struct FleetClock(Arc<AtomicU64>);

impl FleetClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(JwtAlgorithm::RS256)
        .unwrap()
        .with_kid(kid)
}

struct Fleet {
    /// The STS the exchanges verify proofs with.
    sts: LocalSts,
    keys: KeySet,
    /// The base URLs of the two exchanges (served over HTTP, both with issuer `ISSUER`).
    exchanges: Vec<String>,
    /// Each service with the LocalSts it would verify proofs with (it must see none).
    services: Vec<(Router, LocalSts)>,
    /// Every (exchange, proof) pair presented so far.
    presented: HashSet<(usize, String)>,
}

impl Fleet {
    async fn start(clock: &FleetClock) -> Fleet {
        let sts = LocalSts::start().await.unwrap();
        let c = clock.clone();
        let keys = KeySet::new(key("2026-01")).with_clock(move || c.now());
        let mut exchanges = Vec::new();
        for _ in 0..2 {
            let c = clock.clone();
            let exchange = TokenExchange::builder(exchange_layer(&sts))
                .allow_any_aws_account()
                .issuer(ISSUER)
                // A clone shares the keys: a rotation on one is a rotation on both.
                .keys(keys.clone())
                .default_audience(JWT_AUDIENCE)
                .token_ttl(TOKEN_TTL)
                .clock(move || c.now())
                .build()
                .unwrap();
            exchanges.push(format!("http://{}", serve(exchange.router()).await));
        }
        let mut services = Vec::new();
        for index in 0..3 {
            let own_sts = LocalSts::start().await.unwrap();
            let c = clock.clone();
            // Services 0 and 2 read the JWKS of exchange 0, service 1 that of exchange 1.
            let jwks = format!("{}/.well-known/jwks.json", exchanges[index % 2]);
            let verifier = JwtVerifier::builder()
                .issuer(TrustedIssuer::exchange(ISSUER).jwks_url(jwks))
                .audience(JWT_AUDIENCE)
                .clock(move || c.now())
                .build()
                .unwrap();
            let config = IamAuthConfig::builder()
                .audience(JWT_AUDIENCE)
                .allow_any_aws_account()
                .dangerous_sts_connect_to(own_sts.connect_to())
                .token_verifier(verifier)
                .build()
                .unwrap();
            let router = Router::new()
                .route(
                    "/whoami",
                    get(|p: IamPrincipal| async move { axum::Json(p) }),
                )
                .layer(IamAuthLayer::new(config));
            services.push((router, own_sts));
        }
        Fleet {
            sts,
            keys,
            exchanges,
            services,
            presented: HashSet::new(),
        }
    }

    /// A client of its own role, which exchanges at exchange `client % 2`.
    fn client(&self, client: usize) -> Client {
        let role = format!("fleet-client-{client}");
        let signer = ProofSigner::builder(self.sts.assume_role(ACCOUNT, &role, "session"))
            .audience(PROOF_AUDIENCE)
            .build()
            .unwrap();
        Client {
            exchange: client % 2,
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
            signer,
            token: String::new(),
        }
    }

    /// The client presents its current proof at its exchange and keeps the JWT it gets.
    async fn exchange(&mut self, client: &mut Client) {
        let proof = client.signer.token().await.unwrap().as_str().to_owned();
        self.presented.insert((client.exchange, proof.clone()));
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.exchanges[client.exchange]))
            .bearer_auth(&proof)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        client.token = body["access_token"].as_str().unwrap().to_owned();
    }

    /// Every client calls every service, all at once; each call must answer 200 with the
    /// client's principal.
    async fn call_all(&self, clients: &[Client]) {
        let mut calls = tokio::task::JoinSet::new();
        for client in clients {
            for (index, (service, _)) in self.services.iter().enumerate() {
                let (service, token, arn) =
                    (service.clone(), client.token.clone(), client.arn.clone());
                calls.spawn(async move {
                    let request = Request::get("/whoami")
                        .header("authorization", format!("Bearer {token}"))
                        .body(Body::empty())
                        .unwrap();
                    let response = service.oneshot(request).await.unwrap();
                    let status = response.status();
                    let bytes = response.into_body().collect().await.unwrap().to_bytes();
                    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    assert_eq!(status, StatusCode::OK, "service {index}: {body}");
                    assert_eq!(body["arn"], arn.as_str(), "service {index}");
                });
            }
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap();
        }
    }

    fn assert_sts_calls(&self) {
        assert_eq!(
            self.sts.calls(),
            self.presented.len(),
            "one STS call per distinct proof at the exchanges"
        );
        for (index, (_, own_sts)) in self.services.iter().enumerate() {
            assert_eq!(own_sts.calls(), 0, "service {index} called STS");
        }
    }
}

struct Client {
    exchange: usize,
    arn: String,
    signer: ProofSigner,
    token: String,
}

fn kid_of(token: &str) -> String {
    let header = base64_url(token.split('.').next().unwrap());
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn two_exchanges_and_three_services_rotate_a_key_without_losing_a_request() {
    let clock = FleetClock(Arc::new(AtomicU64::new(0)));
    let mut fleet = Fleet::start(&clock).await;

    // First wave: tokens of the first key, from both exchanges.
    let mut clients: Vec<Client> = (0..CLIENTS_PER_WAVE).map(|i| fleet.client(i)).collect();
    for client in clients.iter_mut() {
        fleet.exchange(client).await;
        assert_eq!(kid_of(&client.token), "2026-01");
    }
    // A proof presented again at the same exchange is served from its cache.
    fleet.exchange(&mut clients[0]).await;
    fleet.call_all(&clients).await;
    fleet.assert_sts_calls();
    assert_eq!(fleet.presented.len(), CLIENTS_PER_WAVE);

    // Rotation, step 1: the new key is published, the old one still signs.
    fleet.keys.rotate(key("2026-02")).unwrap();
    assert_eq!(fleet.keys.published_kids(), ["2026-01", "2026-02"]);
    fleet.call_all(&clients).await;

    // Step 2: once the publish lead has passed, the new key signs; the old one stays published
    // while its tokens live, so the first wave keeps working beside the second.
    clock.advance(DEFAULT_PUBLISH_LEAD);
    assert_eq!(fleet.keys.active_kid(), "2026-02");
    for i in CLIENTS_PER_WAVE..2 * CLIENTS_PER_WAVE {
        let mut client = fleet.client(i);
        fleet.exchange(&mut client).await;
        assert_eq!(kid_of(&client.token), "2026-02");
        clients.push(client);
    }
    assert_eq!(fleet.keys.published_kids(), ["2026-01", "2026-02"]);
    fleet.call_all(&clients).await;
    fleet.assert_sts_calls();

    // Step 3: every token of the old key has expired (and the grace passed): it is dropped.
    // The clients' tokens expired with it, so each exchanges its proof again, as a client
    // does before its token runs out, and gets a token of the new key.
    clock.advance(TOKEN_TTL + RETIREMENT_GRACE);
    assert_eq!(fleet.keys.published_kids(), ["2026-02"]);
    for client in clients.iter_mut() {
        fleet.exchange(client).await;
        assert_eq!(kid_of(&client.token), "2026-02");
    }
    fleet.call_all(&clients).await;
    fleet.assert_sts_calls();
    for base in &fleet.exchanges {
        let response = reqwest::get(format!("{base}/.well-known/jwks.json"))
            .await
            .unwrap();
        let jwks: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["2026-02"], "both exchanges publish the same set");
    }
}
