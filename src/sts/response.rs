//! Strict parsing of AWS STS answers.
//!
//! [`parse_get_caller_identity`] accepts only a well-formed, UTF-8 `GetCallerIdentityResponse`
//! document with exactly one `GetCallerIdentityResult` holding exactly one non-empty `Arn`,
//! `UserId` and `Account`, where the account in the ARN equals `Account`. Anything else is a
//! [`ResponseError`] naming what was wrong, so that a misconfigured upstream (an emulator with
//! authentication off, a proxy's HTML page, a truncated body) is diagnosable.
//!
//! Hardening: any DOCTYPE or DTD markup is refused before and during parsing, custom entities
//! are never expanded, character references are refused (STS never sends them in these
//! documents), and only the five predefined XML entities are decoded. The caller caps the body
//! size; this module additionally caps the element nesting depth.
//!
//! [`parse_error_response`] reads an STS `ErrorResponse` document for diagnostics (which error
//! code STS gave); it is lenient about optional parts and returns `None` for anything else.

use quick_xml::Reader;
use quick_xml::errors::Error as XmlError;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// Deepest element nesting accepted; real STS documents are 4 levels deep.
const MAX_DEPTH: usize = 32;

/// Longest element name kept in a [`ResponseError::WrongRoot`], in characters.
const MAX_REPORTED_NAME: usize = 64;

/// Longest error code accepted in an error document, in bytes.
const MAX_ERROR_CODE: usize = 256;

/// Longest error message kept from an error document, in characters.
const MAX_ERROR_MESSAGE: usize = 1024;

/// The identity STS vouched for in a `GetCallerIdentity` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The caller's ARN, e.g. `arn:aws:sts::123456789012:assumed-role/deployer/ci-42`.
    pub arn: String,
    /// The caller's 12-digit account id; equal to the account field of [`Self::arn`].
    pub account: String,
    /// The caller's unique id, e.g. `AROAEXAMPLEID1234567:ci-42` for an assumed role.
    pub user_id: String,
}

/// Why an STS answer was not accepted as a `GetCallerIdentity` result.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The body is empty or only whitespace.
    #[error("the STS response body is empty")]
    EmptyBody,
    /// The body is not UTF-8, or its XML declaration names another encoding.
    #[error("the STS response body is not UTF-8")]
    NotUtf8,
    /// The body is not a well-formed XML document.
    #[error("the STS response body is not well-formed XML")]
    NotXml,
    /// The document ends before its root element is closed.
    #[error("the STS response body ends before the XML document is complete")]
    Truncated,
    /// The document contains a DOCTYPE or other DTD markup.
    #[error("the STS response contains a DOCTYPE or DTD, which is refused")]
    Doctype,
    /// The document uses an entity reference other than the five predefined ones, or a
    /// character reference. Holds the reference's name (without `&` and `;`), shortened.
    #[error("the STS response contains the unsupported reference &{0};")]
    UnsupportedReference(String),
    /// The document contains markup that STS does not send: a processing instruction, a
    /// CDATA section, or an XML declaration that is not at the very start.
    #[error("the STS response contains unsupported markup: {0}")]
    UnsupportedMarkup(&'static str),
    /// Elements are nested deeper than any STS answer.
    #[error("the STS response nests elements too deeply")]
    TooDeep,
    /// The root element is not `GetCallerIdentityResponse`. Holds its local name, shortened.
    #[error("the STS response root element is {0:?}, not GetCallerIdentityResponse")]
    WrongRoot(String),
    /// The root has no `GetCallerIdentityResult` child.
    #[error("the STS response has no GetCallerIdentityResult")]
    MissingResult,
    /// The root has more than one `GetCallerIdentityResult` child.
    #[error("the STS response has more than one GetCallerIdentityResult")]
    DuplicateResult,
    /// The result lacks the named field.
    #[error("the STS response result has no {0}")]
    MissingField(&'static str),
    /// The result has the named field more than once.
    #[error("the STS response result has more than one {0}")]
    DuplicateField(&'static str),
    /// The named field is empty.
    #[error("the STS response result has an empty {0}")]
    EmptyField(&'static str),
    /// The named field has surrounding whitespace, control characters or child elements.
    #[error("the STS response result has a malformed {0}")]
    InvalidField(&'static str),
    /// `Arn` is not of the form `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
    #[error("the STS response Arn is not a well-formed ARN")]
    InvalidArn,
    /// `Account` is not 12 ASCII digits.
    #[error("the STS response Account is not a 12-digit account id")]
    InvalidAccount,
    /// The account in `Arn` differs from `Account`.
    #[error("the STS response Arn names another account than Account")]
    AccountMismatch,
    /// Something other than whitespace or comments follows the root element.
    #[error("the STS response has content after its root element")]
    TrailingContent,
}

/// The parts of an STS `ErrorResponse` document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsErrorDocument {
    /// `Type`, e.g. `Sender` or `Receiver`, if present.
    pub error_type: Option<String>,
    /// `Code`, e.g. `SignatureDoesNotMatch`, `ExpiredToken` or `Throttling`.
    pub code: String,
    /// `Message`, if present, with control characters replaced by spaces and shortened.
    pub message: Option<String>,
}

/// Parses a `GetCallerIdentity` answer strictly.
///
/// # Errors
///
/// A [`ResponseError`] naming the first problem found; see the module documentation.
pub fn parse_get_caller_identity(body: &[u8]) -> Result<CallerIdentity, ResponseError> {
    const ARN: usize = 0;
    const USER_ID: usize = 1;
    const ACCOUNT: usize = 2;
    let shape = Shape {
        root: "GetCallerIdentityResponse",
        wrapper: None,
        section: "GetCallerIdentityResult",
        fields: ["Arn", "UserId", "Account"],
    };
    let collected = walk(body, &shape)?;
    if collected.sections == 0 {
        return Err(ResponseError::MissingResult);
    }
    let [arn, user_id, account] = &collected.fields;
    let arn = strict_value(arn, shape.fields[ARN])?;
    let user_id = strict_value(user_id, shape.fields[USER_ID])?;
    let account = strict_value(account, shape.fields[ACCOUNT])?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ResponseError::InvalidAccount);
    }
    if arn_account(&arn).ok_or(ResponseError::InvalidArn)? != account {
        return Err(ResponseError::AccountMismatch);
    }
    Ok(CallerIdentity {
        arn,
        account,
        user_id,
    })
}

/// Parses an STS `ErrorResponse` document (`ErrorResponse` > `Error` > `Code`, `Type`,
/// `Message`, any namespace).
///
/// Returns `None` unless the body is a well-formed document of that shape with exactly one
/// `Error` holding exactly one non-empty `Code`. Use it only to classify or log an error answer;
/// the HTTP status decides whether an answer is an error at all.
pub fn parse_error_response(body: &[u8]) -> Option<StsErrorDocument> {
    let shape = |wrapper| Shape {
        root: "ErrorResponse",
        wrapper,
        section: "Error",
        fields: ["Type", "Code", "Message"],
    };
    // STS's own shape, then moto's (`ErrorResponse > Errors > Error`).
    let collected = [None, Some("Errors")]
        .into_iter()
        .filter_map(|wrapper| walk(body, &shape(wrapper)).ok())
        .find(|collected| collected.sections == 1)?;
    let [error_type, code, message] = &collected.fields;
    let code = lenient_value(code)?;
    if code.len() > MAX_ERROR_CODE {
        return None;
    }
    let message = lenient_value(message).map(|message| {
        message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_ERROR_MESSAGE)
            .collect()
    });
    Some(StsErrorDocument {
        error_type: lenient_value(error_type).filter(|t| t.len() <= MAX_ERROR_CODE),
        code,
        message,
    })
}

/// The expected document shape: a root, sections directly under it, fields directly under a
/// section. Names are local names (any namespace prefix is ignored).
struct Shape<const N: usize> {
    root: &'static str,
    /// An element between the root and the sections (moto's `<Errors>`), if any.
    wrapper: Option<&'static str>,
    section: &'static str,
    fields: [&'static str; N],
}

/// What [`walk`] found.
struct Collected<const N: usize> {
    /// How many sections the root had (at most one, more is an error).
    sections: usize,
    /// The fields of the (single) section.
    fields: [Field; N],
}

/// One field's occurrences and text.
#[derive(Default)]
struct Field {
    /// How many times the field occurred (at most one, more is an error).
    count: usize,
    /// Its text, with predefined entities decoded.
    text: String,
    /// Whether it contained a child element.
    nested: bool,
}

/// Reads the whole document, checking well-formedness and the root, and collecting the fields
/// of the section. Duplicate sections and fields are errors here.
fn walk<const N: usize>(body: &[u8], shape: &Shape<N>) -> Result<Collected<N>, ResponseError> {
    let text = std::str::from_utf8(body).map_err(|_| ResponseError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.bytes().all(is_xml_space) {
        return Err(ResponseError::EmptyBody);
    }
    if has_dtd_markup(text.as_bytes()) {
        return Err(ResponseError::Doctype);
    }

    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.allow_dangling_amp = false;
    config.allow_unmatched_ends = false;
    config.check_comments = true;
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut walker = Walker {
        shape,
        collected: Collected {
            sections: 0,
            fields: std::array::from_fn(|_| Field::default()),
        },
        depth: 0,
        root_seen: false,
        in_wrapper: false,
        in_section: false,
        field: None,
    };
    let mut first_event = true;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| map_xml_error(&error, walker.root_seen))?;
        let is_first = std::mem::replace(&mut first_event, false);
        match event {
            Event::Decl(decl) => {
                if !is_first {
                    return Err(ResponseError::UnsupportedMarkup(
                        "XML declaration not at the start",
                    ));
                }
                decl.version().map_err(|_| ResponseError::NotXml)?;
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|_| ResponseError::NotXml)?;
                    if !encoding.eq_ignore_ascii_case(b"utf-8") {
                        return Err(ResponseError::NotUtf8);
                    }
                }
            }
            Event::DocType(_) => return Err(ResponseError::Doctype),
            Event::PI(_) => {
                return Err(ResponseError::UnsupportedMarkup("processing instruction"));
            }
            Event::CData(_) => return Err(ResponseError::UnsupportedMarkup("CDATA section")),
            Event::Comment(_) => {}
            Event::Start(start) => walker.open(&start, false)?,
            Event::Empty(start) => walker.open(&start, true)?,
            Event::End(_) => walker.close()?,
            Event::Text(text) => {
                let text = text.decode().map_err(|_| ResponseError::NotXml)?;
                walker.text(&text)?;
            }
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference)?;
                walker.text(c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
        }
    }

    if walker.depth > 0 {
        return Err(ResponseError::Truncated);
    }
    if !walker.root_seen {
        return Err(ResponseError::NotXml);
    }
    Ok(walker.collected)
}

/// The state of [`walk`].
struct Walker<'s, const N: usize> {
    shape: &'s Shape<N>,
    collected: Collected<N>,
    /// Number of currently open elements.
    depth: usize,
    /// Whether the root element has started (it may have ended since).
    root_seen: bool,
    /// Whether the open element at depth 2 is the wrapper (when the shape has one).
    in_wrapper: bool,
    /// Whether the open element at the section's depth is the section.
    in_section: bool,
    /// The field open at depth 3, inside the section, if any.
    field: Option<usize>,
}

impl<const N: usize> Walker<'_, N> {
    /// 1 when the shape has a wrapper element, shifting sections and fields one level down.
    fn shift(&self) -> usize {
        usize::from(self.shape.wrapper.is_some())
    }

    /// A start tag, or an empty-element tag if `is_empty`.
    fn open(&mut self, start: &BytesStart<'_>, is_empty: bool) -> Result<(), ResponseError> {
        if self.depth == 0 && self.root_seen {
            return Err(ResponseError::TrailingContent);
        }
        let local = check_element(start)?;
        match self.depth {
            0 => {
                self.root_seen = true;
                if local != self.shape.root.as_bytes() {
                    return Err(ResponseError::WrongRoot(reported_name(local)));
                }
            }
            1 if self.shape.wrapper.is_some_and(|w| w.as_bytes() == local) => {
                self.in_wrapper = !is_empty;
            }
            d if d == 1 + self.shift()
                && (self.shift() == 0 || self.in_wrapper)
                && local == self.shape.section.as_bytes() =>
            {
                self.collected.sections += 1;
                if self.collected.sections > 1 {
                    return Err(ResponseError::DuplicateResult);
                }
                self.in_section = !is_empty;
            }
            d if d == 2 + self.shift() && self.in_section => {
                let found = self.shape.fields.iter().position(|f| f.as_bytes() == local);
                if let Some(index) = found {
                    let slot = &mut self.collected.fields[index];
                    slot.count += 1;
                    if slot.count > 1 {
                        return Err(ResponseError::DuplicateField(self.shape.fields[index]));
                    }
                    if !is_empty {
                        self.field = Some(index);
                    }
                }
            }
            d if d == 3 + self.shift() => {
                if let Some(index) = self.field {
                    self.collected.fields[index].nested = true;
                }
            }
            _ => {}
        }
        if !is_empty {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(ResponseError::TooDeep);
            }
        }
        Ok(())
    }

    /// An end tag. The reader refuses unmatched and mismatched end tags.
    fn close(&mut self) -> Result<(), ResponseError> {
        self.depth = self.depth.checked_sub(1).ok_or(ResponseError::NotXml)?;
        let shift = self.shift();
        if shift == 1 && self.depth == 1 {
            self.in_wrapper = false;
        }
        if self.depth == 1 + shift {
            self.in_section = false;
        } else if self.depth == 2 + shift {
            self.field = None;
        }
        Ok(())
    }

    /// Character data (already decoded).
    fn text(&mut self, text: &str) -> Result<(), ResponseError> {
        if self.depth == 0 {
            if !text.bytes().all(is_xml_space) {
                return Err(outside_root(self.root_seen));
            }
        } else if self.depth == 3 + self.shift()
            && let Some(index) = self.field
        {
            self.collected.fields[index].text.push_str(text);
        }
        Ok(())
    }
}

/// The error for non-whitespace content at the top level.
fn outside_root(root_seen: bool) -> ResponseError {
    if root_seen {
        ResponseError::TrailingContent
    } else {
        ResponseError::NotXml
    }
}

/// Maps a reader error: input that ends inside markup after the root started is truncated,
/// anything else is not XML.
fn map_xml_error(error: &XmlError, root_seen: bool) -> ResponseError {
    match error {
        XmlError::Syntax(_) if root_seen => ResponseError::Truncated,
        _ => ResponseError::NotXml,
    }
}

/// Checks a start tag's name and attributes; returns its local name.
fn check_element<'a>(start: &'a BytesStart<'_>) -> Result<&'a [u8], ResponseError> {
    let name = start.name();
    if !is_xml_name(name.as_ref()) {
        return Err(ResponseError::NotXml);
    }
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|_| ResponseError::NotXml)?;
        if !is_xml_name(attribute.key.as_ref()) {
            return Err(ResponseError::NotXml);
        }
        check_references(&attribute.value)?;
    }
    let name = start.name().0;
    Ok(match name.iter().position(|&b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    })
}

/// Resolves a reference in text: only the five predefined entities are accepted.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, ResponseError> {
    predefined_entity(reference)
        .ok_or_else(|| ResponseError::UnsupportedReference(reported_name(reference)))
}

/// The character of a predefined entity name.
fn predefined_entity(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"apos" => Some('\''),
        b"quot" => Some('"'),
        _ => None,
    }
}

/// Checks the references in a raw attribute value (which the reader does not resolve).
fn check_references(value: &[u8]) -> Result<(), ResponseError> {
    let mut rest = value;
    while let Some(amp) = rest.iter().position(|&b| b == b'&') {
        rest = &rest[amp + 1..];
        let semicolon = rest
            .iter()
            .position(|&b| b == b';')
            .ok_or(ResponseError::NotXml)?;
        let name = &rest[..semicolon];
        if predefined_entity(name).is_none() {
            return Err(ResponseError::UnsupportedReference(reported_name(name)));
        }
        rest = &rest[semicolon + 1..];
    }
    Ok(())
}

/// Whether the body contains markup that only a DTD uses (`<!DOCTYPE`, `<!ENTITY`, ...),
/// compared ASCII case-insensitively, anywhere (even inside comments).
fn has_dtd_markup(body: &[u8]) -> bool {
    const KEYWORDS: [&[u8]; 5] = [b"doctype", b"entity", b"element", b"attlist", b"notation"];
    body.windows(2)
        .enumerate()
        .filter(|(_, pair)| *pair == b"<!")
        .any(|(at, _)| {
            let after = &body[at + 2..];
            KEYWORDS.iter().any(|keyword| {
                after.len() >= keyword.len() && after[..keyword.len()].eq_ignore_ascii_case(keyword)
            })
        })
}

/// Whether `name` is a plausible XML (qualified) name. Stricter than the reader, which would
/// otherwise take `<<<` or `<1>` as a tag named `<<` or `1`.
fn is_xml_name(name: &[u8]) -> bool {
    let Some((&first, rest)) = name.split_first() else {
        return false;
    };
    let start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80;
    start(first)
        && rest
            .iter()
            .all(|&b| start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// XML whitespace: space, tab, carriage return, line feed.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A name from the document, made safe and short for error messages and logs.
fn reported_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_REPORTED_NAME)
        .collect()
}

/// A required field of the success document, exactly as sent.
fn strict_value(field: &Field, name: &'static str) -> Result<String, ResponseError> {
    if field.count == 0 {
        return Err(ResponseError::MissingField(name));
    }
    if field.nested {
        return Err(ResponseError::InvalidField(name));
    }
    let text = &field.text;
    if text.trim().is_empty() {
        return Err(ResponseError::EmptyField(name));
    }
    if text.trim() != text || text.chars().any(char::is_control) {
        return Err(ResponseError::InvalidField(name));
    }
    Ok(text.clone())
}

/// An error-document field, trimmed; `None` if absent, empty or holding elements.
fn lenient_value(field: &Field) -> Option<String> {
    if field.count != 1 || field.nested {
        return None;
    }
    let text = field.text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The account field of an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, if the ARN
/// has that shape (partition, service and resource non-empty).
fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let prefix = parts.next()?;
    let partition = parts.next()?;
    let service = parts.next()?;
    let _region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?;
    (prefix == "arn" && !partition.is_empty() && !service.is_empty() && !resource.is_empty())
        .then_some(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:sts::123456789012:assumed-role/deployer/ci-42</Arn>\n    <UserId>AROAEXAMPLEID1234567:ci-42</UserId>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n";

    /// A success document with the given result content.
    fn with_result(result: &str) -> String {
        format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult>{result}</GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        )
    }

    const ARN: &str = "<Arn>arn:aws:iam::123456789012:user/alice</Arn>";
    const USER_ID: &str = "<UserId>AIDAEXAMPLEUSERID0001</UserId>";
    const ACCOUNT: &str = "<Account>123456789012</Account>";

    fn parse(body: &str) -> Result<CallerIdentity, ResponseError> {
        parse_get_caller_identity(body.as_bytes())
    }

    #[test]
    fn real_example_parses() {
        assert_eq!(
            parse(REAL),
            Ok(CallerIdentity {
                arn: "arn:aws:sts::123456789012:assumed-role/deployer/ci-42".into(),
                account: "123456789012".into(),
                user_id: "AROAEXAMPLEID1234567:ci-42".into(),
            })
        );
    }

    #[test]
    fn user_arn_parses() {
        let identity = parse(&with_result(&format!("{ARN}{USER_ID}{ACCOUNT}"))).unwrap();
        assert_eq!(identity.arn, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(identity.user_id, "AIDAEXAMPLEUSERID0001");
        assert_eq!(identity.account, "123456789012");
    }

    #[test]
    fn xml_declaration_prefix_and_unknown_children_are_accepted() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <sts:GetCallerIdentityResponse xmlns:sts=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
            <!-- comment --><sts:GetCallerIdentityResult><Extra><Arn>ignored</Arn></Extra>\
            <sts:Account>123456789012</sts:Account>\
            <sts:UserId>AIDAEXAMPLEUSERID0001</sts:UserId>\
            <sts:Arn>arn:aws:iam::123456789012:user/a&amp;b</sts:Arn>\
            </sts:GetCallerIdentityResult><Other/></sts:GetCallerIdentityResponse>\n";
        let identity = parse(body).unwrap();
        assert_eq!(identity.arn, "arn:aws:iam::123456789012:user/a&b");
    }

    #[test]
    fn s3_bucket_listing_is_wrong_root() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01\"><Owner><ID>bcaf1ffd86f41161ca5fb16fd081034f</ID><DisplayName>webfile</DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>";
        assert_eq!(
            parse(body),
            Err(ResponseError::WrongRoot("ListAllMyBucketsResult".into()))
        );
    }

    #[test]
    fn two_results_are_rejected() {
        let result = format!("{ARN}{USER_ID}{ACCOUNT}");
        let body = format!(
            "<GetCallerIdentityResponse><GetCallerIdentityResult>{result}</GetCallerIdentityResult>\
             <GetCallerIdentityResult>{result}</GetCallerIdentityResult></GetCallerIdentityResponse>"
        );
        assert_eq!(parse(&body), Err(ResponseError::DuplicateResult));
    }

    #[test]
    fn missing_result_is_rejected() {
        let body = "<GetCallerIdentityResponse><ResponseMetadata/></GetCallerIdentityResponse>";
        assert_eq!(parse(body), Err(ResponseError::MissingResult));
        assert_eq!(
            parse("<GetCallerIdentityResponse/>"),
            Err(ResponseError::MissingResult)
        );
    }

    #[test]
    fn result_nested_deeper_does_not_count() {
        let body = format!(
            "<GetCallerIdentityResponse><Wrapper><GetCallerIdentityResult>{ARN}{USER_ID}{ACCOUNT}\
             </GetCallerIdentityResult></Wrapper></GetCallerIdentityResponse>"
        );
        assert_eq!(parse(&body), Err(ResponseError::MissingResult));
    }

    #[test]
    fn missing_arn_is_rejected() {
        let body = with_result(&format!("{USER_ID}{ACCOUNT}"));
        assert_eq!(parse(&body), Err(ResponseError::MissingField("Arn")));
    }

    #[test]
    fn missing_user_id_is_rejected() {
        let body = with_result(&format!("{ARN}{ACCOUNT}"));
        assert_eq!(parse(&body), Err(ResponseError::MissingField("UserId")));
    }

    #[test]
    fn missing_account_is_rejected() {
        let body = with_result(&format!("{ARN}{USER_ID}"));
        assert_eq!(parse(&body), Err(ResponseError::MissingField("Account")));
    }

    #[test]
    fn duplicate_field_is_rejected() {
        let body = with_result(&format!("{ARN}{USER_ID}{ACCOUNT}{ARN}"));
        assert_eq!(parse(&body), Err(ResponseError::DuplicateField("Arn")));
    }

    #[test]
    fn empty_field_is_rejected() {
        let body = with_result(&format!("{ARN}<UserId></UserId>{ACCOUNT}"));
        assert_eq!(parse(&body), Err(ResponseError::EmptyField("UserId")));
        let body = with_result(&format!("{ARN}{USER_ID}<Account/>"));
        assert_eq!(parse(&body), Err(ResponseError::EmptyField("Account")));
    }

    #[test]
    fn whitespace_padded_field_is_rejected() {
        let body = with_result(&format!(
            "<Arn> arn:aws:iam::123456789012:user/alice\n</Arn>{USER_ID}{ACCOUNT}"
        ));
        assert_eq!(parse(&body), Err(ResponseError::InvalidField("Arn")));
    }

    #[test]
    fn control_character_in_field_is_rejected() {
        let body = with_result(&format!("{ARN}<UserId>AIDA\tX</UserId>{ACCOUNT}"));
        assert_eq!(parse(&body), Err(ResponseError::InvalidField("UserId")));
    }

    #[test]
    fn element_inside_field_is_rejected() {
        let body = with_result(&format!(
            "{ARN}{USER_ID}<Account>1234<b/>56789012</Account>"
        ));
        assert_eq!(parse(&body), Err(ResponseError::InvalidField("Account")));
    }

    #[test]
    fn account_mismatch_is_rejected() {
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::999999999999:user/alice</Arn>{USER_ID}{ACCOUNT}"
        ));
        assert_eq!(parse(&body), Err(ResponseError::AccountMismatch));
    }

    #[test]
    fn non_twelve_digit_account_is_rejected() {
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::12345678901:user/alice</Arn>{USER_ID}<Account>12345678901</Account>"
        ));
        assert_eq!(parse(&body), Err(ResponseError::InvalidAccount));
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::12345678901x:user/alice</Arn>{USER_ID}<Account>12345678901x</Account>"
        ));
        assert_eq!(parse(&body), Err(ResponseError::InvalidAccount));
    }

    #[test]
    fn malformed_arn_is_rejected() {
        let body = with_result(&format!("<Arn>not-an-arn</Arn>{USER_ID}{ACCOUNT}"));
        assert_eq!(parse(&body), Err(ResponseError::InvalidArn));
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::123456789012</Arn>{USER_ID}{ACCOUNT}"
        ));
        assert_eq!(parse(&body), Err(ResponseError::InvalidArn));
    }

    #[test]
    fn billion_laughs_doctype_is_rejected() {
        let body = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
            <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n\
            <GetCallerIdentityResponse><GetCallerIdentityResult>\
            <Arn>arn:aws:iam::123456789012:user/&lol3;</Arn>\
            <UserId>AIDAEXAMPLEUSERID0001</UserId><Account>123456789012</Account>\
            </GetCallerIdentityResult></GetCallerIdentityResponse>";
        assert_eq!(parse(body), Err(ResponseError::Doctype));
    }

    #[test]
    fn lower_case_doctype_inside_document_is_rejected() {
        let body = format!(
            "{}<!doctype x>",
            with_result(&format!("{ARN}{USER_ID}{ACCOUNT}"))
        );
        assert_eq!(parse(&body), Err(ResponseError::Doctype));
    }

    #[test]
    fn custom_entity_reference_is_rejected() {
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::123456789012:user/&xxe;</Arn>{USER_ID}{ACCOUNT}"
        ));
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedReference("xxe".into()))
        );
    }

    #[test]
    fn character_reference_is_rejected() {
        let body = with_result(&format!(
            "<Arn>arn:aws:iam::123456789012:user/&#x61;</Arn>{USER_ID}{ACCOUNT}"
        ));
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedReference("#x61".into()))
        );
    }

    #[test]
    fn custom_entity_in_attribute_is_rejected() {
        let body = REAL.replacen(
            "<GetCallerIdentityResult>",
            "<GetCallerIdentityResult a=\"&xxe;\">",
            1,
        );
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedReference("xxe".into()))
        );
    }

    #[test]
    fn garbage_is_not_xml() {
        assert_eq!(parse("hello, world"), Err(ResponseError::NotXml));
        assert_eq!(parse("<<<>>>"), Err(ResponseError::NotXml));
        assert_eq!(parse("{\"Arn\": \"x\"}"), Err(ResponseError::NotXml));
    }

    #[test]
    fn non_utf8_is_rejected() {
        let mut body = REAL.as_bytes().to_vec();
        body.insert(60, 0xff);
        assert_eq!(
            parse_get_caller_identity(&body),
            Err(ResponseError::NotUtf8)
        );
        let latin1 = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{REAL}");
        assert_eq!(parse(&latin1), Err(ResponseError::NotUtf8));
    }

    #[test]
    fn html_page_is_rejected() {
        let page = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
            <body><h1>502 Bad Gateway</h1></body></html>";
        assert_eq!(parse(page), Err(ResponseError::Doctype));
        let page = "<html><head><meta charset=utf-8></head><body>Oops</body></html>";
        assert_eq!(parse(page), Err(ResponseError::WrongRoot("html".into())));
    }

    #[test]
    fn empty_body_is_rejected() {
        assert_eq!(parse(""), Err(ResponseError::EmptyBody));
        assert_eq!(parse(" \r\n\t"), Err(ResponseError::EmptyBody));
    }

    #[test]
    fn second_root_element_is_rejected() {
        let body = format!("{REAL}<GetCallerIdentityResponse/>");
        assert_eq!(parse(&body), Err(ResponseError::TrailingContent));
    }

    #[test]
    fn text_after_root_is_rejected() {
        let body = format!("{REAL}trailing");
        assert_eq!(parse(&body), Err(ResponseError::TrailingContent));
        let body = format!("{REAL}&amp;");
        assert_eq!(parse(&body), Err(ResponseError::TrailingContent));
    }

    #[test]
    fn text_before_root_is_rejected() {
        let body = format!("junk{REAL}");
        assert_eq!(parse(&body), Err(ResponseError::NotXml));
    }

    #[test]
    fn truncated_document_is_rejected() {
        let cut = &REAL[..REAL.find("<Account>").unwrap() + 14];
        assert_eq!(parse(cut), Err(ResponseError::Truncated));
        let cut = &REAL[..REAL.find("</GetCallerIdentityResponse>").unwrap()];
        assert_eq!(parse(cut), Err(ResponseError::Truncated));
        let cut = &REAL[..REAL.find("<Account>").unwrap() + 4];
        assert_eq!(parse(cut), Err(ResponseError::Truncated));
    }

    #[test]
    fn mismatched_end_tag_is_not_xml() {
        let body = REAL.replacen("</Arn>", "</Arm>", 1);
        assert_eq!(parse(&body), Err(ResponseError::NotXml));
    }

    #[test]
    fn processing_instruction_and_cdata_are_rejected() {
        let body = REAL.replacen("<ResponseMetadata>", "<?php x?><ResponseMetadata>", 1);
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedMarkup("processing instruction"))
        );
        let body = with_result(&format!("<Arn><![CDATA[x]]></Arn>{USER_ID}{ACCOUNT}"));
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedMarkup("CDATA section"))
        );
    }

    #[test]
    fn late_xml_declaration_is_rejected() {
        let body = format!("\n<?xml version=\"1.0\"?>{REAL}");
        assert_eq!(
            parse(&body),
            Err(ResponseError::UnsupportedMarkup(
                "XML declaration not at the start"
            ))
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let open = "<a>".repeat(MAX_DEPTH);
        let close = "</a>".repeat(MAX_DEPTH);
        let body = REAL.replacen(
            "<ResponseMetadata>",
            &format!("<ResponseMetadata>{open}{close}"),
            1,
        );
        assert_eq!(parse(&body), Err(ResponseError::TooDeep));
    }

    #[test]
    fn wrong_root_name_is_sanitized() {
        let body = "<Evil\u{9b}31m/>";
        let err = parse(body).unwrap_err();
        assert_eq!(err, ResponseError::WrongRoot("Evil?31m".into()));
    }

    const ERROR_DOC: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match...</Message></Error><RequestId>x</RequestId></ErrorResponse>";

    #[test]
    fn error_document_parses() {
        assert_eq!(
            parse_error_response(ERROR_DOC.as_bytes()),
            Some(StsErrorDocument {
                error_type: Some("Sender".into()),
                code: "SignatureDoesNotMatch".into(),
                message: Some("The request signature we calculated does not match...".into()),
            })
        );
    }

    #[test]
    fn error_document_without_optional_parts_parses() {
        let body = "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>";
        assert_eq!(
            parse_error_response(body.as_bytes()),
            Some(StsErrorDocument {
                error_type: None,
                code: "Throttling".into(),
                message: None,
            })
        );
    }

    #[test]
    fn error_document_without_code_is_none() {
        let body = ERROR_DOC.replacen("<Code>SignatureDoesNotMatch</Code>", "", 1);
        assert_eq!(parse_error_response(body.as_bytes()), None);
        let body = ERROR_DOC.replacen("SignatureDoesNotMatch", " ", 1);
        assert_eq!(parse_error_response(body.as_bytes()), None);
    }

    #[test]
    fn html_is_not_an_error_document() {
        let page = b"<html><body><h1>403 Forbidden</h1></body></html>";
        assert_eq!(parse_error_response(page), None);
        let page = b"<!DOCTYPE html><html><body>403</body></html>";
        assert_eq!(parse_error_response(page), None);
    }

    #[test]
    fn success_document_is_not_an_error_document() {
        assert_eq!(parse_error_response(REAL.as_bytes()), None);
        assert_eq!(parse_error_response(b""), None);
    }

    #[test]
    fn moto_error_documents_with_an_errors_wrapper_parse() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>m</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"#;
        let doc = parse_error_response(body).unwrap();
        assert_eq!(doc.code, "SignatureDoesNotMatch");
        assert_eq!(doc.error_type.as_deref(), Some("Sender"));
    }

    #[test]
    fn an_errors_wrapper_does_not_make_success_documents_nest() {
        let body = b"<GetCallerIdentityResponse><Errors><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/a</Arn><UserId>AIDA1</UserId><Account>123456789012</Account></GetCallerIdentityResult></Errors></GetCallerIdentityResponse>";
        assert_eq!(
            parse_get_caller_identity(body),
            Err(ResponseError::MissingResult)
        );
    }
}
