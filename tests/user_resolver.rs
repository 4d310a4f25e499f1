//! `UserLayer`: the verified principal looked up once in the application's users, the answer
//! cached per principal (ARN and unique id), unknown principals refused, a failing lookup a
//! `503` that is not cached; and the `user_mapping` example as a black box.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use support::{ACCOUNT, AUDIENCE, Answer, call_request, token_for};
use tower_iam_auth::policy::{Policy, PolicyOptions};
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{
    AppUser, IamAuthConfig, IamAuthLayer, ResolveUser, UserLayer, resolve_user_fn,
};
use tower_iam_auth::testing::LocalSts;

#[derive(Clone, Debug)]
struct User {
    name: String,
}

/// A resolver whose users are the roles named in `known` (by role name), counting its calls,
/// failing while `failing` is set, taking `delay` per lookup.
#[derive(Clone, Default)]
struct Directory {
    calls: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Directory {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn layer(
        &self,
        known: &'static [&'static str],
        delay: Duration,
    ) -> UserLayer<impl ResolveUser<User = User>> {
        let (calls, failing) = (self.calls.clone(), self.failing.clone());
        UserLayer::new(resolve_user_fn(move |principal: IamPrincipal| {
            let (calls, failing) = (calls.clone(), failing.clone());
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if failing.load(Ordering::SeqCst) {
                    return Err("users database unreachable".to_owned());
                }
                Ok(known.contains(&principal.name()).then(|| User {
                    name: format!("user of {}", principal.name()),
                }))
            }
        }))
    }
}

/// `/me` answers the user's name (`AppUser<User>`); `/maybe/{x}` whether there is a user
/// (`Option<AppUser<User>>`).
fn user_router() -> Router<()> {
    Router::new()
        .route(
            "/me",
            get(|AppUser(user): AppUser<User>| async move { user.name }),
        )
        .route(
            "/maybe/{x}",
            get(|user: Option<AppUser<User>>| async move {
                match user {
                    Some(AppUser(user)) => user.name,
                    None => "no user".to_owned(),
                }
            }),
        )
}

fn config(sts: &LocalSts) -> IamAuthConfig {
    IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allowed_accounts([ACCOUNT])
        .dangerous_sts_connect_to(sts.connect_to())
        .build()
        .unwrap()
}

async fn get_as(app: &Router, uri: &str, token: Option<&str>) -> Answer {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    call_request(app, request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn one_lookup_serves_every_request_of_one_principal() {
    let sts = LocalSts::start().await.unwrap();
    let directory = Directory::default();
    let app = user_router()
        .layer(directory.layer(&["orders-reader"], Duration::from_millis(50)))
        .layer(IamAuthLayer::new(config(&sts)));

    // Ten concurrent requests, each from another session of the same role...
    let mut tokens = Vec::new();
    for i in 0..10 {
        tokens.push(token_for(sts.assume_role(ACCOUNT, "orders-reader", &format!("s{i}"))).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens.clone() {
        let app = app.clone();
        tasks.spawn(async move { get_as(&app, "/me", Some(&token)).await });
    }
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json, "user of orders-reader");
    }
    // ...then ten in a row.
    for token in tokens.iter().cycle().take(10) {
        let answer = get_as(&app, "/me", Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json, "user of orders-reader");
    }
    assert_eq!(
        directory.calls(),
        1,
        "20 requests, one principal, one lookup"
    );
}

#[tokio::test]
async fn an_unknown_principal_is_refused_and_the_answer_is_cached() {
    let sts = LocalSts::start().await.unwrap();
    let directory = Directory::default();
    let app = user_router()
        .layer(directory.layer(&["orders-reader"], Duration::ZERO))
        .layer(IamAuthLayer::new(config(&sts)));
    let intern = token_for(sts.assume_role(ACCOUNT, "intern", "s")).await;

    for _ in 0..2 {
        let answer = get_as(&app, "/me", Some(&intern)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.json);
        assert_eq!(answer.reason(), "principal.unknown");
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
    }
    assert_eq!(directory.calls(), 1);

    // Not "no user" for everyone: a known role still gets in.
    let reader = token_for(sts.assume_role(ACCOUNT, "orders-reader", "s")).await;
    let answer = get_as(&app, "/me", Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(directory.calls(), 2);
}

#[tokio::test]
async fn a_failing_lookup_is_a_503_and_is_not_cached() {
    let sts = LocalSts::start().await.unwrap();
    let directory = Directory::default();
    let app = user_router()
        .layer(directory.layer(&["orders-reader"], Duration::ZERO))
        .layer(IamAuthLayer::new(config(&sts)));
    let reader = token_for(sts.assume_role(ACCOUNT, "orders-reader", "s")).await;

    directory.set_failing(true);
    for expected_calls in [1, 2] {
        let answer = get_as(&app, "/me", Some(&reader)).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.json
        );
        assert_eq!(answer.reason(), "principal.resolver_unavailable");
        assert!(
            answer.headers.contains_key("retry-after"),
            "{:?}",
            answer.headers
        );
        // The failure is not an answer: the next request asks again.
        assert_eq!(directory.calls(), expected_calls);
    }
    directory.set_failing(false);
    let answer = get_as(&app, "/me", Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json, "user of orders-reader");
    assert_eq!(directory.calls(), 3);
    assert_eq!(sts.calls(), 1);
}

#[tokio::test]
async fn an_anonymous_caller_admitted_by_the_policy_has_no_user() {
    let sts = LocalSts::start().await.unwrap();
    let policy = Policy::from_json_with(
        &format!(
            r#"{{
                "Version": "2012-10-17",
                "Statement": [
                    {{"Sid": "Public", "Effect": "Allow", "Principal": "*",
                      "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/maybe/*"}},
                    {{"Sid": "Members", "Effect": "Allow", "Principal": {{"AWS": "{ACCOUNT}"}},
                      "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}}
                ]
            }}"#
        ),
        &PolicyOptions::new().public_sid("Public"),
    )
    .unwrap();
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .policy(policy)
        .allow_anonymous(true)
        .dangerous_sts_connect_to(sts.connect_to())
        .build()
        .unwrap();
    let directory = Directory::default();
    let app = user_router()
        .layer(directory.layer(&["orders-reader"], Duration::ZERO))
        .layer(IamAuthLayer::new(config));

    let answer = get_as(&app, "/maybe/x", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json, "no user");
    assert_eq!(directory.calls(), 0, "nobody to look up");

    let reader = token_for(sts.assume_role(ACCOUNT, "orders-reader", "s")).await;
    let answer = get_as(&app, "/maybe/x", Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json, "user of orders-reader");
    assert_eq!(directory.calls(), 1);
}

#[tokio::test]
async fn the_app_user_extractor_without_user_layer_is_a_500() {
    let sts = LocalSts::start().await.unwrap();
    let app = user_router().layer(IamAuthLayer::new(config(&sts)));
    let reader = token_for(sts.assume_role(ACCOUNT, "orders-reader", "s")).await;
    let answer = get_as(&app, "/me", Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer.json.as_str().unwrap().contains("UserLayer"),
        "{}",
        answer.json
    );
    let answer = get_as(&app, "/maybe/x", Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json, "no user");
}

#[tokio::test]
async fn a_re_created_role_is_looked_up_again() {
    // LocalSts keeps a role's id for ever; a principal made by hand stands for the re-created
    // role: the same ARN, another unique id.
    let first = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/orders-reader/s",
        "AROAFIRSTROLEID000001:s",
    )
    .unwrap();
    let second = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/orders-reader/s",
        "AROASECONDROLEID00002:s",
    )
    .unwrap();
    assert_eq!(first.arn(), second.arn());
    assert_ne!(first.principal_id(), second.principal_id());

    let directory = Directory::default();
    let app = user_router()
        .layer(directory.layer(&["orders-reader"], Duration::ZERO))
        .layer(tower::util::MapRequestLayer::new(
            move |mut request: Request<Body>| {
                let principal = match request.headers().get("x-which").map(|v| v.as_bytes()) {
                    Some(b"second") => second.clone(),
                    _ => first.clone(),
                };
                request.extensions_mut().insert(principal);
                request
            },
        ));
    let call = |which: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::get("/me")
                .header("x-which", which)
                .body(Body::empty())
                .unwrap();
            call_request(&app, request).await
        }
    };

    for (which, calls) in [("first", 1), ("first", 1), ("second", 2), ("second", 2)] {
        let answer = call(which).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.json, "user of orders-reader");
        assert_eq!(directory.calls(), calls, "after a request as {which}");
    }
}

#[test]
fn the_user_mapping_example_runs_and_checks_itself() {
    let output = support::examples::example("user_mapping")
        .output()
        .expect("cargo runs the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "user_mapping failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("user_mapping ok"), "{stdout}");
    assert!(stdout.contains("principal.unknown"), "{stdout}");
}
