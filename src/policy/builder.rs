//! [`PolicyBuilder`] and [`StatementBuilder`]: a policy from Rust, producing the same document
//! a JSON file would, checked by the same loader.

use serde_json::{Map, Value, json};

use super::compiled::Policy;
use super::error::{PolicyError, PolicyErrorCode};
use super::json::Json;
use super::options::PolicyOptions;

/// Builds a [`Policy`] statement by statement. `build` turns it into the JSON document and loads
/// it exactly as [`Policy::from_json_with`] would, so both paths refuse the same mistakes.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct PolicyBuilder {
    id: Option<String>,
    statements: Vec<Value>,
    options: PolicyOptions,
    duplicate: Option<PolicyError>,
}

impl PolicyBuilder {
    /// The document's `Id`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds a statement.
    pub fn statement(mut self, statement: StatementBuilder) -> Self {
        if let Some((op, key)) = statement.1
            && self.duplicate.is_none()
        {
            let at = format!(
                "/Statement/{}/Condition/{}/{}",
                self.statements.len(),
                op.replace('~', "~0").replace('/', "~1"),
                key.replace('~', "~0").replace('/', "~1")
            );
            self.duplicate = Some(PolicyError::new(
                PolicyErrorCode::DuplicateKey,
                at,
                format!("condition key {key:?} added twice under {op}"),
            ));
        }
        self.statements.push(Value::Object(statement.0));
        self
    }

    /// The load options.
    pub fn options(mut self, options: PolicyOptions) -> Self {
        self.options = options;
        self
    }

    /// The JSON document this builder describes.
    pub fn to_json(&self) -> String {
        Json::from_value(self.document()).to_string_pretty()
    }

    fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("Version".into(), json!("2012-10-17"));
        if let Some(id) = &self.id {
            doc.insert("Id".into(), json!(id));
        }
        doc.insert("Statement".into(), Value::Array(self.statements.clone()));
        Value::Object(doc)
    }

    /// Loads the document.
    pub fn build(self) -> Result<Policy, PolicyError> {
        if let Some(duplicate) = self.duplicate {
            return Err(duplicate);
        }
        Policy::from_document(Json::from_value(self.document()), &self.options)
    }
}

impl Policy {
    /// Starts a [`PolicyBuilder`].
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }
}

/// One statement for a [`PolicyBuilder`]. Action defaults to `vpc-lattice-svcs:Invoke` and
/// Resource to `*`.
#[derive(Clone, Debug)]
#[must_use]
pub struct StatementBuilder(Map<String, Value>, Option<(String, String)>);

impl StatementBuilder {
    fn new(effect: &str) -> Self {
        let mut map = Map::new();
        map.insert("Effect".into(), json!(effect));
        map.insert("Action".into(), json!("vpc-lattice-svcs:Invoke"));
        map.insert("Resource".into(), json!("*"));
        Self(map, None)
    }

    /// An `Allow` statement.
    pub fn allow() -> Self {
        Self::new("Allow")
    }

    /// A `Deny` statement.
    pub fn deny() -> Self {
        Self::new("Deny")
    }

    /// The `Sid`.
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.0.insert("Sid".into(), json!(sid.into()));
        self
    }

    fn push_principal(mut self, element: &str, value: String) -> Self {
        let entry = self.0.entry(element).or_insert_with(|| json!({"AWS": []}));
        if let Some(list) = entry.get_mut("AWS").and_then(Value::as_array_mut) {
            list.push(Value::String(value));
        }
        self
    }

    /// Adds an `AWS` principal: `*`, an account id, an IAM or STS ARN, or a unique id.
    pub fn principal(self, principal: impl Into<String>) -> Self {
        self.push_principal("Principal", principal.into())
    }

    /// Adds a `NotPrincipal` entry (with `deny` only).
    pub fn not_principal(self, principal: impl Into<String>) -> Self {
        self.push_principal("NotPrincipal", principal.into())
    }

    /// Replaces `Action`.
    pub fn actions<I, S>(mut self, actions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = actions
            .into_iter()
            .map(|a| Value::String(a.into()))
            .collect();
        self.0.insert("Action".into(), Value::Array(list));
        self
    }

    /// Replaces `Resource` (`*`, `*/PATH-GLOB`, or a service ARN + path).
    pub fn resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = resources
            .into_iter()
            .map(|r| Value::String(r.into()))
            .collect();
        self.0.insert("Resource".into(), Value::Array(list));
        self
    }

    /// Adds a condition: `operator` (e.g. `StringEquals`, `ForAnyValue:StringLike`), `key`,
    /// and its values.
    pub fn condition<I, S>(mut self, operator: &str, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = values
            .into_iter()
            .map(|v| Value::String(v.into()))
            .collect();
        let block = self
            .0
            .entry("Condition")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(block) = block.as_object_mut() {
            let op = block
                .entry(operator)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(op) = op.as_object_mut() {
                // Key names are case-insensitive: the same key twice is refused at build, as
                // a JSON document repeating it is.
                if op.keys().any(|k| k.eq_ignore_ascii_case(key)) && self.1.is_none() {
                    self.1 = Some((operator.to_owned(), key.to_owned()));
                }
                op.insert(key.to_owned(), Value::Array(list));
            }
        }
        self
    }
}
