//! Spans a slow request can be followed by (`iam_auth.authenticate`, `sts.GetCallerIdentity`),
//! refusal rendering, and header hygiene with tower-http's `TraceLayer` at every level.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{HeaderValue, Request, StatusCode};
use support::logs::Captured;
use support::*;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tower_iam_auth::error::{AuthError, RefusalBody};
use tower_iam_auth::policy::Policy;
use tower_iam_auth::server::IamAuthLayer;
use tower_iam_auth::testing::Fault;
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

/// A closed span: its name, its parent's name, and its fields as recorded by then.
#[derive(Clone, Debug)]
struct ClosedSpan {
    name: &'static str,
    parent: Option<&'static str>,
    fields: HashMap<String, String>,
}

impl ClosedSpan {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Records every span with its fields, and hands them over when they close.
#[derive(Clone, Default)]
struct SpanRecorder(Arc<Mutex<Vec<ClosedSpan>>>);

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanRecorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields(HashMap::new());
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span
                .extensions_mut()
                .remove::<Fields>()
                .map(|f| f.0)
                .unwrap_or_default();
            self.0.lock().unwrap().push(ClosedSpan {
                name: span.name(),
                parent: span.parent().map(|p| p.name()),
                fields,
            });
        }
    }
}

impl SpanRecorder {
    /// Records the spans of this thread until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    /// Takes the spans named `name` closed so far.
    fn take(&self, name: &str) -> Vec<ClosedSpan> {
        let mut all = self.0.lock().unwrap();
        let (taken, kept) = all.drain(..).partition(|s| s.name == name);
        *all = kept;
        taken
    }
}

#[tokio::test]
async fn authentication_and_its_sts_call_each_have_a_span() {
    let spans = SpanRecorder::default();
    let _guard = spans.install();
    let h = harness().await;
    let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);

    let sts = spans.take("sts.GetCallerIdentity");
    assert_eq!(sts.len(), 1, "{sts:?}");
    let sts = &sts[0];
    assert_eq!(sts.parent, Some("iam_auth.authenticate"), "{sts:?}");
    assert_eq!(sts.field("region"), Some("us-east-1"));
    assert_eq!(sts.field("attempt"), Some("1"));
    assert_eq!(sts.field("status"), Some("200"));
    assert_eq!(sts.field("result"), Some("ok"));
    // The id STS answered in `x-amzn-RequestId` (LocalSts sends a UUID, as STS does).
    let request_id = sts.field("request_id").expect("request id recorded");
    assert_eq!(request_id.len(), 36, "{request_id}");
    assert_eq!(request_id.matches('-').count(), 4, "{request_id}");

    let auth = spans.take("iam_auth.authenticate");
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert_eq!(auth[0].field("format"), Some("iam-v1"));
    assert_eq!(auth[0].field("outcome"), Some("allowed"));
    assert_eq!(auth[0].field("reason"), Some("none"));
    // The principal is personal data: not recorded unless asked for.
    assert_eq!(auth[0].field("principal"), None, "{auth:?}");
}

#[tokio::test]
async fn a_refusal_span_names_its_reason_and_a_retried_sts_call_its_attempts() {
    let spans = SpanRecorder::default();
    let _guard = spans.install();
    let h = harness().await;
    h.sts.set_fault(Some(Fault::Throttling));
    let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);

    let sts = spans.take("sts.GetCallerIdentity");
    let attempts: Vec<_> = sts.iter().map(|s| s.field("attempt")).collect();
    assert_eq!(attempts, [Some("1"), Some("2")], "{sts:?}");
    for attempt in &sts {
        assert_eq!(attempt.field("result"), Some("throttled"));
        assert!(attempt.field("request_id").is_some(), "{attempt:?}");
    }
    let auth = spans.take("iam_auth.authenticate");
    assert_eq!(auth[0].field("outcome"), Some("unavailable"));
    assert_eq!(auth[0].field("reason"), Some("sts.throttled"));
}

#[tokio::test]
async fn the_principal_is_recorded_only_when_the_user_opts_in() {
    let spans = SpanRecorder::default();
    let _guard = spans.install();
    let h = harness_with(|b| b.trace_principal(true)).await;
    let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;

    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    let auth = spans.take("iam_auth.authenticate");
    assert_eq!(
        auth[0].field("principal"),
        Some("arn:aws:iam::123456789012:role/deployer")
    );
}

// ---------------------------------------------------------------------------------------------
// Refusal rendering
// ---------------------------------------------------------------------------------------------

fn problem_json(refusal: &AuthError) -> RefusalBody {
    let body = serde_json::json!({
        "type": format!("https://errors.example.com/{}", refusal.reason()),
        "title": refusal.message(),
        "status": refusal.status().as_u16(),
    });
    RefusalBody::new(
        HeaderValue::from_static("application/problem+json"),
        body.to_string(),
    )
}

/// Denies the role `intern`, allows the rest of `ACCOUNT`.
fn intern_policy() -> Policy {
    Policy::from_json(&format!(
        r#"{{"Version": "2012-10-17", "Statement": [
            {{"Effect": "Allow", "Principal": {{"AWS": "{ACCOUNT}"}},
              "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}},
            {{"Effect": "Deny", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke",
              "Resource": "*", "Condition": {{"StringLike": {{"aws:PrincipalArn": "*:role/intern"}}}}}}
        ]}}"#
    ))
    .unwrap()
}

/// The answers of `h` to: no token, two tokens, a revoked key, a policy denial, a throttled STS.
async fn refusals(h: &Harness) -> Vec<(&'static str, http::Response<bytes::Bytes>)> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let send = |request: Request<Body>| async {
        let response = h.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
    };
    let whoami = |tokens: &[&str]| {
        let mut request = Request::get("/whoami");
        for token in tokens {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    };
    let revoked = h.sts.assume_role(ACCOUNT, "deployer", "revoked");
    h.sts.revoke(revoked.access_key_id());
    let revoked = token_for(revoked).await;
    let intern = token_for(h.sts.assume_role(ACCOUNT, "intern", "bob")).await;
    let throttled = token_for(h.sts.assume_role(ACCOUNT, "deployer", "throttled")).await;

    let mut answers = vec![
        ("no token", send(whoami(&[])).await),
        ("two tokens", send(whoami(&[&intern, &intern])).await),
        ("revoked key", send(whoami(&[&revoked])).await),
        ("policy denial", send(whoami(&[&intern])).await),
    ];
    h.sts.set_fault(Some(Fault::Throttling));
    answers.push(("throttled", send(whoami(&[&throttled])).await));
    h.sts.set_fault(None);
    answers
}

#[tokio::test]
async fn a_custom_renderer_changes_the_body_and_nothing_else() {
    let plain = harness_with(|b| b.policy(intern_policy()).sts_retry(false)).await;
    let rendered = harness_with(|b| {
        b.policy(intern_policy())
            .sts_retry(false)
            .render_refusal(problem_json)
    })
    .await;

    let plain = refusals(&plain).await;
    let rendered = refusals(&rendered).await;
    let statuses: Vec<u16> = rendered.iter().map(|(_, r)| r.status().as_u16()).collect();
    assert_eq!(statuses, [401, 400, 401, 403, 503]);
    for ((case, plain), (_, rendered)) in plain.iter().zip(&rendered) {
        assert_eq!(plain.status(), rendered.status(), "{case}");
        for name in ["www-authenticate", "retry-after", "cache-control"] {
            assert_eq!(
                plain.headers().get(name),
                rendered.headers().get(name),
                "{case}: {name}"
            );
        }
        assert_eq!(
            plain.headers()["content-type"],
            "application/json",
            "{case}"
        );
        assert_eq!(
            rendered.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
        let plain: serde_json::Value = serde_json::from_slice(plain.body()).unwrap();
        let problem: serde_json::Value = serde_json::from_slice(rendered.body()).unwrap();
        assert_eq!(
            problem["type"],
            format!(
                "https://errors.example.com/{}",
                plain["reason"].as_str().unwrap()
            ),
            "{case}"
        );
        assert_eq!(problem["status"], rendered.status().as_u16(), "{case}");
    }
}

#[tokio::test]
async fn the_policy_layer_renders_its_refusals_too() {
    use tower_iam_auth::policy::PolicyLayer;

    let h = harness().await;
    let app = whoami_router()
        .route_layer(PolicyLayer::new(intern_policy()).render_refusal(problem_json))
        .layer(h.layer.clone());
    let intern = token_for(h.sts.assume_role(ACCOUNT, "intern", "bob")).await;
    let answer = call(&app, Some(&intern)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(
        answer.json["type"],
        "https://errors.example.com/policy.denied"
    );
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

// ---------------------------------------------------------------------------------------------
// Header hygiene with tower-http
// ---------------------------------------------------------------------------------------------

/// Every event and every span (with its fields, on open and close) at TRACE on this thread.
fn capture_everything() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(captured.clone())
        .finish();
    (
        captured.clone(),
        tracing::subscriber::set_default(subscriber),
    )
}

/// `TraceLayer` as loud as it gets: spans and events at TRACE, request headers included.
fn loud_trace_layer<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(
                DefaultMakeSpan::new()
                    .level(Level::TRACE)
                    .include_headers(true),
            )
            .on_request(DefaultOnRequest::new().level(Level::TRACE))
            .on_response(
                DefaultOnResponse::new()
                    .level(Level::TRACE)
                    .include_headers(true),
            ),
    )
}

/// The request handler prints the request it receives, as a careless handler would.
fn debug_printing_router() -> Router {
    Router::new().route(
        "/whoami",
        axum::routing::get(|request: Request<Body>| async move {
            tracing::trace!(?request, "handler got");
            "ok"
        }),
    )
}

/// The full stack users should build: sensitive headers outermost, then `TraceLayer`, then
/// `IamAuthLayer`, then (for good measure) another `TraceLayer` inside it.
fn full_stack(layer: &IamAuthLayer) -> Router {
    let inner = loud_trace_layer(debug_printing_router());
    let app = loud_trace_layer(inner.layer(layer.clone()));
    app.layer(SetSensitiveRequestHeadersLayer::new([
        http::header::AUTHORIZATION,
    ]))
}

fn assert_no_secret(logs: &str, secrets: &[(&str, String)]) {
    for (what, secret) in secrets {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{what} is logged:\n{}", leaks.join("\n"));
    }
}

#[tokio::test]
async fn the_tower_http_stack_logs_no_credential_at_any_level() {
    let (captured, _guard) = capture_everything();
    let h = harness().await;
    let app = full_stack(&h.layer);
    let role = h.sts.assume_role(ACCOUNT, "deployer", "ci");
    let token = token_for(role.clone()).await;
    let tampered = mutate(&token, |url| {
        set_param(&url, "X-Amz-Signature", &"cd".repeat(32))
    });

    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        call(&app, Some(&tampered)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Some("not-a-token")).await.status,
        StatusCode::UNAUTHORIZED
    );

    let logs = captured.text();
    assert!(
        logs.contains("handler got"),
        "the capture saw nothing:\n{logs}"
    );
    assert!(
        logs.contains("authorization"),
        "headers were not logged:\n{logs}"
    );
    let url = url_of(&token);
    assert_no_secret(
        &logs,
        &[
            ("the token", token.clone()),
            ("the tampered token", tampered.clone()),
            ("a malformed token", "not-a-token".to_owned()),
            ("the signature", param(&url, "X-Amz-Signature")),
            (
                "the session token",
                role.session_token().unwrap().to_owned(),
            ),
            (
                "the session token, URL-encoded",
                param(&url, "X-Amz-Security-Token"),
            ),
            ("the secret key", role.secret_access_key().to_owned()),
        ],
    );
}

#[tokio::test]
async fn iam_auth_layer_marks_authorization_sensitive_for_the_layers_inside_it() {
    let (captured, _guard) = capture_everything();
    let h = harness().await;
    // No SetSensitiveRequestHeadersLayer: only IamAuthLayer protects the inner TraceLayer.
    let app = loud_trace_layer(debug_printing_router()).layer(h.layer.clone());
    let role = h.sts.assume_role(ACCOUNT, "deployer", "ci");
    let token = token_for(role.clone()).await;

    assert_eq!(call(&app, Some(&token)).await.status, StatusCode::OK);

    let logs = captured.text();
    assert!(
        logs.contains("handler got"),
        "the capture saw nothing:\n{logs}"
    );
    assert!(logs.contains("Sensitive"), "{logs}");
    assert_no_secret(
        &logs,
        &[
            ("the token", token.clone()),
            ("the signature", param(&url_of(&token), "X-Amz-Signature")),
        ],
    );
}

#[cfg(feature = "jwt")]
#[tokio::test]
async fn the_tower_http_stack_logs_no_jwt_at_any_level() {
    use tower_iam_auth::token::{
        JwtAlgorithm, JwtVerifier, KeySet, SigningKey, TokenExchange, TrustedIssuer,
    };

    let (captured, _guard) = capture_everything();
    let issuer = "https://auth.example.com";
    let keys = KeySet::new(SigningKey::generate(JwtAlgorithm::ES256).unwrap());
    let verifier = JwtVerifier::builder()
        .issuer(TrustedIssuer::exchange(issuer).keys(keys.jwks()))
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let h = harness_with(|b| b.token_verifier(verifier)).await;
    let exchange = TokenExchange::builder(h.layer.clone())
        .allow_any_aws_account()
        .issuer(issuer)
        .keys(keys)
        .default_audience(AUDIENCE)
        .build()
        .unwrap();
    let proof = token_for(h.sts.assume_role(ACCOUNT, "deployer", "ci")).await;
    let principal = h.layer.verify_token(&proof).await.unwrap();
    let jwt = exchange.issue(&principal, None).await.unwrap();
    let jwt = jwt.as_str().to_owned();
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", "A".repeat(signature.len()));
    let app = full_stack(&h.layer);

    assert_eq!(call(&app, Some(&jwt)).await.status, StatusCode::OK);
    assert_eq!(
        call(&app, Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let logs = captured.text();
    assert!(
        logs.contains("handler got"),
        "the capture saw nothing:\n{logs}"
    );
    assert_no_secret(
        &logs,
        &[
            ("the JWT", jwt.clone()),
            ("the JWT's signature", signature.to_owned()),
            ("the forged JWT", forged.clone()),
            ("the proof", proof.clone()),
        ],
    );
}

#[tokio::test]
async fn the_user_layer_renders_its_refusals_too() {
    use tower_iam_auth::principal::IamPrincipal;
    use tower_iam_auth::server::{AppUser, UserLayer, resolve_user_fn};

    let h = harness().await;
    let users = UserLayer::new(resolve_user_fn(|_: IamPrincipal| async {
        Ok::<Option<String>, String>(None)
    }))
    .render_refusal(problem_json);
    let app = Router::new()
        .route(
            "/whoami",
            axum::routing::get(|AppUser(user): AppUser<String>| async move { user }),
        )
        .layer(users)
        .layer(h.layer.clone());
    let token = token_for(h.sts.assume_role(ACCOUNT, "stranger", "ci")).await;
    let answer = call(&app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(
        answer.json["type"],
        "https://errors.example.com/principal.unknown"
    );
}
