//! Policies refused at load (AUTHZ §5): each refusal with its stable code and the RFC 6901 JSON
//! pointer of the offending element; the lints of policies that load; round trips through
//! `to_json`; and the builder refusing what the JSON refuses.
#![cfg(feature = "server")]

use std::collections::BTreeSet;

use http::{HeaderMap, Method, Uri};
use tower_iam_auth::policy::{
    AuthzRequest, Outcome, Policy, PolicyErrorCode, PolicyOptions, StatementBuilder,
};
use tower_iam_auth::principal::IamPrincipal;

/// The service ARN configured for the cases that need one.
const SERVICE: &str = "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0";

/// `(name, document, code, pointer)`: whole documents, loaded with the default options.
const DOCUMENTS: &[(&str, &str, &str, &str)] = &[
    ("not_json", "not json", "policy.malformed", ""),
    ("empty_input", "", "policy.malformed", ""),
    (
        "trailing_garbage",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*",
            "Action": "*", "Resource": "*"}} {"Statement": []}"#,
        "policy.malformed",
        "",
    ),
    ("document_is_an_array", "[]", "policy.malformed", ""),
    (
        "document_is_a_string",
        r#""policy""#,
        "policy.malformed",
        "",
    ),
    (
        "duplicate_key_depth_1_two_statements",
        r#"{"Version": "2012-10-17",
            "Statement": {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
            "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}"#,
        "policy.duplicate_key",
        "/Statement",
    ),
    (
        "duplicate_key_depth_3_two_effects",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Effect": "Allow",
            "Principal": "*", "Action": "*", "Resource": "*"}]}"#,
        "policy.duplicate_key",
        "/Statement/0/Effect",
    ),
    (
        "duplicate_key_depth_3_in_second_statement",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*", "Resource": "*/x"}]}"#,
        "policy.duplicate_key",
        "/Statement/1/Resource",
    ),
    (
        "duplicate_key_in_statement_object",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*",
            "Action": "*", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*"}}"#,
        "policy.duplicate_key",
        "/Statement/Action",
    ),
    (
        "duplicate_key_depth_5_same_condition_key",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": "alice", "aws:username": "mallory"}}}]}"#,
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals/aws:username",
    ),
    (
        "duplicate_key_two_operators",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": "alice"},
                          "StringEquals": {"aws:userid": "AIDAEXAMPLEUSERID123"}}}]}"#,
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals",
    ),
    (
        "duplicate_key_inside_principal",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "123456789012", "AWS": "*"}, "Action": "*", "Resource": "*"}]}"#,
        "policy.duplicate_key",
        "/Statement/0/Principal/AWS",
    ),
    (
        "duplicate_key_with_slash_is_escaped_in_pointer",
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestHeader/x-team": "a",
                                           "vpc-lattice-svcs:RequestHeader/x-team": "b"}}}]}"#,
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals/vpc-lattice-svcs:RequestHeader~1x-team",
    ),
    (
        "duplicate_sid",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "Same", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Sid": "Other", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Sid": "Same", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*/x"}]}"#,
        "policy.duplicate_sid",
        "/Statement/2/Sid",
    ),
    (
        "unknown_top_level_element",
        r#"{"Version": "2012-10-17", "Statement": [], "Comment": "x"}"#,
        "policy.malformed",
        "/Comment",
    ),
    (
        "miscased_top_level_element",
        r#"{"version": "2012-10-17", "Statement": []}"#,
        "policy.malformed",
        "/version",
    ),
    (
        "unknown_version",
        r#"{"Version": "2012-10-18", "Statement": {"Effect": "Deny", "Principal": "*",
            "Action": "*", "Resource": "*"}}"#,
        "policy.bad_value",
        "/Version",
    ),
    (
        "no_statement",
        r#"{"Version": "2012-10-17"}"#,
        "policy.malformed",
        "",
    ),
    (
        "empty_statement_list",
        r#"{"Version": "2012-10-17", "Statement": []}"#,
        "policy.malformed",
        "/Statement",
    ),
    (
        "statement_is_a_string",
        r#"{"Version": "2012-10-17", "Statement": "Allow"}"#,
        "policy.malformed",
        "/Statement",
    ),
    (
        "statement_entry_is_not_an_object",
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}, 7]}"#,
        "policy.malformed",
        "/Statement/1",
    ),
];

/// `(name, statement, code, pointer)`: one statement, the only one of a 2012-10-17 document,
/// loaded with the default options.
const STATEMENTS: &[(&str, &str, &str, &str)] = &[
    // Elements.
    (
        "missing_effect",
        r#"{"Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0",
    ),
    (
        "effect_lower_case",
        r#"{"Effect": "allow", "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}"#,
        "policy.bad_value",
        "/Statement/0/Effect",
    ),
    (
        "effect_not_a_string",
        r#"{"Effect": true, "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}"#,
        "policy.bad_value",
        "/Statement/0/Effect",
    ),
    (
        "miscased_element_effect",
        r#"{"effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/effect",
    ),
    (
        "miscased_element_principal",
        r#"{"Effect": "Allow", "principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/principal",
    ),
    (
        "unknown_statement_element",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*",
            "Conditions": {}}"#,
        "policy.malformed",
        "/Statement/0/Conditions",
    ),
    (
        "empty_sid",
        r#"{"Sid": "", "Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*"}"#,
        "policy.bad_value",
        "/Statement/0/Sid",
    ),
    (
        "missing_principal",
        r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0",
    ),
    (
        "missing_action",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0",
    ),
    (
        "missing_resource",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*"}"#,
        "policy.malformed",
        "/Statement/0",
    ),
    (
        "both_principal_and_not_principal",
        r#"{"Effect": "Deny", "Principal": {"AWS": "123456789012"},
            "NotPrincipal": {"AWS": "210987654321"}, "Action": "*", "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/NotPrincipal",
    ),
    (
        "both_action_and_not_action",
        r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "NotAction": "s3:*",
            "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/NotAction",
    ),
    (
        "both_resource_and_not_resource",
        r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "NotResource": "*/x",
            "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/Resource",
    ),
    (
        "empty_action_list",
        r#"{"Effect": "Deny", "Principal": "*", "Action": [], "Resource": "*"}"#,
        "policy.malformed",
        "/Statement/0/Action",
    ),
    (
        "resource_entry_not_a_string",
        r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": ["*", 1]}"#,
        "policy.malformed",
        "/Statement/0/Resource/1",
    ),
    // Principal.
    (
        "not_principal_with_allow",
        r#"{"Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/NotPrincipal",
    ),
    (
        "principal_service",
        r#"{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*",
            "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/Service",
    ),
    (
        "principal_federated",
        r#"{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/Federated",
    ),
    (
        "principal_canonical_user",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012",
            "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
            "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/CanonicalUser",
    ),
    (
        "principal_partial_wildcard_role",
        r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/*"},
            "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS",
    ),
    (
        "principal_partial_wildcard_in_list",
        r#"{"Effect": "Allow", "Principal": {"AWS": ["123456789012",
            "arn:aws:iam::123456789012:user/ali?e"]}, "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS/1",
    ),
    (
        "principal_eleven_digit_account",
        r#"{"Effect": "Allow", "Principal": {"AWS": "12345678901"}, "Action": "*",
            "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS",
    ),
    (
        "principal_eleven_digit_account_in_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::12345678901:root"]},
            "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS/0",
    ),
    (
        "principal_unknown_partition",
        r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws-moon:iam::123456789012:root"},
            "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS",
    ),
    (
        "principal_variable",
        r#"{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:user/${aws:username}"},
            "Action": "*", "Resource": "*"}"#,
        "policy.variable",
        "/Statement/0/Principal/AWS",
    ),
    (
        "principal_empty_list",
        r#"{"Effect": "Allow", "Principal": {"AWS": []}, "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS",
    ),
    (
        "principal_bare_account_string",
        r#"{"Effect": "Allow", "Principal": "123456789012", "Action": "*", "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal",
    ),
    (
        "principal_s3_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:s3:::bucket"}, "Action": "*",
            "Resource": "*"}"#,
        "policy.principal",
        "/Statement/0/Principal/AWS",
    ),
    // Action.
    (
        "action_never_invoke",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject",
            "Resource": "*"}"#,
        "policy.action_never_applies",
        "/Statement/0/Action",
    ),
    (
        "action_list_never_invoke",
        r#"{"Effect": "Deny", "Principal": "*", "Action": ["s3:*", "vpc-lattice:*"],
            "Resource": "*"}"#,
        "policy.action_never_applies",
        "/Statement/0/Action",
    ),
    (
        "not_action_star",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "NotAction": "*",
            "Resource": "*"}"#,
        "policy.action_never_applies",
        "/Statement/0/NotAction",
    ),
    (
        "action_variable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"},
            "Action": ["vpc-lattice-svcs:Invoke", "vpc-lattice-svcs:${aws:username}"],
            "Resource": "*"}"#,
        "policy.variable",
        "/Statement/0/Action/1",
    ),
    (
        "action_without_service",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "Invoke",
            "Resource": "*"}"#,
        "policy.bad_value",
        "/Statement/0/Action",
    ),
    // Resource.
    (
        "resource_bare_path",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "/orders"}"#,
        "policy.resource",
        "/Statement/0/Resource",
    ),
    (
        "resource_arn_without_service_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": ["*/orders",
            "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0/orders"]}"#,
        "policy.resource",
        "/Statement/0/Resource/1",
    ),
    (
        "resource_unknown_variable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*/home/${aws:nope}/*"}"#,
        "policy.variable",
        "/Statement/0/Resource",
    ),
    // Condition blocks.
    (
        "condition_not_an_object",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": ["StringEquals"]}"#,
        "policy.malformed",
        "/Statement/0/Condition",
    ),
    (
        "operator_without_keys",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {}}}"#,
        "policy.malformed",
        "/Statement/0/Condition/StringEquals",
    ),
    (
        "duplicate_condition_key_other_case",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"aws:username": "alice", "AWS:UserName": "mallory"}}}"#,
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals/AWS:UserName",
    ),
    (
        "duplicate_header_key_other_case",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"vpc-lattice-svcs:RequestHeader/X-Team": "a",
             "VPC-Lattice-Svcs:requestheader/x-team": "b"}}}"#,
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals/VPC-Lattice-Svcs:requestheader~1x-team",
    ),
    // Condition keys.
    (
        "unknown_condition_key",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:nope": "x"}}}"#,
        "policy.unknown_condition_key",
        "/Statement/0/Condition/StringEquals/aws:nope",
    ),
    (
        "unknown_lattice_condition_key",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestVerb": "GET"}}}"#,
        "policy.unknown_condition_key",
        "/Statement/0/Condition/StringEquals/vpc-lattice-svcs:RequestVerb",
    ),
    (
        "principal_org_id_unavailable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringEquals/aws:PrincipalOrgID",
    ),
    (
        "principal_tag_unavailable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringEquals/aws:PrincipalTag~1team",
    ),
    (
        "source_vpc_unavailable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringEquals/aws:SourceVpc",
    ),
    (
        "source_ip_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/IpAddress/aws:SourceIp",
    ),
    (
        "port_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericEquals": {"vpc-lattice-svcs:Port": 443}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/NumericEquals/vpc-lattice-svcs:Port",
    ),
    (
        "service_arn_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ArnEquals": {"vpc-lattice-svcs:ServiceArn":
            "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/ArnEquals/vpc-lattice-svcs:ServiceArn",
    ),
    (
        "service_network_arn_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ArnLike": {"vpc-lattice-svcs:ServiceNetworkArn": "*"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/ArnLike/vpc-lattice-svcs:ServiceNetworkArn",
    ),
    (
        "token_audience_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"tower-iam-auth:TokenAudience": "api"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringEquals/tower-iam-auth:TokenAudience",
    ),
    (
        "route_without_option",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"tower-iam-auth:Route": "/orders/{id}"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringEquals/tower-iam-auth:Route",
    ),
    (
        "authorization_header_unreadable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringLike":
            {"vpc-lattice-svcs:RequestHeader/authorization": "Bearer *"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringLike/vpc-lattice-svcs:RequestHeader~1authorization",
    ),
    (
        "cookie_header_unreadable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringLike":
            {"vpc-lattice-svcs:RequestHeader/Cookie": "*session=*"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/StringLike/vpc-lattice-svcs:RequestHeader~1Cookie",
    ),
    (
        "security_token_header_unreadable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"Null":
            {"vpc-lattice-svcs:RequestHeader/x-amz-security-token": "false"}}}"#,
        "policy.key_unavailable",
        "/Statement/0/Condition/Null/vpc-lattice-svcs:RequestHeader~1x-amz-security-token",
    ),
    (
        "header_name_invalid",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"vpc-lattice-svcs:RequestHeader/x team": "a"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/StringEquals/vpc-lattice-svcs:RequestHeader~1x team",
    ),
    (
        "query_key_empty",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ForAnyValue:StringEquals":
            {"vpc-lattice-svcs:RequestQueryString/": "a"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/ForAnyValue:StringEquals/vpc-lattice-svcs:RequestQueryString~1",
    ),
    // Operators.
    (
        "operator_misspelled",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEqual": {"aws:username": "alice"}}}"#,
        "policy.unknown_operator",
        "/Statement/0/Condition/StringEqual",
    ),
    (
        "operator_miscased",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"stringequals": {"aws:username": "alice"}}}"#,
        "policy.unknown_operator",
        "/Statement/0/Condition/stringequals",
    ),
    (
        "set_prefix_misspelled",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ForAnyValues:StringEquals":
            {"vpc-lattice-svcs:RequestQueryString/x": "1"}}}"#,
        "policy.unknown_operator",
        "/Statement/0/Condition/ForAnyValues:StringEquals",
    ),
    (
        "null_if_exists",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NullIfExists": {"aws:username": "false"}}}"#,
        "policy.unknown_operator",
        "/Statement/0/Condition/NullIfExists",
    ),
    (
        "binary_equals",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"BinaryEquals": {"aws:username": "YWxpY2U="}}}"#,
        "policy.unknown_operator",
        "/Statement/0/Condition/BinaryEquals",
    ),
    // Operator types.
    (
        "numeric_on_principal_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericEquals": {"aws:PrincipalArn": "1"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/NumericEquals/aws:PrincipalArn",
    ),
    (
        "date_on_username",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"DateLessThan": {"aws:username": "2030-01-01"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/DateLessThan/aws:username",
    ),
    (
        "ip_on_username",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"IpAddress": {"aws:username": "10.0.0.1"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/IpAddress/aws:username",
    ),
    (
        "bool_on_principal_type",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"Bool": {"aws:PrincipalType": "true"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/Bool/aws:PrincipalType",
    ),
    (
        "arn_on_principal_account",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ArnLike": {"aws:PrincipalAccount": "123456789012"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/ArnLike/aws:PrincipalAccount",
    ),
    (
        "for_any_value_on_single_valued_key",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:username": "alice"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/ForAnyValue:StringEquals/aws:username",
    ),
    (
        "plain_operator_on_query_string",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"vpc-lattice-svcs:RequestQueryString/x": "1"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/StringEquals/vpc-lattice-svcs:RequestQueryString~1x",
    ),
    (
        "null_with_set_prefix",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ForAllValues:Null":
            {"vpc-lattice-svcs:RequestQueryString/x": "true"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/ForAllValues:Null/vpc-lattice-svcs:RequestQueryString~1x",
    ),
    // Values.
    (
        "numeric_value_word",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericLessThan": {"aws:EpochTime": "ten"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/NumericLessThan/aws:EpochTime",
    ),
    (
        "numeric_value_exponent",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericLessThan": {"aws:EpochTime": ["1", "1e3"]}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/NumericLessThan/aws:EpochTime/1",
    ),
    (
        "numeric_json_number_with_fraction",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericLessThan": {"aws:EpochTime": [1, 1.5]}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/NumericLessThan/aws:EpochTime/1",
    ),
    (
        "numeric_json_number_with_exponent",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NumericLessThan": {"aws:EpochTime": 1e3}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/NumericLessThan/aws:EpochTime",
    ),
    (
        "date_month_13",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2024-13-01"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/DateLessThan/aws:CurrentTime",
    ),
    (
        "date_february_30",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"DateLessThan":
            {"aws:CurrentTime": ["2024-02-29T00:00:00Z", "2024-02-30T00:00:00Z"]}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/DateLessThan/aws:CurrentTime/1",
    ),
    (
        "bool_yes",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"Bool": {"tower-iam-auth:Anonymous": "yes"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/Bool/tower-iam-auth:Anonymous",
    ),
    (
        "null_maybe",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"Null": {"aws:username": "maybe"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/Null/aws:username",
    ),
    (
        "null_two_values",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"Null": {"aws:username": ["true", "false"]}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/Null/aws:username",
    ),
    (
        "arn_like_not_an_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "not-an-arn"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/ArnLike/aws:PrincipalArn",
    ),
    (
        "empty_value_list",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:username": []}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/StringEquals/aws:username",
    ),
    (
        "value_is_an_object",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:username": {"is": "alice"}}}}"#,
        "policy.malformed",
        "/Statement/0/Condition/StringEquals/aws:username",
    ),
    (
        "value_is_null_in_list",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:username": ["alice", null]}}}"#,
        "policy.malformed",
        "/Statement/0/Condition/StringEquals/aws:username/1",
    ),
    // Variables.
    (
        "unknown_variable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:username": "${aws:nope}"}}}"#,
        "policy.variable",
        "/Statement/0/Condition/StringEquals/aws:username",
    ),
    (
        "malformed_variable",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringLike":
            {"vpc-lattice-svcs:RequestPath": ["/home/*", "/home/${aws:username"]}}}"#,
        "policy.variable",
        "/Statement/0/Condition/StringLike/vpc-lattice-svcs:RequestPath/1",
    ),
    (
        "variable_naming_a_multi_valued_key",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"aws:username": "${vpc-lattice-svcs:RequestQueryString/u}"}}}"#,
        "policy.variable",
        "/Statement/0/Condition/StringEquals/aws:username",
    ),
    // Role paths.
    (
        "principal_arn_pattern_needs_role_path",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"ArnLike":
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/team/*"}}}"#,
        "policy.needs_role_path",
        "/Statement/0/Condition/ArnLike/aws:PrincipalArn",
    ),
    (
        "principal_arn_string_needs_role_path",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalArn":
            ["arn:aws:iam::123456789012:role/reader", "arn:aws:iam::123456789012:role/team/writer"]}}}"#,
        "policy.needs_role_path",
        "/Statement/0/Condition/StringEquals/aws:PrincipalArn/1",
    ),
    // Unpinned allows.
    (
        "unpinned_allow_bare_star",
        r#"{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_aws_star",
        r#"{"Effect": "Allow", "Principal": {"AWS": ["123456789012", "*"]},
            "Action": "vpc-lattice-svcs:Invoke", "Resource": "*/orders"}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_negated_account",
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_account_like_star",
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalAccount": "*"}}}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_account_if_exists",
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringEqualsIfExists": {"aws:PrincipalAccount": "123456789012"}}}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_arn_any_account",
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deployer"}}}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
    (
        "unpinned_allow_principal_type_only",
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalType": "AssumedRole"}}}"#,
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    ),
];

/// `(name, statement, code, pointer)`: like [`STATEMENTS`], loaded with [`configured`] options.
const CONFIGURED_STATEMENTS: &[(&str, &str, &str, &str)] = &[
    (
        "ip_with_host_bits",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.1.2.3/8"}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/IpAddress/aws:SourceIp",
    ),
    (
        "ip_prefix_33",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"NotIpAddressIfExists":
            {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/33"]}}}"#,
        "policy.bad_value",
        "/Statement/0/Condition/NotIpAddressIfExists/aws:SourceIp/1",
    ),
    (
        "resource_of_another_service",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0fffffffffffffff0/*"}"#,
        "policy.resource",
        "/Statement/0/Resource",
    ),
    (
        "resource_of_another_account",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": ["arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0/*",
            "arn:aws:vpc-lattice:us-east-1:210987654321:service/svc-0123456789abcdef0/*"]}"#,
        "policy.resource",
        "/Statement/0/Resource/1",
    ),
    (
        "resource_bare_path_with_service_arn",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "/orders/*"}"#,
        "policy.resource",
        "/Statement/0/Resource",
    ),
    (
        "ip_on_port",
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"IpAddress": {"vpc-lattice-svcs:Port": "10.0.0.1"}}}"#,
        "policy.type_mismatch",
        "/Statement/0/Condition/IpAddress/vpc-lattice-svcs:Port",
    ),
];

/// Options that make every optional key and the service ARN available.
fn configured() -> PolicyOptions {
    PolicyOptions::new()
        .service_arn(SERVICE)
        .service_network_arn(
            "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0",
        )
        .port(443)
        .source_ip(true)
        .token_audience(true)
        .route(true)
}

/// A one-statement 2012-10-17 document.
fn document(statement: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#)
}

/// Documents that are generated rather than written: too many statements, too many bytes, too
/// deep. `(name, document, code, pointer)`.
fn generated_cases() -> Vec<(String, String, &'static str, String)> {
    let deny = r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}"#;
    let statements = |n: usize| {
        let list = vec![deny; n].join(",");
        format!(r#"{{"Version": "2012-10-17", "Statement": [{list}]}}"#)
    };
    let mut padded = document(deny);
    padded.push_str(&" ".repeat(64 * 1024 + 1 - padded.len()));
    vec![
        (
            "statements_257".to_owned(),
            statements(257),
            "policy.too_large",
            "/Statement".to_owned(),
        ),
        (
            "document_over_64_kib".to_owned(),
            padded,
            "policy.too_large",
            String::new(),
        ),
        (
            "nesting_17_deep".to_owned(),
            nested_condition_value(12),
            "policy.too_large",
            format!(
                "/Statement/0/Condition/StringEquals/aws:username{}",
                "/0".repeat(11)
            ),
        ),
    ]
}

/// A document whose condition value is `arrays` nested arrays: the value array sits at depth 6,
/// so the deepest array is at depth `5 + arrays`.
fn nested_condition_value(arrays: usize) -> String {
    let value = format!(r#"{}"alice"{}"#, "[".repeat(arrays), "]".repeat(arrays));
    document(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "123456789012"}}, "Action": "*",
            "Resource": "*", "Condition": {{"StringEquals": {{"aws:username": {value}}}}}}}"#
    ))
}

/// Every case: `(name, document, options, code, pointer)`.
fn all_cases() -> Vec<(String, String, PolicyOptions, &'static str, String)> {
    let mut cases = Vec::new();
    for (name, json, code, pointer) in DOCUMENTS {
        cases.push((
            (*name).to_owned(),
            (*json).to_owned(),
            PolicyOptions::new(),
            *code,
            (*pointer).to_owned(),
        ));
    }
    for (name, statement, code, pointer) in STATEMENTS {
        cases.push((
            (*name).to_owned(),
            document(statement),
            PolicyOptions::new(),
            *code,
            (*pointer).to_owned(),
        ));
    }
    for (name, statement, code, pointer) in CONFIGURED_STATEMENTS {
        cases.push((
            (*name).to_owned(),
            document(statement),
            configured(),
            *code,
            (*pointer).to_owned(),
        ));
    }
    for (name, json, code, pointer) in generated_cases() {
        cases.push((name, json, PolicyOptions::new(), code, pointer));
    }
    cases
}

/// The refusal of `json`, or a panic naming `what` if it loads.
fn refusal(what: &str, json: &str, options: &PolicyOptions) -> (&'static str, String) {
    match Policy::from_json_with(json, options) {
        Ok(policy) => panic!("{what}: loaded, lints {:?}", policy.lints()),
        Err(err) => (err.code().as_str(), err.pointer().to_owned()),
    }
}

fn assert_refused(json: &str, options: &PolicyOptions, code: &str, pointer: &str) {
    let (got_code, got_pointer) = refusal(json, json, options);
    assert_eq!((got_code, got_pointer.as_str()), (code, pointer), "{json}");
}

fn load(json: &str) -> Policy {
    load_with(json, &PolicyOptions::new())
}

fn load_with(json: &str, options: &PolicyOptions) -> Policy {
    Policy::from_json_with(json, options).unwrap_or_else(|err| panic!("{err}\n{json}"))
}

/// `(code, pointer)` of every lint.
fn lints(policy: &Policy) -> Vec<(&'static str, String)> {
    policy
        .lints()
        .iter()
        .map(|l| (l.code(), l.pointer().to_owned()))
        .collect()
}

fn role_session(account: &str) -> IamPrincipal {
    tower_iam_auth::testing::principal(
        &format!("arn:aws:sts::{account}:assumed-role/deployer/ci"),
        "AROAEXAMPLEID1234567:ci",
    )
    .unwrap()
}

fn user(arn: &str) -> IamPrincipal {
    tower_iam_auth::testing::principal(arn, "AIDAEXAMPLEUSERID123").unwrap()
}

/// The outcome of `GET path` by `principal` (anonymous when `None`).
fn outcome(policy: &Policy, principal: Option<&IamPrincipal>, path: &str) -> Outcome {
    let (method, uri, headers) = (Method::GET, path.parse::<Uri>().unwrap(), HeaderMap::new());
    let request = AuthzRequest::new(&method, &uri, &headers).principal(principal);
    policy.evaluate(&request).unwrap().outcome()
}

#[test]
fn every_case_is_refused_with_its_code_at_its_pointer() {
    let cases = all_cases();
    let mut mismatches = Vec::new();
    for (name, json, options, code, pointer) in &cases {
        match Policy::from_json_with(json, options) {
            Ok(policy) => mismatches.push(format!(
                "{name}: loaded (lints {:?}), expected {code} at {pointer:?}",
                policy.lints()
            )),
            Err(err) if err.code().as_str() != *code || err.pointer() != pointer => {
                mismatches.push(format!(
                    "{name}: got {} at {:?} ({}), expected {code} at {pointer:?}",
                    err.code(),
                    err.pointer(),
                    err.message()
                ));
            }
            Err(err) => assert!(!err.message().is_empty(), "{name}: empty message"),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn cases_have_distinct_names_and_documents_and_there_are_enough() {
    let cases = all_cases();
    let mut names = BTreeSet::new();
    let mut documents = std::collections::BTreeMap::new();
    for (name, json, ..) in &cases {
        assert!(names.insert(name.as_str()), "two cases named {name}");
        if let Some(other) = documents.insert(json.as_str(), name.as_str()) {
            panic!("{other} and {name} are the same document");
        }
    }
    assert!(cases.len() >= 45, "{} cases", cases.len());
}

#[test]
fn every_error_code_is_covered() {
    let seen: BTreeSet<&str> = all_cases()
        .iter()
        .filter_map(|(_, json, options, _, _)| Policy::from_json_with(json, options).err())
        .map(|err| err.code().as_str())
        .collect();
    let missing: Vec<&str> = PolicyErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(missing.is_empty(), "no case refused with {missing:?}");
    for code in PolicyErrorCode::ALL {
        assert!(code.as_str().starts_with("policy."), "{code}");
        assert_eq!(code.to_string(), code.as_str());
    }
}

#[test]
fn error_display_names_code_and_pointer() {
    let err = Policy::from_json(&document(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}"#,
    ))
    .unwrap_err();
    assert_eq!(err.code(), PolicyErrorCode::UnpinnedAllow);
    assert_eq!(err.pointer(), "/Statement/0/Principal");
    assert!(
        err.to_string()
            .starts_with("policy.unpinned_allow at \"/Statement/0/Principal\": "),
        "{err}"
    );
    assert!(err.message().contains("public_sid"), "{err}");
}

#[test]
fn duplicate_keys_are_refused_at_every_depth() {
    let depth_1 = r#"{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*",
        "Resource": "*"}, "Version": "2012-10-17", "Statement": []}"#;
    assert_refused(
        depth_1,
        &PolicyOptions::new(),
        "policy.duplicate_key",
        "/Statement",
    );
    let depth_3 = document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Effect": "Deny",
            "Action": "*", "Resource": "*"}"#,
    );
    assert_refused(
        &depth_3,
        &PolicyOptions::new(),
        "policy.duplicate_key",
        "/Statement/0/Effect",
    );
    let depth_5 = document(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "123456789012",
            "aws:PrincipalAccount": "210987654321"}}}"#,
    );
    assert_refused(
        &depth_5,
        &PolicyOptions::new(),
        "policy.duplicate_key",
        "/Statement/0/Condition/StringNotEquals/aws:PrincipalAccount",
    );
    let principal = document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012", "AWS": "210987654321"},
            "Action": "*", "Resource": "*"}"#,
    );
    assert_refused(
        &principal,
        &PolicyOptions::new(),
        "policy.duplicate_key",
        "/Statement/0/Principal/AWS",
    );
    // Condition key names are case-insensitive: these are the same key twice.
    let other_case = document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals":
            {"aws:username": "alice", "AWS:UserName": "mallory"}}}"#,
    );
    assert_refused(
        &other_case,
        &PolicyOptions::new(),
        "policy.duplicate_key",
        "/Statement/0/Condition/StringEquals/AWS:UserName",
    );
    // The same key under two operators is two conditions, not a duplicate.
    load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:username": "alice"},
            "StringLike": {"AWS:UserName": "a*"}}}"#,
    ));
}

#[test]
fn unpinned_allow_is_refused_unless_its_sid_is_public() {
    let open = document(
        r#"{"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "*",
            "Resource": "*/health"}"#,
    );
    assert_refused(
        &open,
        &PolicyOptions::new(),
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    );
    // Another Sid listed as public does not help.
    assert_refused(
        &open,
        &PolicyOptions::new().public_sid("Health"),
        "policy.unpinned_allow",
        "/Statement/0/Principal",
    );
    let policy = load_with(&open, &PolicyOptions::new().public_sid("Public"));
    assert!(lints(&policy).is_empty(), "{:?}", policy.lints());
    assert_eq!(outcome(&policy, None, "/health"), Outcome::Allow);
    let stranger = role_session("999999999999");
    assert_eq!(outcome(&policy, Some(&stranger), "/health"), Outcome::Allow);
    assert_eq!(outcome(&policy, None, "/orders"), Outcome::ImplicitDeny);
}

#[test]
fn principal_star_with_account_condition_is_pinned() {
    let pinned = document(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "vpc-lattice-svcs:Invoke",
            "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}}"#,
    );
    let policy = load(&pinned);
    assert!(lints(&policy).is_empty(), "{:?}", policy.lints());
    let ours = role_session("123456789012");
    let stranger = role_session("999999999999");
    assert_eq!(outcome(&policy, Some(&ours), "/x"), Outcome::Allow);
    assert_eq!(
        outcome(&policy, Some(&stranger), "/x"),
        Outcome::ImplicitDeny
    );
    assert_eq!(outcome(&policy, None, "/x"), Outcome::ImplicitDeny);

    // A literal account in ArnLike, or a unique id, pins too.
    for condition in [
        r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}"#,
        r#"{"StringLike": {"aws:userid": "AROAEXAMPLEID1234567:*"}}"#,
    ] {
        let policy = load(&document(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {condition}}}"#
        )));
        assert_eq!(outcome(&policy, Some(&ours), "/x"), Outcome::Allow);
        assert_eq!(outcome(&policy, None, "/x"), Outcome::ImplicitDeny);
    }
}

#[test]
fn unpinned_variants_are_refused() {
    for condition in [
        r#"{"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}"#,
        r#"{"StringLike": {"aws:PrincipalAccount": "*"}}"#,
        r#"{"StringLike": {"aws:PrincipalAccount": "1234567890*"}}"#,
        r#"{"StringEquals": {"aws:PrincipalAccount": ["123456789012", "${aws:username}"]}}"#,
        r#"{"ForAnyValue:StringEquals": {"vpc-lattice-svcs:RequestQueryString/account": "123456789012"}}"#,
    ] {
        let json = document(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                "Condition": {condition}}}"#
        ));
        assert_refused(
            &json,
            &PolicyOptions::new(),
            "policy.unpinned_allow",
            "/Statement/0/Principal",
        );
    }
}

#[test]
fn too_many_statements_bytes_or_levels_are_too_large() {
    let deny = r#"{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}"#;
    let statements = |n: usize| {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
            vec![deny; n].join(",")
        )
    };
    assert_eq!(load(&statements(256)).len(), 256);
    assert_refused(
        &statements(257),
        &PolicyOptions::new(),
        "policy.too_large",
        "/Statement",
    );

    let mut exact = document(deny);
    exact.push_str(&" ".repeat(tower_iam_auth::policy::MAX_POLICY_BYTES - exact.len()));
    assert_eq!(exact.len(), 64 * 1024);
    load(&exact);
    exact.push(' ');
    assert_refused(&exact, &PolicyOptions::new(), "policy.too_large", "");

    // Depth 16 parses (and is then refused for what it is); depth 17 is too large.
    let err = Policy::from_json(&nested_condition_value(11)).unwrap_err();
    assert_eq!(err.code(), PolicyErrorCode::Malformed, "{err}");
    assert_eq!(
        err.pointer(),
        "/Statement/0/Condition/StringEquals/aws:username/0"
    );
    assert_refused(
        &nested_condition_value(12),
        &PolicyOptions::new(),
        "policy.too_large",
        &format!(
            "/Statement/0/Condition/StringEquals/aws:username{}",
            "/0".repeat(11)
        ),
    );
    // Far past serde_json's own limit: still too large, never a stack overflow.
    let deep = format!(
        r#"{{"Statement": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (code, pointer) = refusal("deep", &deep, &PolicyOptions::new());
    assert_eq!(code, "policy.too_large");
    assert_eq!(pointer, format!("/Statement{}", "/0".repeat(15)));
}

#[test]
fn variables_are_literal_text_in_2008_policies() {
    let statement = r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"},
        "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
        "Condition": {"StringEquals": {"aws:username": "${aws:username}"}}}"#;
    let alice = user("arn:aws:iam::123456789012:user/alice");

    let v2012 = load(&document(statement));
    assert_eq!(outcome(&v2012, Some(&alice), "/x"), Outcome::Allow);

    for version in [r#""Version": "2008-10-17", "#, ""] {
        let json = format!(r#"{{{version}"Statement": [{statement}]}}"#);
        let literal = load(&json);
        assert!(lints(&literal).is_empty(), "{:?}", literal.lints());
        assert_eq!(
            outcome(&literal, Some(&alice), "/x"),
            Outcome::ImplicitDeny,
            "{json}"
        );
    }

    // Unknown or malformed variables are only errors where variables exist.
    let unknown = r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"},
        "Action": ["vpc-lattice-svcs:Invoke", "vpc-lattice-svcs:${x}"], "Resource": "*/${aws:nope",
        "Condition": {"StringEquals": {"aws:username": "${aws:nope}"}}}"#;
    assert_refused(
        &document(unknown),
        &PolicyOptions::new(),
        "policy.variable",
        "/Statement/0/Action/1",
    );
    load(&format!(
        r#"{{"Version": "2008-10-17", "Statement": [{unknown}]}}"#
    ));
}

#[test]
fn lint_literal_wildcard() {
    let policy = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestPath": "/orders/*"}}}"#,
    ));
    assert_eq!(
        lints(&policy),
        [(
            "lint.literal_wildcard",
            "/Statement/0/Condition/StringEquals/vpc-lattice-svcs:RequestPath".to_owned()
        )]
    );
}

#[test]
fn lint_path_prefix_in_request_path_condition() {
    let policy = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringLike": {"vpc-lattice-svcs:RequestPath": "/x/*"}}}"#,
    ));
    assert_eq!(
        lints(&policy),
        [(
            "lint.path_prefix",
            "/Statement/0/Condition/StringLike/vpc-lattice-svcs:RequestPath".to_owned()
        )]
    );
    let both = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringLike": {"vpc-lattice-svcs:RequestPath": ["/x", "/x/*"]}}}"#,
    ));
    assert!(lints(&both).is_empty(), "{:?}", both.lints());
}

#[test]
fn lint_path_prefix_in_resource_points_at_the_resource() {
    let policy = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*/x/*"}"#,
    ));
    assert_eq!(
        lints(&policy),
        [("lint.path_prefix", "/Statement/0/Resource".to_owned())]
    );
    let list = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": ["*/a", "*/x/*"]}"#,
    ));
    assert_eq!(
        lints(&list),
        [("lint.path_prefix", "/Statement/0/Resource/1".to_owned())]
    );
    let both = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": ["*/x", "*/x/*"]}"#,
    ));
    assert!(lints(&both).is_empty(), "{:?}", both.lints());
}

#[test]
fn lint_negated_operator_on_absent_key_in_allow() {
    let policy = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringNotEquals": {"aws:username": "mallory"}}}"#,
    ));
    assert_eq!(
        lints(&policy),
        [(
            "lint.negated_absent",
            "/Statement/0/Condition/StringNotEquals/aws:username".to_owned()
        )]
    );
    // Not in a Deny, and not with IfExists.
    let deny = load(&document(
        r#"{"Effect": "Deny", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringNotEquals": {"aws:username": "mallory"}}}"#,
    ));
    assert_eq!(
        lints(&deny),
        [("lint.no_allow", "/Statement".to_owned())],
        "{:?}",
        deny.lints()
    );
    let if_exists = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*",
            "Resource": "*", "Condition": {"StringNotEqualsIfExists": {"aws:username": "mallory"}}}"#,
    ));
    assert!(lints(&if_exists).is_empty(), "{:?}", if_exists.lints());
}

#[test]
fn lint_allow_conditioned_only_on_caller_controlled_keys() {
    let policy = load_with(
        &document(
            r#"{"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "*",
                "Resource": "*", "Condition": {"StringEquals":
                {"vpc-lattice-svcs:RequestHeader/x-api-key": "k", "vpc-lattice-svcs:RequestMethod": "GET"}}}"#,
        ),
        &PolicyOptions::new().public_sid("Public"),
    );
    assert_eq!(
        lints(&policy),
        [("lint.caller_controlled", "/Statement/0".to_owned())]
    );
}

#[test]
fn lint_role_arn_with_path_points_at_the_entry() {
    let policy = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/team/reader"},
            "Action": "*", "Resource": "*"}"#,
    ));
    assert_eq!(
        lints(&policy),
        [("lint.role_path", "/Statement/0/Principal/AWS".to_owned())]
    );
    // The path is ignored: a session of role `reader` matches.
    let reader = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/reader/s1",
        "AROAEXAMPLEID1234567:s1",
    )
    .unwrap();
    assert_eq!(outcome(&policy, Some(&reader), "/x"), Outcome::Allow);

    let list = load(&document(
        r#"{"Effect": "Allow", "Principal": {"AWS": ["123456789012",
            "arn:aws:iam::123456789012:role/team/reader"]}, "Action": "*", "Resource": "*"}"#,
    ));
    assert_eq!(
        lints(&list),
        [("lint.role_path", "/Statement/0/Principal/AWS/1".to_owned())]
    );
}

#[test]
fn lint_no_allow_and_unused_public_sid() {
    let policy = load_with(
        &document(
            r#"{"Sid": "Block", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}"#,
        ),
        &PolicyOptions::new().public_sid("Public"),
    );
    assert_eq!(
        lints(&policy),
        [
            ("lint.public_sid_unused", String::new()),
            ("lint.no_allow", "/Statement".to_owned())
        ]
    );
    assert_eq!(outcome(&policy, None, "/x"), Outcome::ExplicitDeny);
}

/// A policy with every accepted element (and most operators), written without anything a lint
/// flags.
const EVERYTHING: &str = r#"{
  "Version": "2012-10-17",
  "Id": "orders-policy",
  "Statement": [
    {
      "Sid": "Readers",
      "Effect": "Allow",
      "Principal": {
        "AWS": [
          "123456789012",
          "arn:aws:iam::210987654321:root",
          "arn:aws:iam::123456789012:role/orders-reader",
          "arn:aws-cn:sts::123456789012:assumed-role/deployer/ci",
          "arn:aws:iam::123456789012:user/division/alice",
          "AROAEXAMPLEID1234567",
          "AIDAEXAMPLEUSERID123"
        ]
      },
      "Action": [
        "vpc-lattice-svcs:Invoke",
        "VPC-Lattice-Svcs:Inv*"
      ],
      "Resource": [
        "*/orders",
        "*/orders/*",
        "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0/items/${aws:username}"
      ],
      "Condition": {
        "StringEquals": {
          "vpc-lattice-svcs:RequestMethod": ["GET", "HEAD"],
          "tower-iam-auth:AuthMethod": "proof",
          "aws:PrincipalType": ["AssumedRole", "User", "Account"]
        },
        "StringEqualsIgnoreCase": {
          "vpc-lattice-svcs:RequestHeader/x-tenant": "acme"
        },
        "StringLike": {
          "tower-iam-auth:SessionName": "ci-*",
          "vpc-lattice-svcs:RequestPath": ["/orders", "/orders/*"]
        },
        "StringNotLikeIfExists": {
          "aws:userid": "*:blocked-*"
        },
        "NumericLessThan": {
          "aws:EpochTime": 4102444800
        },
        "NumericEquals": {
          "vpc-lattice-svcs:Port": [443, "8443"]
        },
        "DateGreaterThan": {
          "aws:CurrentTime": "2020-01-01T00:00:00Z"
        },
        "DateLessThanEquals": {
          "aws:EpochTime": "2100-01-01"
        },
        "Bool": {
          "tower-iam-auth:Anonymous": false
        },
        "IpAddress": {
          "aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
        },
        "ArnLike": {
          "aws:PrincipalArn": "arn:aws:iam::123456789012:*",
          "vpc-lattice-svcs:ServiceArn": "arn:aws:vpc-lattice:*:123456789012:service/*"
        },
        "ArnEquals": {
          "vpc-lattice-svcs:ServiceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0"
        },
        "Null": {
          "aws:PrincipalAccount": "false"
        },
        "ForAnyValue:StringEquals": {
          "vpc-lattice-svcs:RequestQueryString/view": ["summary", "full"]
        },
        "ForAllValues:StringLike": {
          "vpc-lattice-svcs:RequestQueryString/fields": "id*"
        },
        "StringEqualsIfExists": {
          "tower-iam-auth:TokenAudience": "orders",
          "tower-iam-auth:Route": "/orders/{id}",
          "aws:username": "${aws:username}"
        }
      }
    },
    {
      "Sid": "Everyone",
      "Effect": "Allow",
      "Principal": "*",
      "Action": "vpc-lattice-svcs:*",
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "aws:PrincipalAccount": ["123456789012", "210987654321"]
        }
      }
    },
    {
      "Effect": "Deny",
      "NotPrincipal": {
        "AWS": "arn:aws:iam::123456789012:role/admin"
      },
      "NotAction": "s3:*",
      "NotResource": ["*/public", "*/public/*"],
      "Condition": {
        "StringNotEquals": {
          "aws:PrincipalAccount": "123456789012"
        },
        "NotIpAddressIfExists": {
          "aws:SourceIp": "10.0.0.0/8"
        }
      }
    }
  ]
}"#;

#[test]
fn every_accepted_element_loads_without_lints() {
    let policy = load_with(EVERYTHING, &configured());
    assert!(lints(&policy).is_empty(), "{:?}", policy.lints());
    assert_eq!(policy.len(), 3);
    assert_eq!(policy.id(), "orders-policy");
    assert_eq!(policy.sid(0), Some("Readers"));
    assert_eq!(policy.sid(2), None);
    // `to_json` is the document as written, in its order (in serde_json's pretty layout).
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squeeze(&policy.to_json()), squeeze(EVERYTHING));
}

#[test]
fn to_json_parses_back_to_the_same_policy() {
    let documents = [
        (EVERYTHING.to_owned(), configured()),
        (
            document(
                r#"{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"*",
                "Resource":"*/a\u00e9\/b","Condition":{"NumericLessThan":{"aws:EpochTime":"1.50"},
                "StringEquals":{"aws:username":["a\"b","c\\d",7,true]}}}"#,
            ),
            PolicyOptions::new(),
        ),
        (
            r#"{"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}}"#
                .to_owned(),
            PolicyOptions::new(),
        ),
    ];
    for (json, options) in documents {
        let first = load_with(&json, &options);
        let again = load_with(&first.to_json(), &options);
        assert_eq!(again.to_json(), first.to_json());
        assert_eq!(lints(&again), lints(&first));
        assert_eq!(again.len(), first.len());
        assert_eq!(again.hash(), first.hash(), "{}", first.to_json());
    }
}

#[test]
fn builder_and_json_give_the_same_decisions() {
    let built = Policy::builder()
        .id("p")
        .statement(
            StatementBuilder::allow()
                .sid("X")
                .principal("123456789012")
                .resources(["*/orders", "*/orders/*"])
                .condition("StringEquals", "aws:PrincipalAccount", ["123456789012"]),
        )
        .statement(
            StatementBuilder::deny()
                .sid("NoCi")
                .principal("arn:aws:iam::123456789012:role/deployer")
                .condition("StringLike", "tower-iam-auth:SessionName", ["ci*"]),
        )
        .build()
        .unwrap();
    let json = load(
        r#"{"Version": "2012-10-17", "Id": "p", "Statement": [
        {"Sid": "X", "Effect": "Allow", "Principal": {"AWS": ["123456789012"]},
         "Action": ["vpc-lattice-svcs:Invoke"], "Resource": ["*/orders", "*/orders/*"],
         "Condition": {"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}}},
        {"Sid": "NoCi", "Effect": "Deny",
         "Principal": {"AWS": ["arn:aws:iam::123456789012:role/deployer"]},
         "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
         "Condition": {"StringLike": {"tower-iam-auth:SessionName": ["ci*"]}}}]}"#,
    );
    assert_eq!(lints(&built), lints(&json));
    let reader = tower_iam_auth::testing::principal(
        "arn:aws:sts::123456789012:assumed-role/reader/r1",
        "AROAEXAMPLEID7654321:r1",
    )
    .unwrap();
    let ci = role_session("123456789012");
    let stranger = role_session("999999999999");
    for (who, principal) in [
        ("reader", Some(&reader)),
        ("ci", Some(&ci)),
        ("stranger", Some(&stranger)),
        ("anonymous", None),
    ] {
        for path in ["/orders", "/orders/7", "/admin"] {
            assert_eq!(
                outcome(&built, principal, path),
                outcome(&json, principal, path),
                "{who} {path}"
            );
        }
    }
    assert_eq!(outcome(&built, Some(&reader), "/orders/7"), Outcome::Allow);
    assert_eq!(
        outcome(&built, Some(&ci), "/orders/7"),
        Outcome::ExplicitDeny
    );
    // The builder's document loads from JSON to the same policy.
    let reloaded = load(&built.to_json());
    assert_eq!(reloaded.to_json(), built.to_json());
}

#[test]
fn builder_refuses_what_json_refuses_with_the_same_code_and_pointer() {
    let cases: Vec<(&str, StatementBuilder, &str)> = vec![
        (
            "partial wildcard principal",
            StatementBuilder::allow().principal("arn:aws:iam::123456789012:role/*"),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
                "Principal": {"AWS": ["arn:aws:iam::123456789012:role/*"]}}"#,
        ),
        (
            "unpinned allow",
            StatementBuilder::allow().sid("Open").principal("*"),
            r#"{"Sid": "Open", "Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke",
                "Resource": "*", "Principal": {"AWS": ["*"]}}"#,
        ),
        (
            "not principal with allow",
            StatementBuilder::allow().not_principal("123456789012"),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
                "NotPrincipal": {"AWS": ["123456789012"]}}"#,
        ),
        (
            "action never applies",
            StatementBuilder::allow()
                .principal("123456789012")
                .actions(["s3:GetObject"]),
            r#"{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*",
                "Principal": {"AWS": ["123456789012"]}}"#,
        ),
        (
            "misspelled operator",
            StatementBuilder::allow()
                .principal("123456789012")
                .condition("StringEqual", "aws:username", ["alice"]),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
                "Principal": {"AWS": ["123456789012"]},
                "Condition": {"StringEqual": {"aws:username": ["alice"]}}}"#,
        ),
        (
            "principal tag",
            StatementBuilder::allow()
                .principal("123456789012")
                .condition("StringEquals", "aws:PrincipalTag/team", ["data"]),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
                "Principal": {"AWS": ["123456789012"]},
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["data"]}}}"#,
        ),
        (
            "bare path resource",
            StatementBuilder::allow()
                .principal("123456789012")
                .resources(["/orders"]),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": ["/orders"],
                "Principal": {"AWS": ["123456789012"]}}"#,
        ),
        (
            "case-insensitive duplicate condition key",
            StatementBuilder::allow()
                .principal("123456789012")
                .condition("StringEquals", "aws:username", ["alice"])
                .condition("StringEquals", "AWS:UserName", ["mallory"]),
            r#"{"Effect": "Allow", "Action": "vpc-lattice-svcs:Invoke", "Resource": "*",
                "Principal": {"AWS": ["123456789012"]},
                "Condition": {"StringEquals": {"aws:username": ["alice"], "AWS:UserName": ["mallory"]}}}"#,
        ),
    ];
    let mut mismatches = Vec::new();
    for (name, builder, json) in cases {
        let built = Policy::builder().statement(builder).build();
        let loaded = Policy::from_json(&document(json));
        match (built, loaded) {
            (Err(b), Err(j)) if b.code() == j.code() && b.pointer() == j.pointer() => {}
            (b, j) => mismatches.push(format!(
                "{name}: builder {:?}, JSON {:?}",
                b.map(|p| p.to_json()).map_err(|e| e.to_string()),
                j.map(|p| p.to_json()).map_err(|e| e.to_string())
            )),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let err = Policy::builder()
        .statement(StatementBuilder::allow().principal("arn:aws:iam::123456789012:role/*"))
        .build()
        .unwrap_err();
    assert_eq!(err.code(), PolicyErrorCode::Principal);
    assert_eq!(err.pointer(), "/Statement/0/Principal/AWS/0");
}

#[test]
fn builder_refuses_the_same_condition_key_added_twice() {
    // In JSON the same operator and key twice is a duplicate key; the builder must not keep
    // only the last values silently.
    let built = Policy::builder()
        .statement(
            StatementBuilder::allow()
                .principal("123456789012")
                .condition("StringEquals", "aws:username", ["alice"])
                .condition("StringEquals", "aws:username", ["mallory"]),
        )
        .build();
    match built {
        Err(err) => {
            assert_eq!(err.code(), PolicyErrorCode::DuplicateKey, "{err}");
            assert_eq!(
                err.pointer(),
                "/Statement/0/Condition/StringEquals/aws:username"
            );
        }
        Ok(policy) => panic!(
            "loaded, keeping only the last values:\n{}",
            policy.to_json()
        ),
    }
}

#[test]
fn principal_arn_like_pattern_with_wildcard_before_the_account_does_not_pin() {
    // IAM's StringLike `*` spans `:`, and an IAM user path may contain `:`: with the partition
    // written as `*`, a user of any account whose path ends in `:iam::111111111111:` matches.
    let json = document(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "arn:*:iam::111111111111:*"}}}"#,
    );
    match Policy::from_json(&json) {
        Err(err) => {
            assert_eq!(err.code(), PolicyErrorCode::UnpinnedAllow, "{err}");
            assert_eq!(err.pointer(), "/Statement/0/Principal");
        }
        Ok(policy) => {
            let intruder = user("arn:aws:iam::999999999999:user/p:iam::111111111111:q/alice");
            panic!(
                "loaded as pinned to 111111111111; a user of 999999999999 gets {:?}",
                outcome(&policy, Some(&intruder), "/x")
            );
        }
    }
}

#[test]
fn userid_anonymous_does_not_pin() {
    // `anonymous` is the aws:userid of every caller without a token: it pins nobody.
    let json = document(
        r#"{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:userid": "anonymous"}}}"#,
    );
    match Policy::from_json(&json) {
        Err(err) => {
            assert_eq!(err.code(), PolicyErrorCode::UnpinnedAllow, "{err}");
            assert_eq!(err.pointer(), "/Statement/0/Principal");
        }
        Ok(policy) => panic!(
            "loaded without a public Sid; an anonymous caller gets {:?}",
            outcome(&policy, None, "/x")
        ),
    }
}

#[test]
fn resource_naming_another_service_whose_id_overlaps_ours_is_refused() {
    let options = PolicyOptions::new().service_arn(SERVICE);
    let mut wrong = Vec::new();
    for resource in [
        // Another service id that starts with ours.
        format!("{SERVICE}ab/*"),
        // Another service id that ours starts with: a literal that never matches a request here.
        "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-01234".to_owned(),
        // A shorter id followed by a path is refused already.
        "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123/orders".to_owned(),
    ] {
        let json = document(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "123456789012"}}, "Action": "*",
                "Resource": "{resource}"}}"#
        ));
        match Policy::from_json_with(&json, &options) {
            Err(err)
                if err.code() == PolicyErrorCode::Resource
                    && err.pointer() == "/Statement/0/Resource" => {}
            Err(err) => wrong.push(format!("{resource:?}: {err}")),
            Ok(_) => wrong.push(format!("{resource:?} loaded")),
        }
    }
    assert!(
        wrong.is_empty(),
        "with service {SERVICE:?}:\n{}",
        wrong.join("\n")
    );
    // Our own service, with or without wildcards, loads.
    for resource in [
        format!("{SERVICE}/orders/*"),
        "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0*".to_owned(),
        "arn:aws:vpc-lattice:*".to_owned(),
    ] {
        let json = document(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "123456789012"}}, "Action": "*",
                "Resource": "{resource}"}}"#
        ));
        load_with(&json, &options);
    }
}

#[test]
fn resource_with_non_ascii_at_the_service_arn_length_is_refused_without_panic() {
    // The literal prefix is cut at the service ARN's length in bytes: a multi-byte character
    // across that boundary must not panic the loader.
    let cut = &SERVICE[..SERVICE.len() - 1];
    let json = document(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "123456789012"}}, "Action": "*",
            "Resource": "{cut}\u00e9/orders"}}"#
    ));
    let options = PolicyOptions::new().service_arn(SERVICE);
    let result = std::panic::catch_unwind(|| Policy::from_json_with(&json, &options));
    match result {
        Ok(Err(err)) => {
            assert_eq!(err.code(), PolicyErrorCode::Resource, "{err}");
            assert_eq!(err.pointer(), "/Statement/0/Resource");
        }
        Ok(Ok(_)) => panic!("loaded a resource of another service"),
        Err(_) => panic!("Policy::from_json_with panicked on {json}"),
    }
}

/// Principals of every partition load (`principal_unknown_partition` above is the refusal), and
/// match a caller of that partition only.
#[test]
fn principals_of_every_partition_load() {
    for partition in tower_iam_auth::endpoints::Partition::ALL {
        let json = format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow",
                "Principal": {{"AWS": "arn:{partition}:iam::123456789012:role/reader"}},
                "Action": "*", "Resource": "*"}}}}"#
        );
        let policy = Policy::from_json(&json).unwrap_or_else(|e| panic!("{partition}: {e}"));
        let (method, uri, headers) = (Method::GET, Uri::from_static("/x"), HeaderMap::new());
        for (caller_partition, outcome) in [
            (partition.as_str(), Outcome::Allow),
            ("aws-cn", Outcome::ImplicitDeny),
        ] {
            if caller_partition == "aws-cn" && partition.as_str() == "aws-cn" {
                continue;
            }
            let caller = tower_iam_auth::testing::principal(
                &format!("arn:{caller_partition}:sts::123456789012:assumed-role/reader/s"),
                "AROAEXAMPLEID1234567:s",
            )
            .unwrap();
            let request = AuthzRequest::new(&method, &uri, &headers).principal(Some(&caller));
            assert_eq!(
                policy.evaluate(&request).unwrap().outcome(),
                outcome,
                "{partition} policy, {caller_partition} caller"
            );
        }
    }
}
