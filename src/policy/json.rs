//! Order-preserving JSON for policy documents, refusing duplicate keys at any depth.
//!
//! `serde_json::Value` silently keeps the last of two equal keys, so a second `"Statement"` (or a
//! second `"aws:username"` deep inside a `Condition`) could hide what a reviewer read. [`parse`]
//! refuses every duplicate, too-large or too-deep document and names the offending element by its
//! RFC 6901 JSON pointer, so later refusals can use the same pointers ([`pointer_push`],
//! [`pointer_index`]).
//!
//! Numbers are kept as `serde_json::Number` (no `arbitrary_precision`): an integer literal beyond
//! `u64`/`i64` (`123456789012345678901234567890`) becomes the nearest `f64`, and a literal beyond
//! `f64` (`1e400`) is refused as `Malformed` ("number out of range"). serde_json's
//! `arbitrary_precision` feature, if some crate in the build enabled it, would hand numbers to the
//! visitor as a one-member map; documents would then be refused or misread, so keep it off.
//!
//! Nesting: serde_json stops at 128 nested arrays/objects whatever `max_depth` says; that error
//! is reported as `TooDeep` at the pointer of the 128th container, so the effective ceiling is 127.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value that keeps object members in document order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json parsed it (`u64`, `i64` or finite `f64`).
    Number(serde_json::Number),
    /// A string, escapes resolved.
    String(String),
    /// An array, in document order.
    Array(Vec<Json>),
    /// An object's members in document order; [`parse`] guarantees the keys are distinct.
    Object(Vec<(String, Json)>),
}

/// Why [`parse`] refused a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonErrorKind {
    /// Not JSON (syntax, empty input, trailing characters, number out of range, bad escape).
    Malformed,
    /// An object has the same key twice (byte-equal).
    DuplicateKey,
    /// The input is longer than `max_bytes`.
    TooLarge,
    /// Arrays/objects are nested deeper than `max_depth` (or serde_json's own limit).
    TooDeep,
}

/// A refusal from [`parse`]: what went wrong, where (RFC 6901 pointer), and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// JSON pointer of the offending element; `""` for the whole document.
    pub pointer: String,
    /// Human-readable explanation (serde_json's, with line and column, for `Malformed`).
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} (at {})", self.message, self.pointer)
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON document, refusing duplicate keys at any depth; see the module docs.
///
/// `TooLarge` if `input` exceeds `max_bytes` (checked before parsing); `TooDeep` at the pointer of
/// the first array/object nested more than `max_depth` deep (the top-level container is depth 1);
/// `DuplicateKey` at the pointer of the repeated member; `Malformed` with pointer `""` and
/// serde_json's message (line and column), also for trailing characters after the value.
pub(crate) fn parse(input: &str, max_bytes: usize, max_depth: usize) -> Result<Json, JsonError> {
    if input.len() > max_bytes {
        return Err(JsonError {
            kind: JsonErrorKind::TooLarge,
            pointer: String::new(),
            message: format!(
                "document is {} bytes; the limit is {max_bytes}",
                input.len()
            ),
        });
    }
    let refusal = RefCell::new(None);
    let ctx = Ctx {
        max_depth,
        refusal: &refusal,
    };
    let mut de = serde_json::Deserializer::from_str(input);
    let seed = Seed {
        ctx: &ctx,
        path: Path::Root,
        depth: 0,
    };
    let result = seed
        .deserialize(&mut de)
        .and_then(|json| de.end().map(|()| json));
    result.map_err(|err| {
        refusal.take().unwrap_or_else(|| JsonError {
            kind: JsonErrorKind::Malformed,
            pointer: String::new(),
            message: err.to_string(),
        })
    })
}

/// Appends one reference token to the JSON pointer `base`, escaping `~` as `~0` and `/` as `~1`.
pub(crate) fn pointer_push(base: &str, token: &str) -> String {
    let mut out = String::with_capacity(base.len() + token.len() + 1);
    out.push_str(base);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Appends an array index (decimal) to the JSON pointer `base`.
pub(crate) fn pointer_index(base: &str, index: usize) -> String {
    format!("{base}/{index}")
}

impl Json {
    /// Converts a serde_json value, keeping its map's iteration order (a `Map` has no duplicates).
    pub(crate) fn from_value(value: serde_json::Value) -> Json {
        match value {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(b),
            serde_json::Value::Number(n) => Json::Number(n),
            serde_json::Value::String(s) => Json::String(s),
            serde_json::Value::Array(items) => {
                Json::Array(items.into_iter().map(Json::from_value).collect())
            }
            serde_json::Value::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(k, v)| (k, Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to a serde_json value (its `Map` may reorder keys; a repeated key keeps the last).
    #[cfg(test)]
    pub(crate) fn to_value(&self) -> serde_json::Value {
        match self {
            Json::Null => serde_json::Value::Null,
            Json::Bool(b) => serde_json::Value::Bool(*b),
            Json::Number(n) => serde_json::Value::Number(n.clone()),
            Json::String(s) => serde_json::Value::String(s.clone()),
            Json::Array(items) => {
                serde_json::Value::Array(items.iter().map(Json::to_value).collect())
            }
            Json::Object(members) => serde_json::Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// Serializes in document order with a 2-space indent (serde_json's pretty layout).
    pub(crate) fn to_string_pretty(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out, Some(0));
        out
    }

    /// Serializes in document order without any whitespace.
    pub(crate) fn to_string_compact(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out, None);
        out
    }

    /// The string, if this is a string.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members in document order, if this is an object.
    #[cfg(test)]
    pub(crate) fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    #[cfg(test)]
    pub(crate) fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The JSON type's name for error messages: "null", "boolean", "number", "string", ….
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// Writes `value`; `indent` is `Some(level)` for pretty output, `None` for compact.
fn write_json(value: &Json, out: &mut String, indent: Option<usize>) {
    let inner = indent.map(|level| level + 1);
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_str(s, out),
        Json::Array(items) if items.is_empty() => out.push_str("[]"),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                write_json(item, out, inner);
            }
            newline(out, indent);
            out.push(']');
        }
        Json::Object(members) if members.is_empty() => out.push_str("{}"),
        Json::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                write_str(key, out);
                out.push_str(if indent.is_some() { ": " } else { ":" });
                write_json(item, out, inner);
            }
            newline(out, indent);
            out.push('}');
        }
    }
}

/// In pretty mode, starts a new line indented to `indent` levels of two spaces.
fn newline(out: &mut String, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str("  ");
        }
    }
}

/// Writes `s` as a quoted, escaped JSON string (serde_json's escaping).
fn write_str(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        // Serializing a `str` into memory cannot fail; keep the output valid JSON regardless.
        Err(_) => out.push_str("null"),
    }
}

/// Where a value sits in the document, built on the stack and rendered only for an error.
#[derive(Clone, Copy)]
enum Path<'p> {
    /// The document itself.
    Root,
    /// A member of the object at the parent path.
    Key(&'p Path<'p>, &'p str),
    /// An element of the array at the parent path.
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// Renders the RFC 6901 pointer.
    fn pointer(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(parent, key) => pointer_push(&parent.pointer(), key),
            Path::Index(parent, index) => pointer_index(&parent.pointer(), *index),
        }
    }
}

/// State shared by every seed of one [`parse`] call.
struct Ctx<'r> {
    /// Deepest allowed nesting of arrays/objects.
    max_depth: usize,
    /// The structured refusal, stashed here because serde_json's error type cannot carry it.
    refusal: &'r RefCell<Option<JsonError>>,
}

impl Ctx<'_> {
    /// Records a refusal unless an inner one was recorded first.
    fn stash(&self, kind: JsonErrorKind, path: &Path<'_>, message: String) {
        let mut slot = self.refusal.borrow_mut();
        if slot.is_none() {
            *slot = Some(JsonError {
                kind,
                pointer: path.pointer(),
                message,
            });
        }
    }

    /// Records a refusal and returns the error that unwinds the parse.
    fn refuse<E: de::Error>(&self, kind: JsonErrorKind, path: &Path<'_>, message: String) -> E {
        let err = E::custom(&message);
        self.stash(kind, path, message);
        err
    }

    /// Passes a child's error through, recording serde_json's recursion limit as `TooDeep`.
    fn child_failed<E: de::Error>(&self, err: E, child: &Path<'_>) -> E {
        if err.to_string().starts_with("recursion limit exceeded") {
            let message = "nesting exceeds serde_json's limit of 127 arrays/objects".to_owned();
            self.stash(JsonErrorKind::TooDeep, child, message);
        }
        err
    }

    /// Refuses a container at `depth` (1 = top level) if it is nested too deep.
    fn check_depth<E: de::Error>(&self, depth: usize, path: &Path<'_>) -> Result<(), E> {
        if depth > self.max_depth {
            let message = format!(
                "nesting exceeds the limit of {} arrays/objects",
                self.max_depth
            );
            return Err(self.refuse(JsonErrorKind::TooDeep, path, message));
        }
        Ok(())
    }
}

/// Deserializes one value at `path`, nested inside `depth` arrays/objects.
struct Seed<'c, 'p> {
    /// Shared limits and refusal slot.
    ctx: &'c Ctx<'c>,
    /// Where the value sits.
    path: Path<'p>,
    /// How many containers enclose the value.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Below this many members an object is checked for duplicates by scanning, above by hashing.
const LINEAR_SCAN_MEMBERS: usize = 16;

/// Whether `key` is new among `members`; `seen` mirrors the keys once the object grows large.
fn is_new_key(members: &[(String, Json)], seen: &mut HashSet<String>, key: &str) -> bool {
    if members.len() < LINEAR_SCAN_MEMBERS {
        return !members.iter().any(|(k, _)| k == key);
    }
    if seen.is_empty() {
        seen.extend(members.iter().map(|(k, _)| k.clone()));
    }
    seen.insert(key.to_owned())
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        // serde_json never yields a non-finite f64 (it reports "number out of range" instead).
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let depth = self.depth + 1;
        self.ctx.check_depth(depth, &self.path)?;
        let mut items = Vec::new();
        loop {
            let path = Path::Index(&self.path, items.len());
            let seed = Seed {
                ctx: self.ctx,
                path,
                depth,
            };
            match seq.next_element_seed(seed) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Json::Array(items)),
                Err(err) => return Err(self.ctx.child_failed(err, &path)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let depth = self.depth + 1;
        self.ctx.check_depth(depth, &self.path)?;
        let mut members: Vec<(String, Json)> = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path::Key(&self.path, &key);
            if !is_new_key(&members, &mut seen, &key) {
                let quoted = serde_json::to_string(&key).unwrap_or_else(|_| key.clone());
                let message =
                    format!("duplicate key {quoted}: each key may appear once per object");
                return Err(self.ctx.refuse(JsonErrorKind::DuplicateKey, &path, message));
            }
            let seed = Seed {
                ctx: self.ctx,
                path,
                depth,
            };
            let value = match map.next_value_seed(seed) {
                Ok(value) => value,
                Err(err) => return Err(self.ctx.child_failed(err, &path)),
            };
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_BYTES: usize = 64 * 1024;
    const MAX_DEPTH: usize = 32;

    fn ok(input: &str) -> Json {
        match parse(input, MAX_BYTES, MAX_DEPTH) {
            Ok(json) => json,
            Err(err) => panic!("{input:?} refused: {err:?}"),
        }
    }

    fn refused(input: &str) -> JsonError {
        match parse(input, MAX_BYTES, MAX_DEPTH) {
            Ok(json) => panic!("{input:?} accepted as {json:?}"),
            Err(err) => err,
        }
    }

    fn assert_duplicate(input: &str, pointer: &str, key: &str) {
        let err = refused(input);
        assert_eq!(err.kind, JsonErrorKind::DuplicateKey, "{err:?}");
        assert_eq!(err.pointer, pointer);
        assert!(err.message.contains(&format!("\"{key}\"")), "{err:?}");
    }

    fn nested_arrays(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowReadOwnPrefix",
      "Effect": "Allow",
      "Principal": {
        "AWS": [
          "arn:aws:iam::123456789012:role/reader",
          "arn:aws:iam::123456789012:user/alice"
        ]
      },
      "Action": [
        "s3:GetObject",
        "s3:ListBucket"
      ],
      "Resource": "arn:aws:s3:::bucket/home/${aws:username}/*",
      "Condition": {
        "StringEquals": {
          "aws:username": "alice",
          "aws:PrincipalTag/team": "data"
        },
        "NumericLessThanEquals": {
          "s3:max-keys": 10
        },
        "Bool": {
          "aws:SecureTransport": true
        }
      }
    },
    {
      "Effect": "Deny",
      "NotAction": "iam:*",
      "NotResource": [],
      "Condition": {}
    }
  ]
}"#;

    #[test]
    fn duplicate_at_depth_1_is_refused_at_its_pointer() {
        assert_duplicate(
            r#"{"Version": "2012-10-17", "Statement": [], "Statement": []}"#,
            "/Statement",
            "Statement",
        );
    }

    #[test]
    fn duplicate_at_depth_2_is_refused_at_its_pointer() {
        assert_duplicate(
            r#"{"Principal": {"AWS": "a", "Service": "s", "AWS": "b"}}"#,
            "/Principal/AWS",
            "AWS",
        );
    }

    #[test]
    fn duplicate_at_depth_4_inside_statement_array_is_refused_at_its_pointer() {
        let input = r#"{"Statement": [{"Condition": {"StringEquals":
            {"aws:username": "alice", "aws:username": "mallory"}}}]}"#;
        assert_duplicate(
            input,
            "/Statement/0/Condition/StringEquals/aws:username",
            "aws:username",
        );
    }

    #[test]
    fn duplicate_inside_later_array_element_names_its_index() {
        let input = r#"[{"a": 1}, [0, {"b": 1, "c": 2, "b": 3}]]"#;
        assert_duplicate(input, "/1/1/b", "b");
        assert_duplicate(
            r#"{"Statement": [{}, {"Effect": "Allow", "Effect": "Deny"}]}"#,
            "/Statement/1/Effect",
            "Effect",
        );
    }

    #[test]
    fn duplicate_keys_in_pointer_escape_slash_and_tilde() {
        assert_duplicate(r#"{"a/b": {"x~y": 1, "x~y": 2}}"#, "/a~1b/x~0y", "x~y");
        assert_duplicate(r#"{"~1": 1, "~1": 2}"#, "/~01", "~1");
    }

    #[test]
    fn duplicate_written_with_escapes_is_still_a_duplicate() {
        assert_duplicate(r#"{"ab": 1, "a\u0062": 2}"#, "/ab", "ab");
    }

    #[test]
    fn case_variant_keys_are_not_duplicates() {
        let json = ok(r#"{"Effect": "Allow", "effect": "Deny"}"#);
        assert_eq!(json.as_object().map(<[_]>::len), Some(2));
    }

    #[test]
    fn duplicate_in_large_object_is_found_by_hashing() {
        let mut members: Vec<String> = (0..1000).map(|i| format!("\"k{i}\": {i}")).collect();
        let ok_input = format!("{{{}}}", members.join(","));
        assert_eq!(ok(&ok_input).as_object().map(<[_]>::len), Some(1000));
        members.push("\"k500\": 0".to_owned());
        assert_duplicate(&format!("{{{}}}", members.join(",")), "/k500", "k500");
        // The duplicate is found whether it lands in the scanned or the hashed part.
        members.truncate(20);
        members.push("\"k3\": 0".to_owned());
        assert_duplicate(&format!("{{{}}}", members.join(",")), "/k3", "k3");
    }

    #[test]
    fn same_key_in_different_objects_is_fine() {
        let json = ok(r#"{"Statement": [{"Effect": "Allow"}, {"Effect": "Deny",
            "Condition": {"Effect": {"Effect": "x"}}}], "Effect": 1}"#);
        assert_eq!(json.as_object().map(<[_]>::len), Some(2));
    }

    #[test]
    fn pointer_helpers_follow_rfc_6901() {
        assert_eq!(pointer_push("", "Statement"), "/Statement");
        assert_eq!(pointer_push("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(pointer_push("", ""), "/");
        assert_eq!(pointer_push("", "~01"), "/~001");
        assert_eq!(pointer_index("/Statement", 12), "/Statement/12");
        assert_eq!(pointer_index("", 0), "/0");
    }

    #[test]
    fn too_large_is_refused_before_parsing() {
        let err = parse("{{{ not even json", 5, MAX_DEPTH).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooLarge);
        assert_eq!(err.pointer, "");
        assert!(err.message.contains("17 bytes"), "{err:?}");
        assert!(parse("[1,2]", 5, MAX_DEPTH).is_ok());
    }

    #[test]
    fn too_deep_is_refused_at_the_first_container_past_the_limit() {
        assert!(parse(&nested_arrays(3), MAX_BYTES, 3).is_ok());
        let err = parse(&nested_arrays(4), MAX_BYTES, 3).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooDeep);
        assert_eq!(err.pointer, "/0/0/0");
        let err = parse(r#"{"a": [1, {"b": {}}]}"#, MAX_BYTES, 3).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooDeep);
        assert_eq!(err.pointer, "/a/1/b");
        assert!(parse(r#"{"a": [1, {"b": 2}]}"#, MAX_BYTES, 3).is_ok());
    }

    #[test]
    fn max_depth_below_serde_json_limit_is_honoured_exactly() {
        assert!(parse(&nested_arrays(127), MAX_BYTES, 127).is_ok());
        let err = parse(&nested_arrays(127), MAX_BYTES, 126).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooDeep);
        assert_eq!(err.pointer, "/0".repeat(126));
    }

    #[test]
    fn nesting_past_serde_json_limit_is_too_deep_whatever_max_depth_says() {
        for max_depth in [127, 128, 1000, usize::MAX] {
            let err = parse(&nested_arrays(128), MAX_BYTES, max_depth).unwrap_err();
            assert_eq!(err.kind, JsonErrorKind::TooDeep, "{err:?}");
            assert_eq!(err.pointer, "/0".repeat(127));
        }
        let err = parse(&"{\"a\":".repeat(200), MAX_BYTES, usize::MAX).unwrap_err();
        assert_eq!(err.kind, JsonErrorKind::TooDeep, "{err:?}");
        assert_eq!(err.pointer, "/a".repeat(127));
    }

    #[test]
    fn hundred_thousand_open_brackets_fail_cleanly() {
        let input = "[".repeat(100_000);
        for max_depth in [MAX_DEPTH, usize::MAX] {
            let err = parse(&input, usize::MAX, max_depth).unwrap_err();
            assert_eq!(err.kind, JsonErrorKind::TooDeep, "{err:?}");
        }
    }

    #[test]
    fn malformed_has_empty_pointer_and_line_and_column() {
        let err = refused("{\n  \"a\": [1,,2]\n}");
        assert_eq!(err.kind, JsonErrorKind::Malformed);
        assert_eq!(err.pointer, "");
        assert!(err.message.ends_with("at line 2 column 11"), "{err:?}");
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let err = refused(r#"{"Version": "2012-10-17"} {"Statement": []}"#);
        assert_eq!(err.kind, JsonErrorKind::Malformed);
        assert_eq!(err.pointer, "");
        assert!(err.message.contains("trailing characters"), "{err:?}");
        assert!(ok("  {}\n\t ").as_object().is_some());
    }

    #[test]
    fn empty_input_is_malformed() {
        for input in ["", "   \n"] {
            let err = refused(input);
            assert_eq!(err.kind, JsonErrorKind::Malformed);
            assert_eq!(err.pointer, "");
            assert!(err.message.contains("EOF"), "{err:?}");
        }
    }

    #[test]
    fn lone_surrogate_escape_is_malformed() {
        let err = refused(r#""\ud800""#);
        assert_eq!(err.kind, JsonErrorKind::Malformed, "{err:?}");
    }

    #[test]
    fn huge_integer_becomes_f64_and_out_of_range_float_is_malformed() {
        let json = ok("123456789012345678901234567890");
        let Json::Number(n) = &json else {
            panic!("{json:?}")
        };
        assert!(n.is_f64());
        assert_eq!(n.as_f64(), Some(1.2345678901234568e29));
        assert_eq!(parse(&json.to_string_compact(), 64, 1), Ok(json));

        let err = refused("[1e400]");
        assert_eq!(err.kind, JsonErrorKind::Malformed);
        assert!(err.message.contains("number out of range"), "{err:?}");

        let edges = ok("[18446744073709551615, -9223372036854775808, 0.1, 1e-320, -0.0]");
        assert_eq!(
            edges.to_string_compact(),
            "[18446744073709551615,-9223372036854775808,0.1,1e-320,-0.0]"
        );
    }

    #[test]
    fn float_literal_may_be_off_by_an_ulp_but_reparses_to_itself() {
        // serde_json without `float_roundtrip` parses some literals 1 ULP off (1.5e-300 becomes
        // 1.4999999999999998e-300); what it prints then parses back to the same value.
        let json = ok("1.5e-300");
        let Json::Number(n) = &json else {
            panic!("{json:?}")
        };
        let value = n.as_f64().unwrap();
        assert!(
            (value - 1.5e-300).abs() <= 1.5e-300 * f64::EPSILON,
            "{value:e}"
        );
        assert_eq!(ok(&json.to_string_compact()), json);
    }

    #[test]
    fn strings_with_escapes_round_trip() {
        let input = r#"{"nul\u0000key": "a\u0000b\"c\\d\/e\n\t\u001f\u007f\ud83d\ude00é~/"}"#;
        let json = ok(input);
        let members = json.as_object().unwrap();
        assert_eq!(members[0].0, "nul\0key");
        assert_eq!(
            members[0].1.as_str(),
            Some("a\0b\"c\\d/e\n\t\u{1f}\u{7f}😀é~/")
        );
        assert_eq!(ok(&json.to_string_pretty()), json);
        assert_eq!(ok(&json.to_string_compact()), json);
    }

    #[test]
    fn realistic_policy_round_trips_in_document_order() {
        let json = ok(POLICY);
        assert_eq!(json.to_string_pretty(), POLICY);
        assert_eq!(ok(&json.to_string_compact()), json);

        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["Version", "Statement"]);
        let statement = &json.as_object().unwrap()[1].1.as_array().unwrap()[0];
        let keys: Vec<&str> = statement
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "Sid",
                "Effect",
                "Principal",
                "Action",
                "Resource",
                "Condition"
            ]
        );
    }

    #[test]
    fn pretty_and_compact_layouts_match_serde_json() {
        let input = r#"{"z": [1, {"y": null, "x": [true, false]}, [], {}], "a": "s", "n": -1.5}"#;
        let json = ok(input);
        let value: serde_json::Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            json.to_string_compact(),
            r#"{"z":[1,{"y":null,"x":[true,false]},[],{}],"a":"s","n":-1.5}"#
        );
        // serde_json's Map sorts keys; after sorting the layouts must agree byte for byte.
        let sorted = Json::from_value(value.clone());
        assert_eq!(
            sorted.to_string_pretty(),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(
            sorted.to_string_compact(),
            serde_json::to_string(&value).unwrap()
        );
        assert_eq!(json.to_value(), value);
    }

    #[test]
    fn from_value_keeps_map_iteration_order_and_to_value_inverts_it() {
        let value = serde_json::json!({"b": [1, "x", null], "a": {"d": true, "c": 2.5}});
        let json = Json::from_value(value.clone());
        let expected: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(json.to_value(), value);
    }

    #[test]
    fn accessors_and_type_names() {
        let json = ok(r#"[null, true, 1, "s", [], {}]"#);
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(Json::type_name)
            .collect();
        assert_eq!(
            names,
            ["null", "boolean", "number", "string", "array", "object"]
        );
        assert_eq!(json.type_name(), "array");
        assert_eq!(json.as_str(), None);
        assert_eq!(json.as_object(), None);
        assert_eq!(Json::String("s".into()).as_array(), None);
    }

    #[test]
    fn error_display_names_the_pointer() {
        let err = refused(r#"{"a": {"b": 1, "b": 2}}"#);
        assert_eq!(err.to_string(), format!("{} (at /a/b)", err.message));
        let err = refused("");
        assert_eq!(err.to_string(), err.message);
    }
}
