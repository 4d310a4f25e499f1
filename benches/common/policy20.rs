//! The 20-statement policy of the policy benches, the allocation test and the load script:
//! every statement names the same account, so the index leaves all 20 as candidates and the
//! evaluator has to look at each one's conditions.

/// The account every statement names.
pub const ACCOUNT: &str = "123456789012";

/// 20 statements: `Deny` DELETE on `/admin/*` first, then 18 allows for other paths, then the
/// statement that allows `GET /whoami` and `GET /ping` for role `bench-role` of `ACCOUNT`.
pub fn policy20_json() -> String {
    let mut statements = vec![serde_json::json!({
        "Sid": "DenyAdminDeletes",
        "Effect": "Deny",
        "Principal": {"AWS": ACCOUNT},
        "Action": "vpc-lattice-svcs:Invoke",
        "Resource": "*/admin/*",
        "Condition": {"StringEquals": {"vpc-lattice-svcs:RequestMethod": "DELETE"}}
    })];
    for i in 1..19 {
        statements.push(serde_json::json!({
            "Sid": format!("Service{i}"),
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT},
            "Action": "vpc-lattice-svcs:Invoke",
            "Resource": format!("*/service{i}/*"),
            "Condition": {
                "StringEquals": {"vpc-lattice-svcs:RequestMethod": ["GET", "POST"]},
                "StringLike": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:role/team{i}-*")}
            }
        }));
    }
    statements.push(serde_json::json!({
        "Sid": "BenchRoleReads",
        "Effect": "Allow",
        "Principal": {"AWS": ACCOUNT},
        "Action": "vpc-lattice-svcs:Invoke",
        "Resource": ["*/whoami", "*/ping"],
        "Condition": {
            "StringEquals": {"vpc-lattice-svcs:RequestMethod": "GET"},
            "ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:role/bench-*")}
        }
    }));
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}
