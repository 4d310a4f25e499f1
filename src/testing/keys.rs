//! The emulator's IAM: issued access keys, their secrets, session tokens and identities.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::response::CallerIdentity;

const PROVIDER_NAME: &str = "LocalSts";
const SESSION_DURATION: Duration = Duration::from_secs(3_600);
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// What STS knows about one access key id.
#[derive(Clone)]
pub(crate) struct IssuedKey {
    pub(crate) secret_access_key: String,
    /// `Some` for temporary (`ASIA…`) keys: requests must carry exactly this token.
    pub(crate) session_token: Option<String>,
    pub(crate) expires: Option<SystemTime>,
    pub(crate) identity: CallerIdentity,
}

/// Issued keys plus the stable unique ids IAM gives users and roles.
#[derive(Default)]
pub(crate) struct KeyStore {
    keys: HashMap<String, IssuedKey>,
    user_ids: HashMap<(String, String), String>,
    role_ids: HashMap<(String, String), String>,
}

impl KeyStore {
    pub(crate) fn get(&self, access_key_id: &str) -> Option<&IssuedKey> {
        self.keys.get(access_key_id)
    }

    pub(crate) fn revoke(&mut self, access_key_id: &str) {
        self.keys.remove(access_key_id);
    }

    pub(crate) fn create_user(&mut self, account: &str, name: &str) -> Credentials {
        let user_id = self
            .user_ids
            .entry((account.to_owned(), name.to_owned()))
            .or_insert_with(|| format!("AIDA{}", random(ID_ALPHABET, 17)))
            .clone();
        let identity = CallerIdentity {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            user_id,
            account: account.to_owned(),
        };
        self.issue("AKIA", None, None, identity)
    }

    pub(crate) fn assume_role(
        &mut self,
        account: &str,
        role: &str,
        session: &str,
        now: SystemTime,
    ) -> Credentials {
        let role_id = self
            .role_ids
            .entry((account.to_owned(), role.to_owned()))
            .or_insert_with(|| format!("AROA{}", random(ID_ALPHABET, 17)))
            .clone();
        let identity = CallerIdentity {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            user_id: format!("{role_id}:{session}"),
            account: account.to_owned(),
        };
        self.issue(
            "ASIA",
            Some(session_token()),
            Some(now + SESSION_DURATION),
            identity,
        )
    }

    fn issue(
        &mut self,
        prefix: &str,
        session_token: Option<String>,
        expires: Option<SystemTime>,
        identity: CallerIdentity,
    ) -> Credentials {
        let access_key_id = loop {
            let candidate = format!("{prefix}{}", random(ID_ALPHABET, 16));
            if !self.keys.contains_key(&candidate) {
                break candidate;
            }
        };
        let secret_access_key = random(SECRET_ALPHABET, 40);
        let credentials = Credentials::new(
            &access_key_id,
            &secret_access_key,
            session_token.clone(),
            expires,
            PROVIDER_NAME,
        );
        self.keys.insert(
            access_key_id,
            IssuedKey {
                secret_access_key,
                session_token,
                expires,
                identity,
            },
        );
        credentials
    }
}

fn random(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}

/// A token shaped like STS's: standard base64, long, with `+`, `/` and `=` guaranteed so that
/// every test exercises the percent-encoding of those characters in query strings.
fn session_token() -> String {
    let mut bytes = [0u8; 160];
    fastrand::fill(&mut bytes);
    let mut token = String::from("IQoJb3JpZ2luX2VjEL");
    token.push_str(&STANDARD.encode(&bytes[..]));
    // 160 bytes encode to 214 characters and 2 padding characters; positions inside the
    // encoded run can hold any alphabet character, so overwrite two with `+` and `/`.
    token.replace_range(30..31, "+");
    token.replace_range(40..41, "/");
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_alphabet(text: &str) -> bool {
        text.bytes().all(|b| ID_ALPHABET.contains(&b))
    }

    #[test]
    fn users_get_long_term_keys_and_stable_ids() {
        let mut store = KeyStore::default();
        let first = store.create_user("123456789012", "alice");
        let second = store.create_user("123456789012", "alice");
        let key = first.access_key_id();
        assert!(key.starts_with("AKIA") && key.len() == 20 && in_alphabet(key));
        assert_eq!(first.secret_access_key().len(), 40);
        assert!(first.session_token().is_none());
        assert_ne!(first.access_key_id(), second.access_key_id());
        let a = &store.get(first.access_key_id()).unwrap().identity;
        let b = &store.get(second.access_key_id()).unwrap().identity;
        assert_eq!(a.arn, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(a.user_id, b.user_id);
        assert!(a.user_id.starts_with("AIDA") && a.user_id.len() == 21);
        assert!(in_alphabet(&a.user_id));
    }

    #[test]
    fn sessions_get_temporary_keys_tokens_and_stable_role_ids() {
        let mut store = KeyStore::default();
        let now = SystemTime::now();
        let creds = store.assume_role("123456789012", "deployer", "ci", now);
        let other = store.assume_role("123456789012", "deployer", "laptop", now);
        let elsewhere = store.assume_role("210987654321", "deployer", "ci", now);
        assert!(creds.access_key_id().starts_with("ASIA"));
        assert_eq!(creds.expiry(), Some(now + SESSION_DURATION));
        let token = creds.session_token().unwrap();
        assert!(token.len() >= 100);
        assert!(token.contains('+') && token.contains('/') && token.ends_with('='));
        let id = |c: &Credentials| store.get(c.access_key_id()).unwrap().identity.clone();
        assert_eq!(
            id(&creds).arn,
            "arn:aws:sts::123456789012:assumed-role/deployer/ci"
        );
        let (role_id, session) = id(&creds)
            .user_id
            .split_once(':')
            .map(|(r, s)| (r.to_owned(), s.to_owned()))
            .unwrap();
        assert!(role_id.starts_with("AROA") && role_id.len() == 21);
        assert_eq!(session, "ci");
        assert_eq!(id(&other).user_id, format!("{role_id}:laptop"));
        assert!(!id(&elsewhere).user_id.starts_with(&role_id));
    }

    #[test]
    fn revoked_keys_are_unknown() {
        let mut store = KeyStore::default();
        let creds = store.create_user("123456789012", "alice");
        store.revoke(creds.access_key_id());
        assert!(store.get(creds.access_key_id()).is_none());
    }
}
