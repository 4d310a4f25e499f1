//! Principal → application user: the verified caller is looked up by its normalized role ARN in
//! the application's own users table (SQLite, embedded: nothing to start), and handlers get the
//! user.
//!
//! ```text
//! cargo run --example user_mapping
//! ```
//!
//! The run is self-checking: a mapped role gets its user (and the lookup is made once for two
//! requests, the answer being cached), an authenticated role with no user row gets
//! `403 principal.unknown`.

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use tower::ServiceExt;
use tower_iam_auth::client::ProofSigner;
use tower_iam_auth::principal::IamPrincipal;
use tower_iam_auth::server::{AppUser, IamAuthConfig, IamAuthLayer, UserLayer, resolve_user_fn};
use tower_iam_auth::testing::LocalSts;

const AUDIENCE: &str = "orders-service";
const ACCOUNT: &str = "123456789012";

/// A row of the application's `users` table.
#[derive(Clone, Debug, Serialize)]
struct User {
    id: i64,
    name: String,
    role_arn: String,
}

/// The users table: who each IAM role is in this application.
fn open_users() -> rusqlite::Result<Connection> {
    let db = Connection::open_in_memory()?;
    db.execute_batch(
        "CREATE TABLE users (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             -- Normalized role ARN (no path: STS does not report it); IAM role names are
             -- case-insensitive, so the lookup is too.
             role_arn TEXT NOT NULL UNIQUE COLLATE NOCASE
         );
         INSERT INTO users (name, role_arn) VALUES
             ('orders team', 'arn:aws:iam::123456789012:role/orders-reader'),
             ('billing batch', 'arn:aws:iam::123456789012:role/billing-batch');",
    )?;
    Ok(db)
}

fn find_user(db: &Connection, principal: &IamPrincipal) -> rusqlite::Result<Option<User>> {
    db.query_row(
        "SELECT id, name, role_arn FROM users WHERE role_arn = ?1",
        [principal.arn()],
        |row| {
            Ok(User {
                id: row.get(0)?,
                name: row.get(1)?,
                role_arn: row.get(2)?,
            })
        },
    )
    .optional()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let sts = LocalSts::start().await?;
    let db = Arc::new(Mutex::new(open_users()?));
    let lookups = Arc::new(AtomicUsize::new(0));

    // The resolver: one query per principal, run off the async threads; cached by UserLayer.
    let resolver = {
        let lookups = lookups.clone();
        resolve_user_fn(move |principal: IamPrincipal| {
            let db = db.clone();
            lookups.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::task::spawn_blocking(move || {
                    let db = db
                        .lock()
                        .map_err(|_| "users database lock poisoned".to_owned())?;
                    find_user(&db, &principal).map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())?
            }
        })
    };
    let config = IamAuthConfig::builder()
        .audience(AUDIENCE)
        .allowed_accounts([ACCOUNT])
        .dangerous_sts_connect_to(sts.connect_to()) // only because STS is an emulator here
        .build()?;
    let app = Router::new()
        .route(
            "/me",
            get(|AppUser(user): AppUser<User>| async move { Json(user) }),
        )
        .layer(UserLayer::new(resolver))
        .layer(IamAuthLayer::new(config));

    let call = |credentials| {
        let app = app.clone();
        async move {
            let signer = ProofSigner::builder(credentials)
                .audience(AUDIENCE)
                .build()?;
            let request = http::Request::get("/me")
                .header(
                    "authorization",
                    format!("Bearer {}", signer.token().await?.as_str()),
                )
                .body(axum::body::Body::empty())?;
            let response = app.oneshot(request).await?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await?;
            let json: serde_json::Value = serde_json::from_slice(&body)?;
            Ok::<_, Box<dyn Error + Send + Sync>>((status, json))
        }
    };

    let reader = sts.assume_role(ACCOUNT, "orders-reader", "session-1");
    let (status, json) = call(reader.clone()).await?;
    println!("orders-reader: {status} {json}");
    check(
        status == 200 && json["name"] == "orders team",
        "mapped role",
    )?;
    let (status, _) = call(reader).await?;
    check(status == 200, "mapped role, second request")?;
    println!(
        "second request: {status}, user lookups so far: {}",
        lookups.load(Ordering::SeqCst)
    );
    check(
        lookups.load(Ordering::SeqCst) == 1,
        "one lookup for two requests",
    )?;

    let stranger = sts.assume_role(ACCOUNT, "intern", "session-2");
    let (status, json) = call(stranger).await?;
    println!("intern (no user row): {status} {json}");
    check(
        status == 403 && json["reason"] == "principal.unknown",
        "unmapped role is refused",
    )?;

    println!("\nuser_mapping ok");
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error + Send + Sync>> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}
