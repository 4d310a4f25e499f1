//! Value types of the IAM policy evaluator: glob patterns with policy variables, exact decimals,
//! dates and IP networks, with the semantics of IAM condition operators.
//!
//! Parsing happens once, when a policy is loaded, and may allocate. Matching and comparing happen
//! on every request: they never allocate and run in linear or (for globs) `O(n·m)` time.

use std::cmp::Ordering;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ---------------------------------------------------------------------------------------------
// Glob patterns with policy variables
// ---------------------------------------------------------------------------------------------

/// Which special syntax a [`Pattern`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PatternSyntax {
    /// `*` matches any run of characters and `?` exactly one; otherwise both are literal.
    pub wildcards: bool,
    /// `${name}` is a policy variable; otherwise it is literal text.
    pub variables: bool,
}

/// Why a pattern could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PatternError {
    /// `${name}` names a variable the lookup does not know.
    UnknownVariable(String),
    /// A `${` without its `}`, an empty name, or a name with characters IAM variables never have.
    MalformedVariable(String),
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownVariable(name) => write!(f, "unknown policy variable `${{{name}}}`"),
            Self::MalformedVariable(text) => write!(f, "malformed policy variable `{text}`"),
        }
    }
}

impl std::error::Error for PatternError {}

/// One piece of a parsed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Literal text, never empty, never adjacent to another literal.
    Lit(Box<str>),
    /// `*`: any run of characters, possibly empty (never two in a row).
    Star,
    /// `?`: exactly one character.
    One,
    /// `${name}`: the variable's value for this request, matched literally.
    Var(u16),
}

/// A string pattern from a policy: literal text, `*`/`?` wildcards and `${...}` policy variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The text the pattern was parsed from.
    source: Box<str>,
    /// The parsed pieces, in order.
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Parses `src`. With `wildcards`, `*` matches any run of characters (including `/` and empty)
    /// and `?` exactly one character; without, they are literal.
    ///
    /// With `variables`, `${name}` is a policy variable whose id `lookup(name)` gives (`None` is
    /// [`PatternError::UnknownVariable`]); `${*}`, `${?}` and `${$}` are the literal characters
    /// `*`, `?` and `$`. An unterminated `${`, an empty name, or a name containing whitespace,
    /// a comma, a quote, `$`, `{` or `}` (IAM's `${key, 'default'}` form is not supported) is
    /// [`PatternError::MalformedVariable`]. Without `variables`, `${...}` is literal text.
    pub(crate) fn parse(
        src: &str,
        syntax: PatternSyntax,
        lookup: &dyn Fn(&str) -> Option<u16>,
    ) -> Result<Pattern, PatternError> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && let Some(after) = rest.strip_prefix("${")
            {
                let Some(end) = after.find('}') else {
                    return Err(PatternError::MalformedVariable(rest.to_owned()));
                };
                let name = &after[..end];
                rest = &after[end + 1..];
                match name {
                    "*" | "?" | "$" => lit.push_str(name),
                    _ if name.is_empty()
                        || name.chars().any(|c| {
                            c.is_whitespace() || matches!(c, ',' | '\'' | '"' | '$' | '{' | '}')
                        }) =>
                    {
                        return Err(PatternError::MalformedVariable(format!("${{{name}}}")));
                    }
                    _ => {
                        let id = lookup(name)
                            .ok_or_else(|| PatternError::UnknownVariable(name.to_owned()))?;
                        flush(&mut pieces, &mut lit);
                        pieces.push(Piece::Var(id));
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut pieces, &mut lit);
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut pieces, &mut lit);
                    pieces.push(Piece::One);
                }
                _ => lit.push(c),
            }
        }
        flush(&mut pieces, &mut lit);
        Ok(Pattern {
            source: src.into(),
            pieces,
        })
    }

    /// Whether `text` matches; `None` when a variable the pattern uses is absent (`vars` gives
    /// `None`). `ignore_case` folds ASCII case on both sides; variable values match literally.
    pub(crate) fn matches<'v>(
        &self,
        text: &str,
        ignore_case: bool,
        vars: &dyn Fn(u16) -> Option<&'v str>,
    ) -> Option<bool> {
        self.matches_split("", text, ignore_case, vars)
    }

    /// [`matches`](Self::matches) for the text `head` followed by `tail`, without joining them
    /// (a resource is the service ARN followed by the request path).
    pub(crate) fn matches_split<'v>(
        &self,
        head: &str,
        tail: &str,
        ignore_case: bool,
        vars: &dyn Fn(u16) -> Option<&'v str>,
    ) -> Option<bool> {
        let text = SplitText {
            head: head.as_bytes(),
            tail: tail.as_bytes(),
        };
        // The common shapes (`*/orders/*`, `*/orders`, `/orders*`, a literal) with std's
        // substring routines; anything else, and case folding, by the general loop below.
        if !ignore_case {
            match &self.pieces[..] {
                [Piece::Lit(l)] => {
                    return Some(text.len() == l.len() && text.eq_at(0, l.as_bytes(), false));
                }
                [Piece::Star, Piece::Lit(l)] => {
                    return Some(
                        text.len() >= l.len()
                            && text.eq_at(text.len() - l.len(), l.as_bytes(), false),
                    );
                }
                [Piece::Lit(l), Piece::Star] => return Some(text.eq_at(0, l.as_bytes(), false)),
                [Piece::Star, Piece::Lit(l), Piece::Star] => {
                    return Some(text.contains(l.as_bytes()));
                }
                _ => {}
            }
        }
        for piece in &self.pieces {
            if let Piece::Var(id) = piece {
                vars(*id)?;
            }
        }
        let len = text.len();
        let pieces = &self.pieces[..];
        // Classic two-pointer glob matching: `p` indexes pieces, `t` bytes of the text (always at
        // a character boundary). On a mismatch, the last `*` seen absorbs one more character and
        // matching resumes after it; earlier stars never need revisiting.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        loop {
            let advanced = match pieces.get(p) {
                None => {
                    if t == len {
                        return Some(true);
                    }
                    false
                }
                Some(Piece::Star) => {
                    p += 1;
                    star = Some((p, t));
                    true
                }
                Some(Piece::One) => match text.byte(t) {
                    Some(b) => {
                        p += 1;
                        t += utf8_len(b);
                        true
                    }
                    None => false,
                },
                Some(piece) => {
                    let want = match piece {
                        Piece::Lit(s) => s.as_bytes(),
                        Piece::Var(id) => vars(*id).unwrap_or_default().as_bytes(),
                        Piece::Star | Piece::One => unreachable!("handled above"),
                    };
                    if text.eq_at(t, want, ignore_case) {
                        p += 1;
                        t += want.len();
                        true
                    } else {
                        false
                    }
                }
            };
            if !advanced {
                match star {
                    Some((sp, st)) if st < len => {
                        let mut st = st + text.byte(st).map_or(1, utf8_len);
                        // Skip to where the piece after the star can start: its first byte
                        // (a UTF-8 lead byte, so always at a character boundary).
                        let first = match pieces.get(sp) {
                            Some(Piece::Lit(s)) => s.as_bytes().first().copied(),
                            Some(Piece::Var(id)) => {
                                vars(*id).and_then(|v| v.as_bytes().first().copied())
                            }
                            _ => None,
                        };
                        if let Some(first) = first {
                            match text.find(first, st, ignore_case) {
                                Some(found) => st = found,
                                None => return Some(false),
                            }
                        }
                        star = Some((sp, st));
                        p = sp;
                        t = st;
                    }
                    _ => return Some(false),
                }
            }
        }
    }

    /// Whether the pattern has a `*` or `?` wildcard.
    #[cfg(test)]
    pub(crate) fn has_wildcards(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Star | Piece::One))
    }

    /// Whether the pattern has a policy variable.
    #[cfg(test)]
    pub(crate) fn has_variables(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }

    /// `Some(l)` when the pattern is `*l*` (a literal anywhere).
    pub(crate) fn contained_literal(&self) -> Option<&str> {
        match &self.pieces[..] {
            [Piece::Star, Piece::Lit(l), Piece::Star] => Some(l),
            _ => None,
        }
    }

    /// `Some(l)` when the pattern is `*l` (a literal at the end).
    pub(crate) fn suffix_literal(&self) -> Option<&str> {
        match &self.pieces[..] {
            [Piece::Star, Piece::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// The ids of the variables the pattern uses.
    pub(crate) fn variables(&self) -> impl Iterator<Item = u16> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(id) => Some(*id),
            _ => None,
        })
    }

    /// The text the pattern matches exactly (escapes resolved), when it has no wildcard and no
    /// variable, so callers can index it.
    pub(crate) fn literal(&self) -> Option<&str> {
        match &self.pieces[..] {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The text the pattern was parsed from.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

/// A text made of two byte slices, read as one.
struct SplitText<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl SplitText<'_> {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn byte(&self, i: usize) -> Option<u8> {
        match self.head.get(i) {
            Some(&b) => Some(b),
            None => self.tail.get(i - self.head.len()).copied(),
        }
    }

    /// Whether `needle` stands anywhere in the text (across the split too).
    fn contains(&self, needle: &[u8]) -> bool {
        let within = |hay: &[u8]| {
            needle.is_empty()
                || hay
                    .windows(needle.len())
                    .any(|w| w[0] == needle[0] && w == needle)
        };
        if within(self.tail) || within(self.head) {
            return true;
        }
        // Straddling the split: a proper prefix of `needle` ends the head.
        (1..needle.len())
            .any(|k| self.head.ends_with(&needle[..k]) && self.tail.starts_with(&needle[k..]))
    }

    /// The first position at or after `from` holding `byte`.
    fn find(&self, byte: u8, from: usize, ignore_case: bool) -> Option<usize> {
        let split = self.head.len();
        let hit = |b: &u8| {
            if ignore_case {
                b.eq_ignore_ascii_case(&byte)
            } else {
                *b == byte
            }
        };
        if from < split
            && let Some(i) = self.head[from..].iter().position(hit)
        {
            return Some(from + i);
        }
        let start = from.max(split) - split;
        self.tail
            .get(start..)?
            .iter()
            .position(hit)
            .map(|i| split + start + i)
    }

    /// Whether `want` stands at `at`.
    fn eq_at(&self, at: usize, want: &[u8], ignore_case: bool) -> bool {
        if at + want.len() > self.len() {
            return false;
        }
        let eq = |a: &[u8], b: &[u8]| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let split = self.head.len();
        if at >= split {
            let start = at - split;
            return eq(&self.tail[start..start + want.len()], want);
        }
        let in_head = (split - at).min(want.len());
        eq(&self.head[at..at + in_head], &want[..in_head])
            && eq(&self.tail[..want.len() - in_head], &want[in_head..])
    }
}

/// Moves pending literal text, if any, into `pieces` as one literal piece.
fn flush(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

/// The length of the UTF-8 character whose first byte is `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Exact decimals
// ---------------------------------------------------------------------------------------------

/// The longest text [`Decimal::parse`] accepts.
const DECIMAL_MAX_LEN: usize = 64;

/// An exact decimal number for IAM's Numeric operators, ordered by value (never a float).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Decimal {
    /// Below zero (zero is never negative).
    negative: bool,
    /// How many of `digits` are the integer part (no leading zeros).
    int_len: u8,
    /// How many of `digits`, after the integer part, are the fraction (no trailing zeros).
    frac_len: u8,
    /// Digit values (0-9): integer part then fraction; zero beyond `int_len + frac_len`.
    digits: [u8; DECIMAL_MAX_LEN],
}

impl Decimal {
    /// Parses `[-+]?digits(.digits)?` of at most 64 characters (no exponent, no whitespace;
    /// leading zeros allowed).
    pub(crate) fn parse(s: &str) -> Option<Decimal> {
        if s.len() > DECIMAL_MAX_LEN {
            return None;
        }
        let (negative, unsigned) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match unsigned.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (unsigned, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || !frac.is_none_or(all_digits) {
            return None;
        }
        let int = int.trim_start_matches('0').as_bytes();
        let frac = frac.unwrap_or("").trim_end_matches('0').as_bytes();
        let mut digits = [0; DECIMAL_MAX_LEN];
        for (d, b) in digits.iter_mut().zip(int.iter().chain(frac)) {
            *d = b - b'0';
        }
        let zero = int.is_empty() && frac.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            // Both fit: the whole text is at most 64 bytes.
            int_len: u8::try_from(int.len()).ok()?,
            frac_len: u8::try_from(frac.len()).ok()?,
            digits,
        })
    }

    /// The integer-part digits.
    fn int(&self) -> &[u8] {
        &self.digits[..usize::from(self.int_len)]
    }

    /// The fraction digits.
    fn frac(&self) -> &[u8] {
        let start = usize::from(self.int_len);
        &self.digits[start..start + usize::from(self.frac_len)]
    }

    /// Compares absolute values.
    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        // No leading zeros: a longer integer part is larger. Same length: digit by digit. Then
        // the fractions digit by digit; no trailing zeros, so a longer equal-prefixed one is larger.
        self.int_len
            .cmp(&other.int_len)
            .then_with(|| self.int().cmp(other.int()))
            .then_with(|| self.frac().cmp(other.frac()))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        if self.int().is_empty() {
            f.write_str("0")?;
        }
        for d in self.int() {
            write!(f, "{d}")?;
        }
        if !self.frac().is_empty() {
            f.write_str(".")?;
            for d in self.frac() {
                write!(f, "{d}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// Parses an IAM date as milliseconds since the Unix epoch: `YYYY-MM-DD`, or
/// `YYYY-MM-DDThh:mm[:ss[.f{1,9}]]` followed by `Z` or `±hh:mm`, or a plain integer of at most
/// 12 digits counting epoch seconds. Fractions beyond milliseconds are truncated.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 12 && b.iter().all(u8::is_ascii_digit) {
        return Some(number(b)? * 1000);
    }
    let year = number(b.get(0..4)?)?;
    let month = number_after(b, 4, b'-')?;
    let day = number_after(b, 7, b'-')?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    let hour = number_after(b, 10, b'T')?;
    let minute = number_after(b, 13, b':')?;
    let (mut second, mut millis, mut at) = (0, 0, 16);
    if b.get(at) == Some(&b':') {
        second = number_after(b, at, b':')?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            at += 1;
            let frac = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&frac) {
                return None;
            }
            for i in 0..3 {
                millis *= 10;
                if i < frac {
                    millis += i64::from(b[at + i] - b'0');
                }
            }
            at += frac;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), zone @ ..] if zone.len() == 5 => {
            let (h, m) = (number(&zone[0..2])?, number_after(zone, 2, b':')?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let local_seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some((local_seconds - offset_minutes * 60) * 1000 + millis)
}

/// The value of `digits`, all ASCII digits (at most 18, so it fits), or `None`.
fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    digits.iter().try_fold(0, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

/// The two-digit number after `sep` at `b[at]`.
fn number_after(b: &[u8], at: usize, sep: u8) -> Option<i64> {
    if *b.get(at)? != sep {
        return None;
    }
    number(b.get(at + 1..at + 3)?)
}

/// The number of days in `month` (1-12) of `year` (proleptic Gregorian).
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------------------------
// IP networks
// ---------------------------------------------------------------------------------------------

/// The IPv4-mapped IPv6 prefix `::ffff:0:0/96` as a 128-bit value.
const V4_MAPPED: u128 = 0xffff << 32;

/// An IPv4 or IPv6 network for IAM's `IpAddress` operators. IPv4 is kept in its IPv4-mapped IPv6
/// form, so `10.0.0.0/8` and `::ffff:10.0.0.0/104` are the same network.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IpNet {
    /// The network address, host bits zero (IPv4 as `::ffff:a.b.c.d`).
    addr: u128,
    /// The prefix length in the 128-bit space (IPv4 `/n` is `96 + n`).
    len: u8,
}

impl IpNet {
    /// Parses `a.b.c.d/n` (n 0..=32), IPv6 `x::y/n` (0..=128), or a bare address (/32 or /128).
    /// Refuses host bits set beyond the prefix, leading zeros in IPv4 octets or the prefix
    /// length, zone ids and whitespace.
    pub(crate) fn parse(s: &str) -> Option<IpNet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let (addr, max, offset) = if addr.contains(':') {
            (u128::from(addr.parse::<Ipv6Addr>().ok()?), 128, 0)
        } else {
            let v4 = addr.parse::<Ipv4Addr>().ok()?;
            (V4_MAPPED | u128::from(u32::from(v4)), 32, 96)
        };
        let len = match prefix {
            None => max,
            Some(p) => {
                let canonical = matches!(p.len(), 1..=3)
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (p == "0" || !p.starts_with('0'));
                if !canonical {
                    return None;
                }
                p.parse::<u8>().ok().filter(|&n| n <= max)?
            }
        };
        let len = len + offset;
        if addr & !mask(len) != 0 {
            return None;
        }
        Some(IpNet { addr, len })
    }

    /// Whether `ip` is inside. IPv4 addresses and their IPv4-mapped IPv6 forms
    /// (`::ffff:a.b.c.d`) are the same address, so a dual-stack socket cannot dodge a rule.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V4(v4) => V4_MAPPED | u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        (ip ^ self.addr) & mask(self.len) == 0
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len >= 96
            && let Some(v4) = Ipv6Addr::from(self.addr).to_ipv4_mapped()
        {
            write!(f, "{v4}/{}", self.len - 96)
        } else {
            write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.len)
        }
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpNet({self})")
    }
}

/// The netmask of a `len`-bit prefix in the 128-bit space.
fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        _ => !0 << (128 - u32::from(len)),
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    /// The fast paths for common shapes agree with the general loop, split anywhere.
    #[test]
    fn common_shapes_agree_with_the_general_matcher() {
        let no_vars = |_: &str| None;
        let syntax = PatternSyntax {
            wildcards: true,
            variables: false,
        };
        let texts = [
            "",
            "/",
            "/orders",
            "/orders/",
            "/orders/1",
            "a/orders/b",
            "/order",
            "xorders",
        ];
        for src in [
            "/orders",
            "*/orders",
            "/orders*",
            "*/orders/*",
            "*orders*",
            "*",
            "**",
        ] {
            let p = Pattern::parse(src, syntax, &no_vars).unwrap();
            for text in texts {
                for split in 0..=text.len() {
                    let (head, tail) = text.split_at(split);
                    // `ignore_case` takes the general loop, which is the reference here.
                    let general = p.matches_split(head, tail, true, &|_| None);
                    let fast = p.matches_split(head, tail, false, &|_| None);
                    assert_eq!(fast, general, "{src:?} on {head:?}+{tail:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const GLOB: PatternSyntax = PatternSyntax {
        wildcards: true,
        variables: true,
    };
    const PLAIN: PatternSyntax = PatternSyntax {
        wildcards: false,
        variables: false,
    };

    /// Variable ids: `aws:username` = 0, `aws:PrincipalTag/team` = 1, `absent` = 2.
    fn lookup(name: &str) -> Option<u16> {
        match name {
            "aws:username" => Some(0),
            "aws:PrincipalTag/team" => Some(1),
            "absent" => Some(2),
            _ => None,
        }
    }

    fn vars(id: u16) -> Option<&'static str> {
        match id {
            0 => Some("alice"),
            1 => Some("a*b?"),
            _ => None,
        }
    }

    fn pat(src: &str) -> Pattern {
        Pattern::parse(src, GLOB, &lookup).unwrap()
    }

    fn m(pattern: &str, text: &str) -> bool {
        pat(pattern).matches(text, false, &vars).unwrap()
    }

    fn mi(pattern: &str, text: &str) -> bool {
        pat(pattern).matches(text, true, &vars).unwrap()
    }

    #[test]
    fn glob_literals() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abd"));
        assert!(!m("abc", "ab"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ABC"));
        assert!(m("héllo", "héllo"));
    }

    #[test]
    fn glob_star() {
        assert!(m("*", ""));
        assert!(m("*", "anything/at/all"));
        assert!(m("**", ""));
        assert!(m("**", "abc"));
        assert!(m("a*", "a"));
        assert!(m("a*", "abc/def"));
        assert!(!m("a*", "ba"));
        assert!(m("*a", "bca"));
        assert!(!m("*a", "ab"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(m("a*b*c", "abcbc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("arn:aws:iam::*:role/*", "arn:aws:iam::123:role/x/y"));
        assert!(m("a***", "a"));
        assert!(m("*ab", "aab"));
        assert!(m("*aab", "aaab"));
        assert!(m("*é", "xé"));
    }

    #[test]
    fn glob_question_mark() {
        assert!(m("?", "a"));
        assert!(!m("?", ""));
        assert!(!m("?", "ab"));
        assert!(m("?", "é"));
        assert!(m("?", "€"));
        assert!(m("?", "😀"));
        assert!(!m("??", "é"));
        assert!(m("a?c", "a😀c"));
        assert!(m("*?", "😀"));
        assert!(m("?*?", "é😀"));
        assert!(!m("?*?", "é"));
        assert!(m("*?b", "😀😀b"));
    }

    #[test]
    fn glob_ignore_case() {
        assert!(mi("ABC", "abc"));
        assert!(mi("a*C", "AxyzC"));
        assert!(mi("${aws:username}", "ALICE"));
        assert!(!m("${aws:username}", "ALICE"));
        assert!(!mi("É", "é"));
    }

    #[test]
    fn glob_without_wildcards_is_literal() {
        let syntax = PatternSyntax {
            wildcards: false,
            variables: true,
        };
        let p = Pattern::parse("a*?${aws:username}", syntax, &lookup).unwrap();
        assert!(!p.has_wildcards());
        assert!(p.has_variables());
        assert_eq!(p.matches("a*?alice", false, &vars), Some(true));
        assert_eq!(p.matches("abcalice", false, &vars), Some(false));
        let p = Pattern::parse("a*${x}", PLAIN, &lookup).unwrap();
        assert_eq!(p.literal(), Some("a*${x}"));
        assert_eq!(p.matches("a*${x}", false, &vars), Some(true));
    }

    #[test]
    fn glob_variables() {
        assert!(m("${aws:username}", "alice"));
        assert!(!m("${aws:username}", "alicex"));
        assert!(m("home/${aws:username}/*", "home/alice/docs"));
        assert!(!m("home/${aws:username}/*", "home/bob/docs"));
        // A value's `*` and `?` are literal.
        assert!(m("${aws:PrincipalTag/team}", "a*b?"));
        assert!(!m("${aws:PrincipalTag/team}", "axxbc"));
        assert!(m("*${aws:PrincipalTag/team}*", "xxa*b?yy"));
        assert!(!m("*${aws:PrincipalTag/team}*", "xxab?yy"));
        assert!(m("${aws:username}${aws:username}", "alicealice"));
        assert!(m("*${aws:username}", "alicealice"));
    }

    #[test]
    fn glob_absent_variable() {
        let p = pat("x*${absent}");
        assert_eq!(p.matches("x", false, &vars), None);
        assert_eq!(p.matches("", false, &vars), None);
        // Even when the text would fail before the variable is reached.
        assert_eq!(pat("nope${absent}").matches("x", false, &vars), None);
        let empty = |_: u16| Some("");
        assert_eq!(p.matches("x", false, &empty), Some(true));
    }

    #[test]
    fn glob_escapes() {
        let p = pat("${*}${?}${$}");
        assert_eq!(p.literal(), Some("*?$"));
        assert!(!p.has_wildcards());
        assert!(p.matches("*?$", false, &vars).unwrap());
        assert!(!p.matches("x?$", false, &vars).unwrap());
        assert!(m("a${*}*", "a*bc"));
        assert!(!m("a${*}*", "abc"));
        assert!(m("$", "$"));
        assert!(m("a$b{c}", "a$b{c}"));
        assert!(m("}", "}"));
    }

    #[test]
    fn glob_parse_errors() {
        let err = |src: &str| Pattern::parse(src, GLOB, &lookup).unwrap_err();
        assert_eq!(err("${nope}"), PatternError::UnknownVariable("nope".into()));
        assert_eq!(
            err("a${aws:username"),
            PatternError::MalformedVariable("${aws:username".into())
        );
        assert!(matches!(err("${}"), PatternError::MalformedVariable(_)));
        assert!(matches!(
            err("${aws:username, 'x'}"),
            PatternError::MalformedVariable(_)
        ));
        assert!(matches!(err("${a b}"), PatternError::MalformedVariable(_)));
        assert!(matches!(
            err("${\"a\"}"),
            PatternError::MalformedVariable(_)
        ));
        assert!(matches!(err("${a${b}"), PatternError::MalformedVariable(_)));
        assert!(matches!(err("${"), PatternError::MalformedVariable(_)));
        assert!(!err("${nope}").to_string().is_empty());
    }

    #[test]
    fn glob_accessors() {
        let p = pat("a*${aws:username}");
        assert_eq!(p.source(), "a*${aws:username}");
        assert!(p.has_wildcards());
        assert!(p.has_variables());
        assert_eq!(p.literal(), None);
        assert_eq!(pat("").literal(), Some(""));
        assert_eq!(pat("abc").literal(), Some("abc"));
        assert!(!pat("abc").has_wildcards());
        assert!(!pat("abc").has_variables());
        assert!(pat("a?").has_wildcards());
        assert_eq!(pat("${aws:username}").literal(), None);
        assert_eq!(pat("a**b").pieces.len(), 3);
    }

    #[test]
    fn glob_adversarial_inputs_finish_fast() {
        let start = Instant::now();
        let pattern = "a*".repeat(200) + "b";
        let text = "a".repeat(5_000);
        assert!(!m(&pattern, &text));
        assert!(m(&pattern, &(text.clone() + "b")));
        let pattern = "*a".repeat(200) + "*b";
        assert!(!m(&pattern, &text));
        assert!(!m(&("*".to_owned() + &"a".repeat(100) + "b"), &text));
        assert!(!m(&"?*".repeat(300), &"a".repeat(299)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    fn dec(s: &str) -> Decimal {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn decimal_accepts() {
        for s in [
            "0", "-0", "+0", "1", "-1", "+1", "1.5", "0.25", "010", "00.00", "-3.14",
        ] {
            assert!(Decimal::parse(s).is_some(), "{s}");
        }
        assert!(Decimal::parse(&"9".repeat(64)).is_some());
        assert!(Decimal::parse(&("-".to_owned() + &"9".repeat(63))).is_some());
        assert!(Decimal::parse(&("0.".to_owned() + &"1".repeat(62))).is_some());
    }

    #[test]
    fn decimal_refuses() {
        for s in [
            "", "-", "+", ".", "1.", ".5", "-.5", "1e3", "1E3", " 1", "1 ", "1,5", "0x10", "--1",
            "+-1", "1.2.3", "NaN", "inf", "١", "1_000",
        ] {
            assert!(Decimal::parse(s).is_none(), "{s:?}");
        }
        assert!(Decimal::parse(&"9".repeat(65)).is_none());
    }

    #[test]
    fn decimal_equality_by_value() {
        assert_eq!(dec("1.0"), dec("1"));
        assert_eq!(dec("-0"), dec("0"));
        assert_eq!(dec("-0.000"), dec("+0"));
        assert_eq!(dec("010"), dec("10"));
        assert_eq!(dec("+10.500"), dec("10.5"));
        assert_ne!(dec("10.05"), dec("10.5"));
        assert_eq!(dec("-007.10").to_string(), "-7.1");
        assert_eq!(dec("-0.0").to_string(), "0");
        assert_eq!(dec("0.05").to_string(), "0.05");
        assert_eq!(format!("{:?}", dec("12")), "Decimal(12)");
    }

    #[test]
    fn decimal_ordering() {
        let sorted = [
            "-100",
            "-99.99",
            "-10",
            "-9.5",
            "-1",
            "-0.5",
            "-0.05",
            "0",
            "0.001",
            "0.01",
            "0.1",
            "0.10001",
            "1",
            "1.5",
            "9",
            "10",
            "10.000001",
            "99",
            "100",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(dec(a).cmp(&dec(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        let big = "9".repeat(63);
        assert!(dec(&big) > dec(&("+".to_owned() + &"9".repeat(61) + ".9")));
        assert!(dec(&("-".to_owned() + &big)) < dec("-1"));
    }

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn date_accepted_forms() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_date("1969-12-31"), Some(-DAY_MS));
        assert_eq!(parse_date("2020-01-01T00:00:00Z"), Some(1_577_836_800_000));
        assert_eq!(parse_date("2020-01-01T00:00Z"), Some(1_577_836_800_000));
        assert_eq!(
            parse_date("2020-01-01T00:00:00.5Z"),
            Some(1_577_836_800_500)
        );
        assert_eq!(
            parse_date("2020-01-01T00:00:00.123Z"),
            Some(1_577_836_800_123)
        );
        assert_eq!(
            parse_date("2020-01-01T00:00:00.123999999Z"),
            Some(1_577_836_800_123)
        );
        assert_eq!(
            parse_date("2020-01-01T01:00:00+01:00"),
            Some(1_577_836_800_000)
        );
        assert_eq!(
            parse_date("2019-12-31T23:30-00:30"),
            Some(1_577_836_800_000)
        );
        assert_eq!(
            parse_date("2020-01-01T00:00:00.250-00:00"),
            Some(1_577_836_800_250)
        );
        assert_eq!(parse_date("2038-01-19T03:14:07Z"), Some(2_147_483_647_000));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_date("2024-02-29T12:00:00Z"), Some(1_709_208_000_000));
        assert_eq!(parse_date("2023-12-31T23:59:59Z"), Some(1_704_067_199_000));
        assert_eq!(parse_date("0000-01-01"), Some(-62_167_219_200_000));
        assert_eq!(parse_date("9999-12-31"), Some(253_402_214_400_000));
        assert_eq!(parse_date("1600-03-01"), Some(-11_670_912_000_000));
    }

    #[test]
    fn date_epoch_seconds() {
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("1577836800"), Some(1_577_836_800_000));
        assert_eq!(parse_date("999999999999"), Some(999_999_999_999_000));
        assert_eq!(parse_date("0001"), Some(1000));
        assert_eq!(parse_date("9999999999999"), None);
        assert_eq!(parse_date("-1"), None);
        assert_eq!(parse_date("+1"), None);
        assert_eq!(parse_date("1.5"), None);
    }

    #[test]
    fn date_refused_forms() {
        for s in [
            "",
            "2020-1-01",
            "2020-01-1",
            "2020/01/01",
            "2020-13-01",
            "2020-00-01",
            "2020-01-00",
            "2020-01-32",
            "2023-02-29",
            "1900-02-29",
            "2020-04-31",
            "2020-01-01T",
            "2020-01-01T00:00:00",
            "2020-01-01T00:00",
            "2020-01-01t00:00:00Z",
            "2020-01-01T00:00:00z",
            "2020-01-01 00:00:00Z",
            "2020-01-01T24:00:00Z",
            "2020-01-01T23:60:00Z",
            "2020-01-01T23:59:60Z",
            "2020-01-01T0:00:00Z",
            "2020-01-01T00:00:0Z",
            "2020-01-01T00:00:00.Z",
            "2020-01-01T00:00:00.1234567890Z",
            "2020-01-01T00:00.5Z",
            "2020-01-01T00:00:00+0100",
            "2020-01-01T00:00:00+01",
            "2020-01-01T00:00:00+24:00",
            "2020-01-01T00:00:00+01:60",
            "2020-01-01T00:00:00ZZ",
            "2020-01-01T00:00:00Z ",
            " 2020-01-01",
            "2020-01-01Z",
            "+020-01-01",
            "2020-01-01T00:00:00.12aZ",
            "٢٠٢٠-01-01",
        ] {
            assert_eq!(parse_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn date_days_from_civil_is_continuous() {
        let mut expected = days_from_civil(1599, 1, 1);
        for year in 1599..=2401 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected);
                    expected += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    fn net(s: &str) -> IpNet {
        IpNet::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipnet_accepted_forms() {
        for s in [
            "10.0.0.0/8",
            "0.0.0.0/0",
            "1.2.3.4/32",
            "1.2.3.4",
            "255.255.255.255",
            "::/0",
            "::1",
            "::1/128",
            "2001:db8::/32",
            "2001:DB8::/32",
            "2001:0db8::/32",
            "::ffff:10.0.0.0/104",
            "::ffff:1.2.3.4",
            "fe80::/10",
        ] {
            assert!(IpNet::parse(s).is_some(), "{s}");
        }
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("1.2.3.4").to_string(), "1.2.3.4/32");
        assert_eq!(net("2001:DB8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("::1").to_string(), "::1/128");
        assert_eq!(format!("{:?}", net("::/0")), "IpNet(::/0)");
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
    }

    #[test]
    fn ipnet_refused_forms() {
        for s in [
            "",
            "/8",
            "10.0.0.0/",
            "10.1.2.3/8",
            "10.0.0.1/31",
            "2001:db8::1/32",
            "::1/127",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.4/-1",
            "1.2.3.4/+8",
            "10.0.0.0/08",
            "10.0.0.0/008",
            "::/0000",
            "010.0.0.0/8",
            "10.00.0.0/16",
            "1.2.3",
            "1.2.3.4.5",
            "256.0.0.0",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3.4/ 8",
            "1.2.3.4 /8",
            "fe80::1%eth0",
            "fe80::%1/64",
            "[::1]",
            "1.2.3.4/8/8",
            "::ffff:10.1.0.0/104",
            "localhost",
        ] {
            assert!(IpNet::parse(s).is_none(), "{s:?}");
        }
    }

    #[test]
    fn ipnet_contains_v4() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.0.0.0")));
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("9.255.255.255")));
        assert!(!n.contains(ip("::a00:1")));
        assert!(!n.contains(ip("2001:db8::1")));
        let host = net("192.168.1.7/32");
        assert!(host.contains(ip("192.168.1.7")));
        assert!(!host.contains(ip("192.168.1.6")));
        let all = net("0.0.0.0/0");
        assert!(all.contains(ip("0.0.0.0")));
        assert!(all.contains(ip("255.255.255.255")));
        assert!(all.contains(ip("::ffff:8.8.8.8")));
        assert!(!all.contains(ip("::1")));
        assert!(!all.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipnet_contains_v6() {
        let n = net("2001:db8::/32");
        assert!(n.contains(ip("2001:db8::1")));
        assert!(n.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!n.contains(ip("2001:db9::")));
        assert!(!n.contains(ip("10.0.0.1")));
        let host = net("::1/128");
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
        assert!(!host.contains(ip("0.0.0.1")));
        let all = net("::/0");
        assert!(all.contains(ip("::")));
        assert!(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn ipnet_mapped_addresses() {
        let v4 = net("10.0.0.0/8");
        assert!(v4.contains(ip("::ffff:10.1.2.3")));
        assert!(!v4.contains(ip("::ffff:11.1.2.3")));
        let mapped = net("::ffff:10.0.0.0/104");
        assert!(mapped.contains(ip("10.1.2.3")));
        assert!(mapped.contains(ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(ip("11.1.2.3")));
        // The whole IPv6 space holds every IPv4 address (as its mapped form).
        assert!(net("::/0").contains(ip("10.1.2.3")));
        assert!(net("::ffff:0:0/96").contains(ip("1.2.3.4")));
        assert!(!net("::ffff:0:0/96").contains(ip("::1.2.3.4")));
        // IPv4-compatible (deprecated, `::a.b.c.d`) addresses are plain IPv6.
        assert!(!v4.contains(ip("::10.1.2.3")));
    }

    #[test]
    fn mask_boundaries() {
        assert_eq!(mask(0), 0);
        assert_eq!(mask(128), !0);
        assert_eq!(mask(1), 1 << 127);
        assert_eq!(mask(96 + 8), !0 << 24);
    }
}
