//! The `IAM_AUTH_*` variables that every example server reads the same way.
//!
//! | variable | meaning |
//! |---|---|
//! | `IAM_AUTH_ALLOWED_ACCOUNTS` | comma list of 12-digit account ids let in |
//! | `IAM_AUTH_POLICY_FILE` | an IAM policy JSON file (VPC Lattice auth policy grammar) |
//! | `IAM_AUTH_POLICY_PUBLIC_SIDS` | comma list of `Sid`s of statements meant to admit everyone |
//! | `IAM_AUTH_POLICY_DRY_RUN=1` | evaluate and log the policy, but let denied requests through |
//! | `IAM_AUTH_ALLOW_ANY_ACCOUNT=1` | let in every principal of every AWS account |
//! | `IAM_AUTH_ALLOW_ANONYMOUS=1` | requests without a token reach the policy as anonymous |
//! | `IAM_AUTH_FORMATS` | comma list of `iam-v1`, `k8s-aws-v1`; default `iam-v1` |
//! | `IAM_AUTH_STS_CONNECT_TO` | testing only: send STS calls over plain HTTP to this `host:port` |
//! | `IAM_AUTH_VAULT_AUDIENCE_HEADER` | audience header of Vault-format logins |
//! | `IAM_AUTH_REDIS_URL` | share verified proofs with other replicas through Redis (feature `redis`): `redis://host:port`, or a comma list of Redis Cluster nodes |
//! | `IAM_AUTH_STS_BUDGET_PER_CLIENT`, `_PER_ACCESS_KEY`, `_OVERALL` | STS call budgets (cache misses) as `CALLS/SECONDS`, instead of the defaults (`100/10`, `50/10`, `100/1`); `scripts/load.sh` and `scripts/soak.sh` lift them |
//! | `IAM_AUTH_CACHE_SECRET_FILE` | with `IAM_AUTH_REDIS_URL`: a file holding the replicas' shared secret, at least 32 bytes once surrounding whitespace is trimmed |
//!
//! One of `IAM_AUTH_ALLOWED_ACCOUNTS`, `IAM_AUTH_POLICY_FILE` or `IAM_AUTH_ALLOW_ANY_ACCOUNT=1`
//! is required: without one, the server refuses to start.

#![allow(dead_code)]

use tower_iam_auth::policy::{Policy, PolicyOptions};
use tower_iam_auth::proof::ProofFormat;
use tower_iam_auth::server::IamAuthConfigBuilder;

/// A variable, unless unset or empty.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn flag(name: &str) -> bool {
    var(name).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn list(name: &str) -> Vec<String> {
    var(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Prints why the server cannot start, and exits with status 2.
pub fn exit_with(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2)
}

/// Who may come in, as the environment says.
pub struct Admission {
    pub allowed_accounts: Vec<String>,
    pub policy: Option<Policy>,
    pub dry_run: bool,
    pub allow_any_account: bool,
    pub allow_anonymous: bool,
}

impl Admission {
    /// Reads the admission variables; a policy file is loaded with `options` (plus the public
    /// `Sid`s of `IAM_AUTH_POLICY_PUBLIC_SIDS`). Exits if none of the three is set or the
    /// policy does not load.
    pub fn from_env(options: PolicyOptions) -> Admission {
        let allowed_accounts = list("IAM_AUTH_ALLOWED_ACCOUNTS");
        let allow_any_account = flag("IAM_AUTH_ALLOW_ANY_ACCOUNT");
        let policy = var("IAM_AUTH_POLICY_FILE").map(|path| {
            let json = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| exit_with(format!("IAM_AUTH_POLICY_FILE {path}: {e}")));
            let options = list("IAM_AUTH_POLICY_PUBLIC_SIDS")
                .into_iter()
                .fold(options, PolicyOptions::public_sid);
            let policy = Policy::from_json_with(&json, &options).unwrap_or_else(|e| {
                exit_with(format!(
                    "IAM_AUTH_POLICY_FILE {path} refused: {} at {:?}: {}",
                    e.code(),
                    e.pointer(),
                    e.message()
                ))
            });
            for lint in policy.lints() {
                eprintln!("policy warning: {lint}");
            }
            policy
        });
        if allowed_accounts.is_empty() && policy.is_none() && !allow_any_account {
            exit_with(
                "say who may come in: set IAM_AUTH_ALLOWED_ACCOUNTS (comma list of account ids), \
                 IAM_AUTH_POLICY_FILE (an IAM policy JSON file), or IAM_AUTH_ALLOW_ANY_ACCOUNT=1 \
                 (every principal of every AWS account)",
            );
        }
        Admission {
            allowed_accounts,
            policy,
            dry_run: flag("IAM_AUTH_POLICY_DRY_RUN"),
            allow_any_account,
            allow_anonymous: flag("IAM_AUTH_ALLOW_ANONYMOUS"),
        }
    }

    /// Applies it to a layer's configuration.
    pub fn apply(&self, mut config: IamAuthConfigBuilder) -> IamAuthConfigBuilder {
        if !self.allowed_accounts.is_empty() {
            config = config.allowed_accounts(self.allowed_accounts.clone());
        }
        if let Some(policy) = &self.policy {
            config = config.policy(policy.clone());
        }
        if self.allow_any_account {
            eprintln!(
                "WARNING: IAM_AUTH_ALLOW_ANY_ACCOUNT=1: every principal of every AWS account is let in"
            );
            config = config.allow_any_aws_account();
        }
        config
            .policy_dry_run(self.dry_run)
            .allow_anonymous(self.allow_anonymous)
    }
}

/// The proof settings every example server reads: formats, STS override, Vault header, cache
/// size, STS call budgets.
pub fn proof_settings(mut config: IamAuthConfigBuilder) -> IamAuthConfigBuilder {
    let formats = var("IAM_AUTH_FORMATS")
        .unwrap_or_else(|| "iam-v1".to_owned())
        .split(',')
        .map(|f| f.trim().parse::<ProofFormat>())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| exit_with(format!("IAM_AUTH_FORMATS: {e}")));
    config = config.formats(formats);
    if let Some(connect_to) = var("IAM_AUTH_STS_CONNECT_TO") {
        eprintln!(
            "WARNING: sending STS calls over plain HTTP to {connect_to} (IAM_AUTH_STS_CONNECT_TO)"
        );
        config = config.dangerous_sts_connect_to(connect_to);
    }
    if let Some(header) = var("IAM_AUTH_VAULT_AUDIENCE_HEADER") {
        config = config.vault_audience_header(header);
    }
    if let Some(entries) = var("IAM_AUTH_CACHE_MAX_ENTRIES") {
        let entries = entries
            .parse()
            .unwrap_or_else(|e| exit_with(format!("IAM_AUTH_CACHE_MAX_ENTRIES: {e}")));
        config = config.cache_max_entries(entries);
    }
    if let Some(rate) = sts_budget("IAM_AUTH_STS_BUDGET_PER_CLIENT") {
        config = config.sts_budget_per_client(rate.0, rate.1);
    }
    if let Some(rate) = sts_budget("IAM_AUTH_STS_BUDGET_PER_ACCESS_KEY") {
        config = config.sts_budget_per_access_key(rate.0, rate.1);
    }
    if let Some(rate) = sts_budget("IAM_AUTH_STS_BUDGET_OVERALL") {
        config = config.sts_budget_overall(rate.0, rate.1);
    }
    shared_cache(config)
}

/// The shared verification cache: `IAM_AUTH_REDIS_URL` and `IAM_AUTH_CACHE_SECRET_FILE`, both or
/// neither. A secret shorter than 32 bytes stops the server at start. Redis itself is contacted
/// on first use: a server starting while Redis is down serves through STS.
fn shared_cache(config: IamAuthConfigBuilder) -> IamAuthConfigBuilder {
    let (url, secret_file) = (var("IAM_AUTH_REDIS_URL"), var("IAM_AUTH_CACHE_SECRET_FILE"));
    let (url, secret_file) = match (url, secret_file) {
        (None, None) => return config,
        (Some(url), Some(file)) => (url, file),
        _ => exit_with("IAM_AUTH_REDIS_URL and IAM_AUTH_CACHE_SECRET_FILE go together"),
    };
    #[cfg(feature = "redis")]
    {
        use tower_iam_auth::cache::{CacheSecret, RedisStore};
        let contents = std::fs::read(&secret_file).unwrap_or_else(|e| {
            exit_with(format!("IAM_AUTH_CACHE_SECRET_FILE {secret_file}: {e}"))
        });
        let secret = CacheSecret::from_file_contents(&contents).unwrap_or_else(|e| {
            exit_with(format!("IAM_AUTH_CACHE_SECRET_FILE {secret_file}: {e}"))
        });
        let urls: Vec<&str> = url.split(',').map(str::trim).collect();
        let store = if urls.len() > 1 {
            RedisStore::cluster(urls)
        } else {
            RedisStore::new(&url)
        }
        .unwrap_or_else(|e| exit_with(format!("IAM_AUTH_REDIS_URL: {e}")));
        config.shared_cache(store, secret)
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, secret_file, config);
        exit_with("IAM_AUTH_REDIS_URL needs the `redis` feature: cargo run --features redis ...")
    }
}

/// An STS call budget, `CALLS/SECONDS` (`100/10`: a hundred calls per ten seconds).
fn sts_budget(name: &str) -> Option<(u32, std::time::Duration)> {
    let text = var(name)?;
    let parsed = text.split_once('/').and_then(|(calls, secs)| {
        Some((
            calls.trim().parse().ok()?,
            std::time::Duration::from_secs(secs.trim().parse().ok()?),
        ))
    });
    Some(
        parsed
            .unwrap_or_else(|| exit_with(format!("{name}: expected CALLS/SECONDS, got {text:?}"))),
    )
}

/// The configuration of a service protected by `IamAuthLayer`, as the environment says: its
/// audience (`IAM_AUTH_AUDIENCE`, required), who may come in, and the proof settings. Exits
/// when it is incomplete or refused.
pub fn service_config() -> tower_iam_auth::server::IamAuthConfig {
    service_config_with(|config, _| config)
}

/// [`service_config`], with `extra` adding an example's own settings to the builder (it is given
/// the audience).
pub fn service_config_with(
    extra: impl FnOnce(IamAuthConfigBuilder, &str) -> IamAuthConfigBuilder,
) -> tower_iam_auth::server::IamAuthConfig {
    let audience =
        var("IAM_AUTH_AUDIENCE").unwrap_or_else(|| exit_with("IAM_AUTH_AUDIENCE is required"));
    let admission = Admission::from_env(PolicyOptions::new());
    let config =
        proof_settings(tower_iam_auth::server::IamAuthConfig::builder().audience(&audience));
    admission
        .apply(extra(config, &audience))
        .build()
        .unwrap_or_else(|e| exit_with(e))
}

/// Installs the process's Prometheus recorder and returns the `GET /metrics` route that renders
/// it (text format). The library records through the `metrics` facade (feature `metrics`);
/// the exporter is the application's choice, here `metrics-exporter-prometheus`.
pub fn metrics_route<S: Clone + Send + Sync + 'static>() -> axum::routing::MethodRouter<S> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap_or_else(|e| exit_with(format!("metrics recorder: {e}")));
    axum::routing::get(move || {
        let handle = handle.clone();
        async move {
            handle.run_upkeep();
            (
                [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
        }
    })
}

/// Logs to stderr at `IAM_AUTH_LOG` (`error`, `warn`, `info` (default), `debug`, `trace`).
pub fn init_logging() {
    let level = var("IAM_AUTH_LOG")
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
}

/// The tower-http layers to put around an application that takes credentials: request spans
/// and logs (`TraceLayer`), with `Authorization` marked sensitive before anything logs it, so
/// that `TraceLayer` (and `Debug` of the request) prints `Sensitive` instead of the token.
/// `IamAuthLayer` marks it too, for the layers inside it; this covers the ones outside.
///
/// They wrap the router once, as a service, rather than each route (`Router::layer`): axum
/// clones a layered route's boxed service on every request at each level of layers, and for a
/// route whose service holds state (any authenticating layer does) each clone allocates.
pub fn with_http_tracing(router: axum::Router) -> HttpTracing {
    tower::ServiceBuilder::new()
        // Outermost: applied before TraceLayer sees the request.
        .layer(
            tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                http::header::AUTHORIZATION,
            ]),
        )
        // `axum::serve` takes axum's own body type.
        .map_response(to_axum_body as fn(_) -> _)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .service(router)
}

fn to_axum_body(response: http::Response<TracedBody>) -> http::Response<axum::body::Body> {
    response.map(axum::body::Body::new)
}

/// An application wrapped by [`with_http_tracing`].
pub type HttpTracing = tower_http::sensitive_headers::SetSensitiveRequestHeaders<
    tower::util::MapResponse<
        tower_http::trace::Trace<
            axum::Router,
            tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
        >,
        fn(http::Response<TracedBody>) -> http::Response<axum::body::Body>,
    >,
>;

type TracedBody = tower_http::trace::ResponseBody<
    axum::body::Body,
    tower_http::classify::NeverClassifyEos<tower_http::classify::ServerErrorsFailureClass>,
>;
