//! A deliberately simple reference interpreter of IAM policies (AUTHZ §3, §4, §6), checked
//! against the compiled evaluator (`Policy::evaluate`, hash index and bit sets) on generated
//! policies and every request of a small universe of callers and requests.
//!
//! The reference shares no code with the crate: it reads its own policy model (which is
//! rendered to JSON for the crate to load) and its own description of each caller (written out
//! here, not read from `IamPrincipal`), scans every statement, and matches globs with a naive
//! recursive matcher.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use tower_iam_auth::policy::{AuthzRequest, Outcome, Policy, PolicyOptions};
use tower_iam_auth::principal::IamPrincipal;

/// Generated policies per run. Every policy is evaluated on every request of the universe.
const CASES: u32 = 2000;

// ---------------------------------------------------------------------------------------------
// The universe of callers and requests
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Role,
    User,
    Root,
    Federated,
}

/// A caller as the reference sees it: every fact written out by hand.
#[derive(Clone, Debug)]
struct Caller {
    /// What STS answers (`Arn`, `UserId`).
    raw_arn: String,
    user_id: String,
    kind: Kind,
    partition: &'static str,
    account: &'static str,
    /// Role, user or federated user name; `root` for root.
    name: &'static str,
    session: Option<&'static str>,
    /// `AROA…` / `AIDA…`; the account id for root; the user id for federated users.
    unique_id: String,
    /// `aws:PrincipalArn`: the role ARN (no path) for sessions, otherwise what STS said.
    principal_arn: String,
}

fn session(
    partition: &'static str,
    account: &'static str,
    role: &'static str,
    session: &'static str,
    id: &str,
) -> Caller {
    Caller {
        raw_arn: format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}"),
        user_id: format!("{id}:{session}"),
        kind: Kind::Role,
        partition,
        account,
        name: role,
        session: Some(session),
        unique_id: id.to_owned(),
        principal_arn: format!("arn:{partition}:iam::{account}:role/{role}"),
    }
}

fn user(
    partition: &'static str,
    account: &'static str,
    path: &'static str,
    name: &'static str,
    id: &str,
) -> Caller {
    let arn = format!("arn:{partition}:iam::{account}:user/{path}{name}");
    Caller {
        raw_arn: arn.clone(),
        user_id: id.to_owned(),
        kind: Kind::User,
        partition,
        account,
        name,
        session: None,
        unique_id: id.to_owned(),
        principal_arn: arn,
    }
}

fn root(partition: &'static str, account: &'static str) -> Caller {
    let arn = format!("arn:{partition}:iam::{account}:root");
    Caller {
        raw_arn: arn.clone(),
        user_id: account.to_owned(),
        kind: Kind::Root,
        partition,
        account,
        name: "root",
        session: None,
        unique_id: account.to_owned(),
        principal_arn: arn,
    }
}

fn federated(partition: &'static str, account: &'static str, name: &'static str) -> Caller {
    let arn = format!("arn:{partition}:sts::{account}:federated-user/{name}");
    Caller {
        raw_arn: arn.clone(),
        user_id: format!("{account}:{name}"),
        kind: Kind::Federated,
        partition,
        account,
        name,
        session: None,
        unique_id: format!("{account}:{name}"),
        principal_arn: arn,
    }
}

const A1: &str = "111122223333";
/// Differs from [`A1`] in one digit.
const A2: &str = "111122223334";
const A3: &str = "444455556666";

const ROLE_ID_1: &str = "AROAAAAAAAAAAAAAAAAA1";
/// The same role name as [`ROLE_ID_1`], deleted and re-created.
const ROLE_ID_2: &str = "AROAAAAAAAAAAAAAAAAA2";
const ROLE_ID_3: &str = "AROAAAAAAAAAAAAAAAAA3";
const ROLE_ID_4: &str = "AROAAAAAAAAAAAAAAAAA4";
const ROLE_ID_5: &str = "AROAAAAAAAAAAAAAAAAA5";
const USER_ID_1: &str = "AIDAAAAAAAAAAAAAAAAA1";
const USER_ID_2: &str = "AIDAAAAAAAAAAAAAAAAA2";
const USER_ID_3: &str = "AIDAAAAAAAAAAAAAAAAA3";

fn callers() -> Vec<Option<Caller>> {
    vec![
        Some(session("aws", A1, "Deployer", "s1", ROLE_ID_1)),
        Some(session("aws", A1, "deployer", "s2", ROLE_ID_1)),
        Some(session("aws", A1, "Deployer", "s1", ROLE_ID_2)),
        Some(session("aws", A1, "Reader", "S1", ROLE_ID_5)),
        Some(session("aws", A2, "Deployer", "s1", ROLE_ID_3)),
        Some(session("aws-cn", A1, "Deployer", "s1", ROLE_ID_4)),
        Some(user("aws", A1, "ops/", "alice", USER_ID_1)),
        Some(user("aws", A1, "", "alice", USER_ID_2)),
        Some(user("aws", A3, "ops/", "Alice", USER_ID_3)),
        Some(root("aws", A1)),
        Some(root("aws-cn", A3)),
        Some(federated("aws", A1, "bob")),
        None,
    ]
}

const METHODS: &[&str] = &["GET", "POST", "DELETE"];
const PATHS: &[&str] = &["/", "/orders", "/orders/1", "/users/alice/x"];
const TEAMS: &[Option<&str>] = &[None, Some("red"), Some("Red")];
/// Query strings and the form-decoded values of `tag` in them.
const QUERIES: &[(Option<&str>, &[&str])] = &[
    (None, &[]),
    (Some("tag=a&tag=b"), &["a", "b"]),
    (Some("tag=A"), &["A"]),
];

/// One request, as the reference sees it.
#[derive(Clone, Copy)]
struct Req<'u> {
    caller: Option<&'u Caller>,
    method: &'static str,
    path: &'static str,
    /// The resource: the placeholder service ARN followed by the path.
    resource: &'u str,
    team: Option<&'static str>,
    query: Option<&'static str>,
    tags: &'static [&'static str],
}

impl std::fmt::Debug for Req<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.caller {
            Some(c) => format!("{} ({})", c.raw_arn, c.user_id),
            None => "anonymous".to_owned(),
        };
        let query = self.query.map(|q| format!("?{q}")).unwrap_or_default();
        write!(
            f,
            "{who}: {} {}{query}, x-team: {:?}",
            self.method, self.path, self.team
        )
    }
}

struct Universe {
    callers: Vec<Option<Caller>>,
    principals: Vec<Option<IamPrincipal>>,
    methods: Vec<Method>,
    /// Indexed by path, then query.
    uris: Vec<Vec<Uri>>,
    headers: Vec<HeaderMap>,
    /// Indexed by path.
    resources: Vec<String>,
}

impl Universe {
    fn new() -> Self {
        let callers = callers();
        let principals = callers
            .iter()
            .map(|c| {
                c.as_ref().map(|c| {
                    tower_iam_auth::testing::principal(&c.raw_arn, &c.user_id)
                        .unwrap_or_else(|e| panic!("{}: {e}", c.raw_arn))
                })
            })
            .collect();
        let methods = METHODS.iter().map(|m| m.parse().unwrap()).collect();
        let uris = PATHS
            .iter()
            .map(|p| {
                QUERIES
                    .iter()
                    .map(|(q, _)| match q {
                        Some(q) => format!("{p}?{q}").parse().unwrap(),
                        None => p.parse().unwrap(),
                    })
                    .collect()
            })
            .collect();
        let headers = TEAMS
            .iter()
            .map(|team| {
                let mut h = HeaderMap::new();
                h.insert("accept", HeaderValue::from_static("*/*"));
                if let Some(team) = team {
                    h.insert("x-team", HeaderValue::from_static(team));
                }
                h
            })
            .collect();
        let resources = PATHS.iter().map(|p| format!("{SERVICE}{p}")).collect();
        Universe {
            callers,
            principals,
            methods,
            uris,
            headers,
            resources,
        }
    }

    fn size(&self) -> usize {
        self.callers.len() * METHODS.len() * PATHS.len() * TEAMS.len() * QUERIES.len()
    }
}

// ---------------------------------------------------------------------------------------------
// The policy model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Entry {
    Any,
    /// A bare account id (`partition: None`, meaning `aws`) or `arn:P:iam::A:root`.
    Account {
        partition: Option<&'static str>,
        account: &'static str,
    },
    Role {
        partition: &'static str,
        account: &'static str,
        path: &'static str,
        name: String,
    },
    Session {
        partition: &'static str,
        account: &'static str,
        role: String,
        session: &'static str,
    },
    User {
        partition: &'static str,
        account: &'static str,
        path_and_name: &'static str,
    },
    UniqueId(&'static str),
}

impl Entry {
    fn render(&self) -> String {
        match self {
            Entry::Any => "*".to_owned(),
            Entry::Account {
                partition: None,
                account,
            } => (*account).to_owned(),
            Entry::Account {
                partition: Some(p),
                account,
            } => format!("arn:{p}:iam::{account}:root"),
            Entry::Role {
                partition,
                account,
                path,
                name,
            } => format!("arn:{partition}:iam::{account}:role/{path}{name}"),
            Entry::Session {
                partition,
                account,
                role,
                session,
            } => format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}"),
            Entry::User {
                partition,
                account,
                path_and_name,
            } => format!("arn:{partition}:iam::{account}:user/{path_and_name}"),
            Entry::UniqueId(id) => (*id).to_owned(),
        }
    }

    /// AUTHZ §3: what each entry of `Principal` means.
    fn matches(&self, caller: Option<&Caller>) -> bool {
        let Some(c) = caller else {
            return matches!(self, Entry::Any);
        };
        match self {
            Entry::Any => true,
            Entry::Account { partition, account } => {
                c.partition == partition.unwrap_or("aws") && c.account == *account
            }
            Entry::Role {
                partition,
                account,
                name,
                ..
            } => {
                c.kind == Kind::Role
                    && c.partition == *partition
                    && c.account == *account
                    && c.name.eq_ignore_ascii_case(name)
            }
            Entry::Session {
                partition,
                account,
                role,
                session,
            } => {
                c.kind == Kind::Role
                    && c.partition == *partition
                    && c.account == *account
                    && c.name.eq_ignore_ascii_case(role)
                    && c.session == Some(*session)
            }
            Entry::User { .. } => c.kind == Kind::User && c.raw_arn == self.render(),
            Entry::UniqueId(id) => c.unique_id == *id,
        }
    }
}

#[derive(Clone, Debug)]
enum PrincipalForm {
    /// `"*"`
    Star,
    /// `{"AWS": "*"}`
    AwsStar,
    /// `{"AWS": [entries]}`, or `{"AWS": entry}` when `as_string` and there is one.
    Aws {
        entries: Vec<Entry>,
        as_string: bool,
    },
}

impl PrincipalForm {
    fn render(&self) -> Value {
        match self {
            PrincipalForm::Star => json!("*"),
            PrincipalForm::AwsStar => json!({"AWS": "*"}),
            PrincipalForm::Aws { entries, as_string } => {
                let items: Vec<String> = entries.iter().map(Entry::render).collect();
                if *as_string && items.len() == 1 {
                    json!({"AWS": items[0]})
                } else {
                    json!({"AWS": items})
                }
            }
        }
    }

    fn matches(&self, caller: Option<&Caller>) -> bool {
        match self {
            PrincipalForm::Star | PrincipalForm::AwsStar => true,
            PrincipalForm::Aws { entries, .. } => entries.iter().any(|e| e.matches(caller)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyId {
    PrincipalAccount,
    PrincipalArn,
    PrincipalType,
    UserId,
    Username,
    Method,
    Path,
    Team,
    SessionName,
    Tag,
}

const KEYS: &[KeyId] = &[
    KeyId::PrincipalAccount,
    KeyId::PrincipalArn,
    KeyId::PrincipalType,
    KeyId::UserId,
    KeyId::Username,
    KeyId::Method,
    KeyId::Path,
    KeyId::Team,
    KeyId::SessionName,
    KeyId::Tag,
];

impl KeyId {
    /// The key name, spelled in one of a few casings (key names are case-insensitive; the
    /// query key after the prefix is not, so it is kept).
    fn spelling(self, casing: u8) -> String {
        let (prefix, rest) = match self {
            KeyId::PrincipalAccount => ("aws:PrincipalAccount", ""),
            KeyId::PrincipalArn => ("aws:PrincipalArn", ""),
            KeyId::PrincipalType => ("aws:PrincipalType", ""),
            KeyId::UserId => ("aws:userid", ""),
            KeyId::Username => ("aws:username", ""),
            KeyId::Method => ("vpc-lattice-svcs:RequestMethod", ""),
            KeyId::Path => ("vpc-lattice-svcs:RequestPath", ""),
            KeyId::Team => ("vpc-lattice-svcs:RequestHeader/x-team", ""),
            KeyId::SessionName => ("tower-iam-auth:SessionName", ""),
            KeyId::Tag => ("vpc-lattice-svcs:RequestQueryString/", "tag"),
        };
        let prefix = match casing {
            1 => prefix.to_ascii_lowercase(),
            2 => prefix.to_ascii_uppercase(),
            _ => prefix.to_owned(),
        };
        format!("{prefix}{rest}")
    }

    /// Values a policy may compare the key with: hits, near misses, and globs.
    fn pool(self) -> &'static [&'static str] {
        match self {
            KeyId::PrincipalAccount => &[
                A1,
                A2,
                A3,
                "1111222233*",
                "11112222333?",
                "*",
                "${aws:PrincipalAccount}",
            ],
            KeyId::PrincipalArn => &[
                "arn:aws:iam::111122223333:role/Deployer",
                "arn:aws:iam::111122223333:role/deployer",
                "arn:aws:iam::111122223333:role/Deploy*",
                "arn:aws:iam::*:role/?eployer",
                "arn:aws-cn:iam::111122223333:role/Deployer",
                "arn:aws:iam::111122223333:user/ops/alice",
                "arn:aws:iam::111122223333:user/*",
                "arn:aws:iam::111122223333:root",
                "arn:aws:iam::111122223333:*",
                "arn:*:iam::1111222233?3:*",
                "arn:aws:sts::111122223333:federated-user/bob",
                "arn:aws:iam::111122223333:user/${aws:username}",
                "arn:aws:iam::*:user/*${aws:username}",
                "*",
            ],
            KeyId::PrincipalType => &[
                "AssumedRole",
                "User",
                "Account",
                "FederatedUser",
                "Anonymous",
                "assumedrole",
                "*Role",
            ],
            KeyId::UserId => &[
                "AROAAAAAAAAAAAAAAAAA1:s1",
                "AROAAAAAAAAAAAAAAAAA1:*",
                "aroaaaaaaaaaaaaaaaaa1:s1",
                "AIDAAAAAAAAAAAAAAAAA1",
                "111122223333",
                "111122223333:bob",
                "anonymous",
                "*",
            ],
            KeyId::Username => &[
                "alice",
                "Alice",
                "al*",
                "bob",
                "*",
                "${tower-iam-auth:SessionName}",
            ],
            KeyId::Method => &["GET", "get", "POST", "DELETE", "P?ST", "*"],
            KeyId::Path => &[
                "/",
                "/orders",
                "/orders/*",
                "/orders*",
                "/users/*/x",
                "/Orders",
                "/users/${aws:username}/x",
                "/users/${aws:username}/*",
            ],
            KeyId::Team => &["red", "Red", "blue", "r*", "*"],
            KeyId::SessionName => &["s1", "S1", "s2", "s*", "${aws:username}"],
            KeyId::Tag => &["a", "b", "A", "c", "*", "?", "${aws:username}"],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    Equals,
    NotEquals,
    EqualsIgnoreCase,
    NotEqualsIgnoreCase,
    Like,
    NotLike,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Equals => "StringEquals",
            Base::NotEquals => "StringNotEquals",
            Base::EqualsIgnoreCase => "StringEqualsIgnoreCase",
            Base::NotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            Base::Like => "StringLike",
            Base::NotLike => "StringNotLike",
            Base::ArnEquals => "ArnEquals",
            Base::ArnLike => "ArnLike",
            Base::ArnNotEquals => "ArnNotEquals",
            Base::ArnNotLike => "ArnNotLike",
            Base::Null => "Null",
        }
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Base::NotEquals
                | Base::NotEqualsIgnoreCase
                | Base::NotLike
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }
}

const STRING_OPS: &[Base] = &[
    Base::Equals,
    Base::NotEquals,
    Base::EqualsIgnoreCase,
    Base::NotEqualsIgnoreCase,
    Base::Like,
    Base::NotLike,
    Base::Null,
];
const ARN_OPS: &[Base] = &[
    Base::Equals,
    Base::NotEquals,
    Base::EqualsIgnoreCase,
    Base::NotEqualsIgnoreCase,
    Base::Like,
    Base::NotLike,
    Base::ArnEquals,
    Base::ArnLike,
    Base::ArnNotEquals,
    Base::ArnNotLike,
    Base::Null,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetPrefix {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Clone, Debug)]
struct Cond {
    key: KeyId,
    key_name: String,
    base: Base,
    if_exists: bool,
    set: SetPrefix,
    values: Vec<&'static str>,
    as_array: bool,
}

impl Cond {
    fn op_name(&self) -> String {
        let prefix = match self.set {
            SetPrefix::None => "",
            SetPrefix::ForAnyValue => "ForAnyValue:",
            SetPrefix::ForAllValues => "ForAllValues:",
        };
        let suffix = if self.if_exists { "IfExists" } else { "" };
        format!("{prefix}{}{suffix}", self.base.name())
    }
}

#[derive(Clone, Debug)]
struct Stmt {
    sid: Option<String>,
    deny: bool,
    not_principal: bool,
    principal: PrincipalForm,
    action: usize,
    not_resource: bool,
    resources: Vec<&'static str>,
    conditions: Vec<Cond>,
}

/// `Action` / `NotAction` forms: every one of them covers `vpc-lattice-svcs:Invoke`.
fn action(i: usize) -> (&'static str, Value) {
    match i {
        0 => ("Action", json!("vpc-lattice-svcs:Invoke")),
        1 => ("Action", json!("*")),
        2 => ("Action", json!(["vpc-lattice-svcs:*"])),
        3 => ("Action", json!("VPC-Lattice-Svcs:invoke")),
        4 => ("Action", json!(["s3:GetObject", "vpc-lattice-svcs:Inv*"])),
        _ => ("NotAction", json!("s3:*")),
    }
}
const ACTIONS: usize = 6;

const RESOURCES: &[&str] = &[
    "*",
    "*/orders",
    "*/orders/*",
    "*/orders*",
    "*/orders/?",
    "*/users/*/x",
    "*/users/*",
    "*/Orders",
    "*/",
];

#[derive(Clone, Debug)]
struct Doc {
    version: Option<&'static str>,
    statements: Vec<Stmt>,
    /// A single statement as an object rather than an array.
    object: bool,
}

impl Doc {
    fn render(&self) -> String {
        let statements: Vec<Value> = self.statements.iter().map(Stmt::render).collect();
        let mut doc = Map::new();
        if let Some(v) = self.version {
            doc.insert("Version".into(), json!(v));
        }
        let statements = if self.object && statements.len() == 1 {
            statements[0].clone()
        } else {
            Value::Array(statements)
        };
        doc.insert("Statement".into(), statements);
        serde_json::to_string_pretty(&Value::Object(doc)).unwrap()
    }
}

impl Stmt {
    fn render(&self) -> Value {
        let mut s = Map::new();
        if let Some(sid) = &self.sid {
            s.insert("Sid".into(), json!(sid));
        }
        s.insert(
            "Effect".into(),
            json!(if self.deny { "Deny" } else { "Allow" }),
        );
        let principal = if self.not_principal {
            "NotPrincipal"
        } else {
            "Principal"
        };
        s.insert(principal.into(), self.principal.render());
        let (name, value) = action(self.action);
        s.insert(name.into(), value);
        let resource = if self.not_resource {
            "NotResource"
        } else {
            "Resource"
        };
        let resources = if self.resources.len() == 1 {
            json!(self.resources[0])
        } else {
            json!(self.resources)
        };
        s.insert(resource.into(), resources);
        if !self.conditions.is_empty() {
            let mut blocks: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
            for c in &self.conditions {
                let values = if c.as_array || c.values.len() > 1 {
                    json!(c.values)
                } else {
                    json!(c.values[0])
                };
                blocks
                    .entry(c.op_name())
                    .or_default()
                    .insert(c.key_name.clone(), values);
            }
            let blocks: Map<String, Value> = blocks
                .into_iter()
                .map(|(k, v)| (k, Value::Object(v)))
                .collect();
            s.insert("Condition".into(), Value::Object(blocks));
        }
        Value::Object(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// `name` with the ASCII case of its first eight letters flipped where `mask` has a bit.
fn recase(name: &str, mask: u8) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 8 && mask & (1 << i) != 0 {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            } else {
                c
            }
        })
        .collect()
}

fn partition() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["aws", "aws-cn"][..])
}

fn account() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&[A1, A2, A3][..])
}

fn role_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["Deployer", "Reader", "Writer"][..]),
        prop_oneof![3 => Just(0u8), 2 => any::<u8>()],
    )
        .prop_map(|(name, mask)| recase(name, mask))
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        1 => Just(Entry::Any),
        3 => (prop::option::of(partition()), account())
            .prop_map(|(partition, account)| Entry::Account { partition, account }),
        4 => (
            partition(),
            account(),
            prop::sample::select(&["", "", "team/", "a/b/"][..]),
            role_name(),
        )
            .prop_map(|(partition, account, path, name)| Entry::Role {
                partition,
                account,
                path,
                name,
            }),
        3 => (
            partition(),
            account(),
            role_name(),
            prop::sample::select(&["s1", "S1", "s2"][..]),
        )
            .prop_map(|(partition, account, role, session)| Entry::Session {
                partition,
                account,
                role,
                session,
            }),
        2 => (
            partition(),
            account(),
            prop::sample::select(&["ops/alice", "alice", "ops/Alice", "dev/alice"][..]),
        )
            .prop_map(|(partition, account, path_and_name)| Entry::User {
                partition,
                account,
                path_and_name,
            }),
        2 => prop::sample::select(
            &[ROLE_ID_1, ROLE_ID_2, ROLE_ID_3, USER_ID_1, USER_ID_3, "AROAAAAAAAAAAAAAAAAA9"][..]
        )
        .prop_map(Entry::UniqueId),
    ]
}

fn principal_form() -> impl Strategy<Value = PrincipalForm> {
    prop_oneof![
        1 => Just(PrincipalForm::Star),
        1 => Just(PrincipalForm::AwsStar),
        6 => (prop::collection::vec(entry(), 1..=3), any::<bool>())
            .prop_map(|(entries, as_string)| PrincipalForm::Aws { entries, as_string }),
    ]
}

fn condition() -> impl Strategy<Value = Cond> {
    (prop::sample::select(KEYS), 0u8..3).prop_flat_map(|(key, casing)| {
        let ops = if key == KeyId::PrincipalArn {
            ARN_OPS
        } else {
            STRING_OPS
        };
        let set = if key == KeyId::Tag {
            prop::sample::select(&[SetPrefix::ForAnyValue, SetPrefix::ForAllValues][..]).boxed()
        } else {
            Just(SetPrefix::None).boxed()
        };
        (
            prop::sample::select(ops),
            any::<bool>(),
            set,
            prop::collection::vec(prop::sample::select(key.pool()), 1..=3),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(move |(base, if_exists, set, values, as_array, null_true)| {
                let key_name = key.spelling(casing);
                if base == Base::Null {
                    Cond {
                        key,
                        key_name,
                        base,
                        if_exists: false,
                        set: SetPrefix::None,
                        values: vec![if null_true { "true" } else { "false" }],
                        as_array,
                    }
                } else {
                    Cond {
                        key,
                        key_name,
                        base,
                        if_exists,
                        set,
                        values,
                        as_array,
                    }
                }
            })
    })
}

fn statement() -> impl Strategy<Value = Stmt> {
    (
        prop_oneof![2 => Just(false), 1 => Just(true)],
        any::<bool>(),
        principal_form(),
        0..ACTIONS,
        prop_oneof![4 => Just(false), 1 => Just(true)],
        prop::collection::vec(prop::sample::select(RESOURCES), 1..=2),
        prop::collection::vec(condition(), 0..=3),
        any::<bool>(),
    )
        .prop_map(
            |(deny, not_principal, principal, action, not_resource, resources, conds, no_sid)| {
                // The same key twice under one operator is refused (a duplicate key): keep
                // the first.
                let mut conditions: Vec<Cond> = Vec::new();
                for c in conds {
                    if !conditions
                        .iter()
                        .any(|d| d.op_name() == c.op_name() && d.key == c.key)
                    {
                        conditions.push(c);
                    }
                }
                Stmt {
                    // Deny statements need no Sid; Allow statements get one that is listed
                    // as public, so that unpinned ones load.
                    sid: (!(deny && no_sid)).then(String::new),
                    deny,
                    not_principal: deny && not_principal,
                    principal,
                    action,
                    not_resource,
                    resources,
                    conditions,
                }
            },
        )
}

fn document() -> impl Strategy<Value = Doc> {
    (
        prop::sample::select(&[Some("2012-10-17"), Some("2008-10-17"), None][..]),
        prop::collection::vec(statement(), 1..8),
        any::<bool>(),
    )
        .prop_map(|(version, mut statements, object)| {
            for (i, s) in statements.iter_mut().enumerate() {
                if let Some(sid) = &mut s.sid {
                    *sid = format!("S{i}");
                }
            }
            Doc {
                version,
                statements,
                object,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// The reference interpreter
// ---------------------------------------------------------------------------------------------

/// One element of a pattern after policy variables are replaced by their values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    /// `*`: any run of characters, `/` and `:` included.
    Star,
    /// `?`: exactly one character.
    One,
}

/// IAM's glob on tokens, by plain recursion (inputs are tiny).
fn glob_tokens(p: &[Tok], t: &[u8], ignore_case: bool) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((Tok::Star, rest)) => (0..=t.len()).any(|i| glob_tokens(rest, &t[i..], ignore_case)),
        Some((Tok::One, rest)) => !t.is_empty() && glob_tokens(rest, &t[1..], ignore_case),
        Some((Tok::Byte(c), rest)) => {
            t.first().is_some_and(|b| {
                if ignore_case {
                    b.eq_ignore_ascii_case(c)
                } else {
                    b == c
                }
            }) && glob_tokens(rest, &t[1..], ignore_case)
        }
    }
}

/// IAM's glob: `*` matches any run of characters (`/` and `:` included), `?` exactly one.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// The variables a 2012-10-17 policy of this test may use, and their values.
fn variable(name: &str, req: &Req<'_>) -> Option<String> {
    let key = [
        ("aws:username", KeyId::Username),
        ("aws:PrincipalAccount", KeyId::PrincipalAccount),
        ("tower-iam-auth:SessionName", KeyId::SessionName),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name))
    .map(|(_, k)| k)
    .unwrap_or_else(|| panic!("the generator uses no variable {name}"));
    single_value(key, req).map(str::to_owned)
}

/// A pattern as tokens: with `wildcards`, `*` and `?` are wildcards; with `vars` (a
/// 2012-10-17 policy), `${name}` is replaced by the literal value of the key for `req`.
/// `None` when a variable's key is absent.
fn tokens(pattern: &str, wildcards: bool, vars: Option<&Req<'_>>) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        if let (Some(req), Some(after)) = (vars, rest.strip_prefix("${")) {
            let end = after.find('}').expect("the generator closes its variables");
            let value = variable(&after[..end], req)?;
            out.extend(value.bytes().map(Tok::Byte));
            rest = &after[end + 1..];
            continue;
        }
        let b = rest.as_bytes()[0];
        out.push(match b {
            b'*' if wildcards => Tok::Star,
            b'?' if wildcards => Tok::One,
            _ => Tok::Byte(b),
        });
        rest = &rest[1..];
    }
    Some(out)
}

/// Whether one policy value matches one request value (before negation); `None` when a
/// variable of the policy value names an absent key.
fn value_matches(base: Base, pattern: &str, value: &str, vars: Option<&Req<'_>>) -> Option<bool> {
    // Without variables, plain text comparisons (the same result as the token path, faster).
    let vars = vars.filter(|_| pattern.contains("${"));
    if vars.is_none() {
        match base {
            Base::Equals | Base::NotEquals => return Some(pattern == value),
            Base::EqualsIgnoreCase | Base::NotEqualsIgnoreCase => {
                return Some(pattern.eq_ignore_ascii_case(value));
            }
            Base::Like | Base::NotLike => return Some(glob(pattern, value)),
            _ => {}
        }
    }
    Some(match base {
        Base::Equals | Base::NotEquals => {
            glob_tokens(&tokens(pattern, false, vars)?, value.as_bytes(), false)
        }
        Base::EqualsIgnoreCase | Base::NotEqualsIgnoreCase => {
            glob_tokens(&tokens(pattern, false, vars)?, value.as_bytes(), true)
        }
        Base::Like | Base::NotLike => {
            glob_tokens(&tokens(pattern, true, vars)?, value.as_bytes(), false)
        }
        // `ArnLike` (and `ArnEquals`, which IAM defines the same way): `*` is any ARN;
        // otherwise each of the six colon-separated parts is a glob on the value's part.
        Base::ArnEquals | Base::ArnLike | Base::ArnNotEquals | Base::ArnNotLike => {
            if pattern == "*" {
                return Some(true);
            }
            let p: Vec<&str> = pattern.splitn(6, ':').collect();
            let v: Vec<&str> = value.splitn(6, ':').collect();
            assert_eq!(p.len(), 6, "the generator writes whole ARNs");
            if v.len() != 6 {
                return Some(false);
            }
            let mut all = true;
            for (p, v) in p.iter().zip(&v) {
                all &= glob_tokens(&tokens(p, true, vars)?, v.as_bytes(), false);
            }
            all
        }
        Base::Null => unreachable!("Null compares presence"),
    })
}

/// AUTHZ §4: the value of a single-valued key, `None` when absent.
fn single_value<'r>(key: KeyId, req: &Req<'r>) -> Option<&'r str> {
    let c = req.caller;
    match key {
        KeyId::PrincipalAccount => c.map(|c| c.account),
        KeyId::PrincipalArn => c.map(|c| c.principal_arn.as_str()),
        KeyId::PrincipalType => Some(match c.map(|c| c.kind) {
            None => "Anonymous",
            Some(Kind::Role) => "AssumedRole",
            Some(Kind::User) => "User",
            Some(Kind::Root) => "Account",
            Some(Kind::Federated) => "FederatedUser",
        }),
        // AUTHZ §4: `anonymous` for anonymous callers (as in AWS).
        KeyId::UserId => Some(c.map_or("anonymous", |c| c.user_id.as_str())),
        KeyId::Username => c.filter(|c| c.kind == Kind::User).map(|c| c.name),
        KeyId::Method => Some(req.method),
        KeyId::Path => Some(req.path),
        KeyId::Team => req.team,
        KeyId::SessionName => c.and_then(|c| c.session),
        KeyId::Tag => unreachable!("multi-valued"),
    }
}

/// IAM's rules (AUTHZ §4): a missing key makes a positive operator false and a negated one
/// true unless `…IfExists`; a present one needs some policy value to match (a negated
/// operator: none); `ForAllValues` holds on an empty set, `ForAnyValue` does not. A condition
/// with a variable whose key is absent does not hold (module docs).
fn condition_holds(c: &Cond, req: &Req<'_>, variables: bool) -> bool {
    let negated = c.base.negated();
    let vars = variables.then_some(req);
    // `None`: some policy value names an absent variable.
    let any_matches = |v: &str| -> Option<bool> {
        let mut any = false;
        for p in &c.values {
            any |= value_matches(c.base, p, v, vars)?;
        }
        Some(any)
    };
    if c.key == KeyId::Tag {
        let values = req.tags;
        if c.base == Base::Null {
            return values.is_empty() == (c.values[0] == "true");
        }
        if values.is_empty() {
            return match c.set {
                SetPrefix::ForAllValues => true,
                _ => c.if_exists,
            };
        }
        let mut hits = Vec::new();
        for v in values {
            match any_matches(v) {
                Some(m) => hits.push(m != negated),
                None => return false,
            }
        }
        return match c.set {
            SetPrefix::ForAllValues => hits.iter().all(|h| *h),
            _ => hits.iter().any(|h| *h),
        };
    }
    let value = single_value(c.key, req);
    if c.base == Base::Null {
        return value.is_none() == (c.values[0] == "true");
    }
    match value {
        None => c.if_exists || negated,
        Some(v) => match any_matches(v) {
            Some(m) => m != negated,
            None => false,
        },
    }
}

const SERVICE: &str = "arn:aws:vpc-lattice:::service/unconfigured";

/// Whether a statement applies, or the first clause that does not hold.
fn applies(s: &Stmt, req: &Req<'_>, variables: bool) -> Result<(), String> {
    if s.principal.matches(req.caller) == s.not_principal {
        return Err("principal".into());
    }
    if s.resources.iter().any(|r| glob(r, req.resource)) == s.not_resource {
        return Err("resource".into());
    }
    for c in &s.conditions {
        if !condition_holds(c, req, variables) {
            return Err(format!("condition {} {}", c.op_name(), c.key_name));
        }
    }
    Ok(())
}

/// Default deny; any applicable `Deny` wins; otherwise any applicable `Allow` allows.
fn reference(doc: &Doc, req: &Req<'_>) -> Outcome {
    let variables = doc.version == Some("2012-10-17");
    let mut allow = false;
    for s in &doc.statements {
        if applies(s, req, variables).is_ok() {
            if s.deny {
                return Outcome::ExplicitDeny;
            }
            allow = true;
        }
    }
    if allow {
        Outcome::Allow
    } else {
        Outcome::ImplicitDeny
    }
}

/// Why the reference decided as it did, statement by statement.
fn reference_trace(doc: &Doc, req: &Req<'_>) -> String {
    let variables = doc.version == Some("2012-10-17");
    let mut trace = String::new();
    for (i, s) in doc.statements.iter().enumerate() {
        let _ = writeln!(
            trace,
            "  #{i} {}: {}",
            if s.deny { "Deny" } else { "Allow" },
            match applies(s, req, variables) {
                Ok(()) => "applies".to_owned(),
                Err(why) => format!("does not apply: {why}"),
            }
        );
    }
    trace
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

fn check(universe: &Universe, doc: &Doc, now: SystemTime) -> Result<(), TestCaseError> {
    let json = doc.render();
    let options = (0..32).fold(PolicyOptions::new(), |o, i| o.public_sid(format!("S{i}")));
    let policy = Policy::from_json_with(&json, &options)
        .map_err(|e| TestCaseError::fail(format!("refused: {e:?}\n{json}")))?;
    for (ci, caller) in universe.callers.iter().enumerate() {
        for (mi, method) in METHODS.iter().enumerate() {
            for (pi, path) in PATHS.iter().enumerate() {
                for (ti, team) in TEAMS.iter().enumerate() {
                    for (qi, (query, tags)) in QUERIES.iter().enumerate() {
                        let req = Req {
                            caller: caller.as_ref(),
                            method,
                            path,
                            resource: &universe.resources[pi],
                            team: *team,
                            query: *query,
                            tags,
                        };
                        let uri = &universe.uris[pi][qi];
                        let request =
                            AuthzRequest::new(&universe.methods[mi], uri, &universe.headers[ti])
                                .principal(universe.principals[ci].as_ref())
                                .now(now);
                        let compiled = policy
                            .evaluate(&request)
                            .map_err(|e| {
                                TestCaseError::fail(format!("refused {req:?}: {e}\n{json}"))
                            })?
                            .outcome();
                        let expected = reference(doc, &req);
                        if compiled != expected {
                            let trace = reference_trace(doc, &req);
                            return Err(TestCaseError::fail(format!(
                                "the compiled evaluator and the reference disagree\n\
                                 policy:\n{json}\n\
                                 request: {req:?}\n\
                                 compiled: {compiled:?}\n\
                                 reference: {expected:?}\n{trace}\
                                 explain:\n{}",
                                policy.explain(&request)
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn reference_interpreter_agrees_with_compiled_evaluator() {
    let universe = Universe::new();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..Config::default()
    });
    let cases = runner.config().cases;
    let started = Instant::now();
    let result = runner.run(&document(), |doc| check(&universe, &doc, now));
    if let Err(e) = result {
        panic!("{e}");
    }
    println!(
        "{cases} policies x {} requests = {} comparisons in {:?}",
        universe.size(),
        u64::from(cases) * universe.size() as u64,
        started.elapsed()
    );
}

/// The reference's own building blocks, on cases worked out by hand.
#[test]
fn reference_building_blocks() {
    let arn = |p: &str, v: &str| value_matches(Base::ArnLike, p, v, None).unwrap();
    assert!(glob("*/orders/*", &format!("{SERVICE}/orders/1")));
    assert!(!glob("*/orders/*", &format!("{SERVICE}/orders")));
    assert!(glob("*/orders*", &format!("{SERVICE}/orders")));
    assert!(glob("*/users/*/x", &format!("{SERVICE}/users/alice/x")));
    assert!(glob("*/orders/?", &format!("{SERVICE}/orders/1")));
    assert!(!glob("*/Orders", &format!("{SERVICE}/orders")));
    assert!(glob("*", ""));
    assert!(!glob("?", ""));
    assert!(arn(
        "arn:aws:iam::*:role/?eployer",
        "arn:aws:iam::111122223334:role/Deployer"
    ));
    assert!(!arn(
        "arn:aws:iam::111122223333:role/deployer",
        "arn:aws:iam::111122223333:role/Deployer"
    ));
    assert!(arn(
        "arn:aws:iam::111122223333:user/*",
        "arn:aws:iam::111122223333:user/ops/alice"
    ));
    // Every caller of the universe is accepted by the crate, as the reference describes it.
    let universe = Universe::new();
    for (c, p) in universe.callers.iter().zip(&universe.principals) {
        if let (Some(c), Some(p)) = (c, p) {
            assert_eq!(p.arn(), c.principal_arn);
            assert_eq!(p.account(), c.account);
        }
    }
    assert_eq!(recase("Deployer", 0b11), "dEployer");
}

/// Values OR, whatever their order: a condition that names an absent variable must decide the
/// same way whichever value comes first (the module docs: such a condition does not hold). The
/// generated cases above find this; these are the smallest instances, for the record.
#[test]
fn an_absent_variable_decides_the_same_in_any_value_order() {
    let universe = Universe::new();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let user_alice = 7; // arn:aws:iam::111122223333:user/alice: no session name
    let china_role = 5; // arn:aws-cn:…:assumed-role/Deployer/s1: no user name
    let cases: &[(&str, &str, [&str; 2], usize)] = &[
        (
            "StringLike",
            "aws:username",
            ["alice", "${tower-iam-auth:SessionName}"],
            user_alice,
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            [
                "arn:aws:iam::111122223333:user/${aws:username}",
                "arn:*:iam::111122223333:*",
            ],
            china_role,
        ),
    ];
    let mut failures = Vec::new();
    for (op, key, values, caller) in cases {
        let mut outcomes = Vec::new();
        for values in [[values[0], values[1]], [values[1], values[0]]] {
            let json = json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "S0",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "vpc-lattice-svcs:Invoke",
                    "Resource": "*",
                    "Condition": {*op: {*key: values}},
                }],
            })
            .to_string();
            let policy =
                Policy::from_json_with(&json, &PolicyOptions::new().public_sid("S0")).unwrap();
            let request = AuthzRequest::new(
                &universe.methods[0],
                &universe.uris[0][0],
                &universe.headers[0],
            )
            .principal(universe.principals[*caller].as_ref())
            .now(now);
            outcomes.push((values, policy.evaluate(&request).unwrap().outcome()));
        }
        if outcomes.iter().any(|(_, o)| *o != Outcome::ImplicitDeny) {
            failures.push(format!("{op} {key}: {outcomes:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "expected ImplicitDeny in both orders:\n{}",
        failures.join("\n")
    );
}
