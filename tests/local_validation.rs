//! Every rule of DESIGN §3, broken one at a time. Each broken proof is refused with its own
//! reason code, and LocalSts's call counter shows that nothing reached STS.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use support::*;
use tower_iam_auth::proof::ProofFormat;

/// Signs a valid token, changes its URL, and expects a local refusal with `reason`.
macro_rules! refuses_url {
    ($name:ident, $reason:literal, |$url:ident| $mutation:expr) => {
        #[tokio::test]
        async fn $name() {
            let h = harness().await;
            let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
            let bad = mutate(&token, |$url: String| $mutation);
            assert_ne!(bad, token, "the mutation changed nothing");
            let answer = call(&h.app, Some(&bad)).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
            assert_eq!(answer.reason(), $reason, "{}", answer.json);
            assert_eq!(
                h.sts.calls(),
                0,
                "a proof that failed local validation reached STS"
            );
        }
    };
}

/// Signs a valid token, changes the token text itself, and expects a local refusal.
macro_rules! refuses_token {
    ($name:ident, $reason:literal, |$token:ident| $mutation:expr) => {
        #[tokio::test]
        async fn $name() {
            let h = harness().await;
            let $token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
            let bad: String = $mutation;
            let answer = call(&h.app, Some(&bad)).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.json);
            assert_eq!(answer.reason(), $reason, "{}", answer.json);
            assert_eq!(
                h.sts.calls(),
                0,
                "a proof that failed local validation reached STS"
            );
        }
    };
}

#[tokio::test]
async fn the_unmodified_token_is_accepted() {
    // The control for every case below: the same signer, untouched, passes.
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
    assert_eq!(h.sts.calls(), 1);
}

// Rule 1: size cap, exact base64url alphabet, UTF-8, no control characters.
refuses_token!(
    rejects_token_over_the_size_cap,
    "proof.too_large",
    |token| format!("{token}{}", "A".repeat(9000))
);
refuses_token!(
    rejects_standard_base64_alphabet,
    "proof.bad_encoding",
    |token| {
        // '+' and '/' belong to the standard alphabet, not to base64url.
        format!("iam-v1.+/{}", &token["iam-v1.".len() + 2..])
    }
);
refuses_token!(
    rejects_base64_padding,
    "proof.bad_encoding",
    |token| format!("{token}==")
);
refuses_token!(rejects_invalid_utf8, "proof.not_utf8", |token| {
    let mut bytes = url_of(&token).into_bytes();
    bytes.push(0xff);
    format!("iam-v1.{}", URL_SAFE_NO_PAD.encode(bytes))
});
refuses_token!(
    rejects_unknown_prefix,
    "proof.format_not_accepted",
    |token| token.replacen("iam-v1.", "iam-v2.", 1)
);
refuses_token!(
    rejects_eks_tokens_unless_enabled,
    "proof.format_not_accepted",
    |token| mutate(&token, |u| u).replacen("iam-v1.", "k8s-aws-v1.", 1)
);
refuses_url!(
    rejects_control_character,
    "proof.control_character",
    |url| format!("{url}\n")
);
refuses_url!(
    rejects_percent_encoded_control_character,
    "proof.param_encoding",
    |url| format!("{url}%0A")
);

// Rule 2: https, no userinfo, port or fragment, path "/", host exactly in the table.
refuses_url!(rejects_http_scheme, "proof.scheme_not_https", |url| url
    .replacen("https://", "http://", 1));
refuses_url!(rejects_userinfo, "proof.userinfo", |url| url.replacen(
    "https://",
    "https://attacker@",
    1
));
refuses_url!(rejects_explicit_port, "proof.port", |url| url.replacen(
    ".amazonaws.com/",
    ".amazonaws.com:443/",
    1
));
refuses_url!(rejects_fragment, "proof.fragment", |url| format!(
    "{url}#frag"
));
refuses_url!(rejects_other_path, "proof.path", |url| url.replacen(
    ".com/?",
    ".com/sts/?",
    1
));
refuses_url!(rejects_host_with_suffix, "proof.host_not_allowed", |url| {
    url.replacen("amazonaws.com/", "amazonaws.com.evil.example/", 1)
});
refuses_url!(rejects_host_with_prefix, "proof.host_not_allowed", |url| {
    url.replacen("https://sts.", "https://evil-sts.", 1)
});
refuses_url!(rejects_upper_case_host, "proof.host_not_allowed", |url| url
    .replacen("sts.us-east-1", "STS.us-east-1", 1));
refuses_url!(rejects_trailing_dot_host, "proof.host_not_allowed", |url| {
    url.replacen(".com/", ".com./", 1)
});
refuses_url!(rejects_ip_host, "proof.host_not_allowed", |url| url
    .replacen("sts.us-east-1.amazonaws.com", "127.0.0.1", 1));
refuses_url!(
    rejects_host_of_unconfigured_partition,
    "proof.host_not_allowed",
    |url| url.replacen(
        "sts.us-east-1.amazonaws.com",
        "sts.cn-north-1.amazonaws.com.cn",
        1
    )
);

// Rule 3: parameter allowlist, once each, no case twins, the one action and version.
refuses_url!(
    rejects_extra_parameter,
    "proof.param_not_allowed",
    |url| format!("{url}&Foo=bar")
);
refuses_url!(
    rejects_duplicate_parameter,
    "proof.param_duplicate",
    |url| format!("{url}&Version=2011-06-15")
);
refuses_url!(
    rejects_parameters_equal_ignoring_case,
    "proof.param_case_conflict",
    |url| format!("{url}&action=GetCallerIdentity")
);
refuses_url!(rejects_other_action, "proof.action", |url| set_param(
    &url,
    "Action",
    "AssumeRole"
));
refuses_url!(rejects_other_version, "proof.version", |url| set_param(
    &url,
    "Version",
    "2012-01-01"
));
refuses_url!(rejects_missing_signature, "proof.param_missing", |url| {
    let sig = format!("&X-Amz-Signature={}", param(&url, "X-Amz-Signature"));
    url.replacen(&sig, "", 1)
});
refuses_url!(
    rejects_non_canonical_encoding,
    "proof.param_encoding",
    |url| set_param(&url, "Version", "2011+06+15")
);

// Rule 4: SigV4 metadata.
refuses_url!(rejects_other_algorithm, "proof.algorithm", |url| set_param(
    &url,
    "X-Amz-Algorithm",
    "AWS4-HMAC-SHA512"
));
refuses_url!(
    rejects_scope_for_another_service,
    "proof.credential_scope",
    |url| {
        let credential = param(&url, "X-Amz-Credential").replacen("%2Fsts%2F", "%2Fs3%2F", 1);
        set_param(&url, "X-Amz-Credential", &credential)
    }
);
refuses_url!(
    rejects_scope_date_other_than_x_amz_date,
    "proof.scope_date_mismatch",
    |url| {
        let credential = param(&url, "X-Amz-Credential");
        let date = &param(&url, "X-Amz-Date")[..8];
        set_param(
            &url,
            "X-Amz-Credential",
            &credential.replacen(date, "19991231", 1),
        )
    }
);
refuses_url!(
    rejects_scope_region_other_than_host_region,
    "proof.scope_region_mismatch",
    |url| {
        let credential = param(&url, "X-Amz-Credential").replacen("us-east-1", "eu-west-1", 1);
        set_param(&url, "X-Amz-Credential", &credential)
    }
);
refuses_url!(
    rejects_signed_header_the_server_does_not_replay,
    "proof.signed_headers",
    |url| set_param(
        &url,
        "X-Amz-SignedHeaders",
        "host%3Bx-amz-date%3Bx-iam-audience"
    )
);
refuses_url!(rejects_unsigned_host, "proof.host_unsigned", |url| {
    set_param(&url, "X-Amz-SignedHeaders", "x-iam-audience")
});
refuses_url!(
    rejects_unsigned_audience,
    "proof.audience_unsigned",
    |url| set_param(&url, "X-Amz-SignedHeaders", "host")
);
refuses_url!(
    rejects_malformed_signature,
    "proof.signature_malformed",
    |url| {
        let signature = param(&url, "X-Amz-Signature").to_ascii_uppercase();
        set_param(&url, "X-Amz-Signature", &signature)
    }
);

// Rule 5: time.
refuses_url!(rejects_malformed_date, "proof.date_malformed", |url| {
    set_param(&url, "X-Amz-Date", "2026-11-22T10%3A00%3A00Z")
});
refuses_url!(rejects_zero_expires, "proof.expires_invalid", |url| {
    set_param(&url, "X-Amz-Expires", "0")
});
refuses_url!(
    rejects_expires_over_fifteen_minutes,
    "proof.expires_invalid",
    |url| set_param(&url, "X-Amz-Expires", "901")
);
refuses_url!(
    rejects_non_numeric_expires,
    "proof.expires_invalid",
    |url| set_param(&url, "X-Amz-Expires", "9e2")
);

#[tokio::test]
async fn rejects_signature_older_than_the_window_and_says_by_how_much() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let signed_at = h.clock.now() - Duration::from_secs(16 * 60);
    let token = token_signed_at(credentials, signed_at, ProofFormat::IamV1).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "proof.expired");
    let message = answer.json["message"].as_str().unwrap();
    assert!(
        message.contains("960s old") || message.contains("961s old"),
        "{message}"
    );
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn rejects_signature_from_beyond_the_allowed_skew() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let signed_at = h.clock.now() + Duration::from_secs(5 * 60);
    let token = token_signed_at(credentials, signed_at, ProofFormat::IamV1).await;

    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.reason(), "proof.not_yet_valid");
    assert!(
        answer.json["message"]
            .as_str()
            .unwrap()
            .contains("in the future")
    );
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn accepts_signature_dated_slightly_ahead_within_skew() {
    let h = harness().await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let token = token_signed_at(
        credentials,
        h.clock.now() + Duration::from_secs(30),
        ProofFormat::IamV1,
    )
    .await;
    assert_eq!(call(&h.app, Some(&token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn configured_shorter_window_is_enforced() {
    let h = harness_with(|b| b.max_proof_age(Duration::from_secs(120))).await;
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let token = token_signed_at(
        credentials,
        h.clock.now() - Duration::from_secs(180),
        ProofFormat::IamV1,
    )
    .await;
    assert_eq!(call(&h.app, Some(&token)).await.reason(), "proof.expired");
    assert_eq!(h.sts.calls(), 0);
}

/// A token of `format` presigned with `X-Amz-Expires=60`, two minutes ago.
async fn token_with_short_expiry_signed_two_minutes_ago(
    h: &Harness,
    format: ProofFormat,
) -> String {
    let credentials = h.sts.create_user(ACCOUNT, "alice");
    let at = h.clock.now() - Duration::from_secs(120);
    let token = tower_iam_auth::client::ProofSigner::builder(credentials)
        .audience(AUDIENCE)
        .format(format)
        .expires_in(Duration::from_secs(60))
        .refresh_margin(Duration::from_secs(10))
        .clock(move || at)
        .build()
        .unwrap()
        .sign_new()
        .await
        .unwrap();
    assert_eq!(param(&url_of(token.as_str()), "X-Amz-Expires"), "60");
    token.as_str().to_owned()
}

#[tokio::test]
async fn native_tokens_honour_x_amz_expires() {
    let h = harness().await;
    let token = token_with_short_expiry_signed_two_minutes_ago(&h, ProofFormat::IamV1).await;
    assert_eq!(call(&h.app, Some(&token)).await.reason(), "proof.expired");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn eks_tokens_live_for_the_window_like_aws_iam_authenticator_accepts_them() {
    // `aws eks get-token` sets X-Amz-Expires=60 but kubectl reuses the token for 14 minutes.
    let h = harness_with(|b| b.formats([ProofFormat::K8sAwsV1])).await;
    let token = token_with_short_expiry_signed_two_minutes_ago(&h, ProofFormat::K8sAwsV1).await;
    let answer = call(&h.app, Some(&token)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
}

#[tokio::test]
async fn rejects_malformed_session_token() {
    let h = harness().await;
    let token = token_for(h.sts.assume_role(ACCOUNT, "deployer", "s1")).await;
    let bad = mutate(&token, |url| {
        set_param(&url, "X-Amz-Security-Token", "a%21b")
    });
    let answer = call(&h.app, Some(&bad)).await;
    assert_eq!(answer.reason(), "proof.param_encoding");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn rejects_non_bearer_authorization() {
    let h = harness().await;
    let request = http::Request::get("/whoami")
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = call_request(&h.app, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.reason(), "token.missing");
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn rejects_two_authorization_headers() {
    let h = harness().await;
    let token = token_for(h.sts.create_user(ACCOUNT, "alice")).await;
    let request = http::Request::get("/whoami")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer other")
        .body(axum::body::Body::empty())
        .unwrap();
    let answer = call_request(&h.app, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 0);
}

#[tokio::test]
async fn rejects_token_with_characters_outside_b64token() {
    let h = harness().await;
    let answer = call(&h.app, Some("iam-v1.abc!def")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.reason(), "token.malformed");
    assert_eq!(h.sts.calls(), 0);
}
