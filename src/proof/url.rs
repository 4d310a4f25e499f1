//! A deliberately narrow URL parser for presigned STS URLs.
//!
//! General URL parsers accept (and normalize) far more than STS URLs need: userinfo, ports,
//! IP literals, upper-case hosts, dot segments, percent-encoded hosts. Each is a way to make the
//! URL we check differ from the URL we send. This parser accepts exactly
//! `https://HOST/?QUERY` and nothing else.

use crate::error::{AuthError, ReasonCode};

/// The pieces of a presigned URL, borrowed from the validated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProofUrl<'a> {
    pub(crate) host: &'a str,
    pub(crate) query: &'a str,
}

pub(crate) fn parse(url: &str) -> Result<ProofUrl<'_>, AuthError> {
    if !url.is_ascii() || url.bytes().any(|b| b == b' ') {
        return Err(
            AuthError::new(ReasonCode::ProofUrlMalformed).with_detail("non-ASCII or space in URL")
        );
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(match url.split_once("://") {
            Some(_) => ReasonCode::ProofSchemeNotHttps.into(),
            None => AuthError::new(ReasonCode::ProofUrlMalformed).with_detail("no scheme"),
        });
    };
    if rest.contains('#') {
        return Err(ReasonCode::ProofFragment.into());
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(ReasonCode::ProofUserinfo.into());
    }
    if authority.contains(':') {
        return Err(ReasonCode::ProofPort.into());
    }
    if authority.is_empty() {
        return Err(AuthError::new(ReasonCode::ProofUrlMalformed).with_detail("empty host"));
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    };
    if path != "/" {
        return Err(ReasonCode::ProofPath.into());
    }
    Ok(ProofUrl {
        host: authority,
        query,
    })
}

/// One `name=value` pair of a query, with the value percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: String,
}

/// Splits a query into pairs. Names and values must be in SigV4's canonical encoding: unreserved
/// characters and upper-case `%XX` escapes of other characters only. Anything else (`+`, raw
/// `/`, lower-case hex, an escaped unreserved character such as `%41`, empty pairs) is refused, so that the string we forward is the string STS canonicalizes.
pub(crate) fn split_query(query: &str) -> Result<Vec<Param<'_>>, AuthError> {
    let bad = |why: &'static str| AuthError::new(ReasonCode::ProofParamEncoding).with_detail(why);
    if query.is_empty() {
        return Err(AuthError::new(ReasonCode::ProofParamMissing).with_detail("no query"));
    }
    let mut params = Vec::with_capacity(9);
    for pair in query.split('&') {
        let (name, raw_value) = pair
            .split_once('=')
            .ok_or_else(|| bad("parameter without '='"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad("parameter name is not canonical"));
        }
        let value =
            percent_decode(raw_value).ok_or_else(|| bad("parameter value is not canonical"))?;
        params.push(Param { name, value });
    }
    Ok(params)
}

/// RFC 3986 §2.3 unreserved characters, which SigV4 never escapes.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~".contains(&c)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if is_unreserved(c) => {
                out.push(c);
                i += 1;
            }
            b'%' => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'A'..=b'F' => Some(c - b'A' + 10),
                    _ => None,
                };
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                let c = hi << 4 | lo;
                // A decoded value must be printable ASCII: no control characters smuggled in.
                // An escaped unreserved character is not canonical (SigV4 and RFC 3986 §2.3
                // leave them unescaped): two spellings of one value would be two cache keys.
                if !(0x20..0x7f).contains(&c) || is_unreserved(c) {
                    return None;
                }
                out.push(c);
                i += 3;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str) -> ReasonCode {
        parse(url).unwrap_err().reason()
    }

    #[test]
    fn accepts_the_one_shape() {
        let url = parse("https://sts.amazonaws.com/?Action=GetCallerIdentity").unwrap();
        assert_eq!(url.host, "sts.amazonaws.com");
        assert_eq!(url.query, "Action=GetCallerIdentity");
    }

    #[test]
    fn rejects_other_shapes() {
        assert_eq!(
            code("http://sts.amazonaws.com/?a=b"),
            ReasonCode::ProofSchemeNotHttps
        );
        assert_eq!(
            code("HTTPS://sts.amazonaws.com/?a=b"),
            ReasonCode::ProofSchemeNotHttps
        );
        assert_eq!(
            code("https://evil@sts.amazonaws.com/?a=b"),
            ReasonCode::ProofUserinfo
        );
        assert_eq!(
            code("https://sts.amazonaws.com:443/?a=b"),
            ReasonCode::ProofPort
        );
        assert_eq!(
            code("https://sts.amazonaws.com/?a=b#x"),
            ReasonCode::ProofFragment
        );
        assert_eq!(
            code("https://sts.amazonaws.com/x?a=b"),
            ReasonCode::ProofPath
        );
        assert_eq!(
            code("https://sts.amazonaws.com//?a=b"),
            ReasonCode::ProofPath
        );
        assert_eq!(code("https://sts.amazonaws.com?a=b"), ReasonCode::ProofPath);
        assert_eq!(code("https:///?a=b"), ReasonCode::ProofUrlMalformed);
        assert_eq!(
            code("sts.amazonaws.com/?a=b"),
            ReasonCode::ProofUrlMalformed
        );
        assert_eq!(
            code("https://stś.amazonaws.com/?a=b"),
            ReasonCode::ProofUrlMalformed
        );
    }

    #[test]
    fn query_values_must_be_canonical() {
        let params = split_query("A=a%2Fb&B=x-y_z.~").unwrap();
        assert_eq!(params[0].value, "a/b");
        assert_eq!(params[1].value, "x-y_z.~");
        for q in [
            "A=a+b", "A=a/b", "A=a%2fb", "A=a%2", "A", "A=b&&B=c", "A=b&", "=b", "A%41=b", "A=%0A",
            "A=%41", "A=a%2Db", "A=%7E", "A=%5F", "A=%2E", "A=%30",
        ] {
            assert_eq!(
                split_query(q).unwrap_err().reason(),
                ReasonCode::ProofParamEncoding,
                "{q}"
            );
        }
    }
}
