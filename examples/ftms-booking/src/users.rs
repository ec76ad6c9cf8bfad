//! Demo accounts, roles, permissions and bearer-token sessions (in memory).
//!
//! A real service keeps these in its database and hashes passwords with a slow KDF
//! (argon2); the audit side would not change.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use audit::Actor;
use audit::auth::LoginFailure;
use audit::axum::Principal;
use sha2::{Digest, Sha256};

/// What each role may do.
fn role_permissions(role: &str) -> &'static [&'static str] {
    match role {
        "agent" => &["booking:create", "booking:read", "booking:cancel"],
        "viewer" => &["booking:read"],
        "admin" => &[
            "booking:create",
            "booking:read",
            "booking:cancel",
            "booking:cancel-any",
            "audit:read",
            "audit:export",
            "audit:verify",
        ],
        _ => &[],
    }
}

/// Why an account cannot log in even with the right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Locked,
    Inactive,
}

struct Account {
    salt: &'static str,
    password_hash: [u8; 32],
    roles: Vec<String>,
    status: Status,
}

fn hash(salt: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// The demo accounts and the live sessions.
pub struct Users {
    accounts: HashMap<&'static str, Account>,
    sessions: RwLock<HashMap<String, String>>,
}

impl Users {
    /// alice and erin (agents), bob (viewer), admin (admin), carol (agent, locked), dave
    /// (agent, inactive); each one's password is `<name>-pass`.
    pub fn demo() -> Self {
        let account = |name: &'static str, role: &str, status| {
            let password = format!("{name}-pass");
            (
                name,
                Account {
                    salt: name,
                    password_hash: hash(name, &password),
                    roles: vec![role.to_owned()],
                    status,
                },
            )
        };
        Self {
            accounts: HashMap::from([
                account("alice", "agent", Status::Active),
                account("erin", "agent", Status::Active),
                account("bob", "viewer", Status::Active),
                account("admin", "admin", Status::Active),
                account("carol", "agent", Status::Locked),
                account("dave", "agent", Status::Inactive),
            ]),
            sessions: RwLock::default(),
        }
    }

    /// Checks the credentials; on success opens a session and returns its bearer token.
    pub fn login(&self, name: &str, password: &str) -> Result<String, LoginFailure> {
        let Some(account) = self.accounts.get(name) else {
            // Spend the same work as for a real account, so timing does not tell either.
            let _ = hash(name, password);
            return Err(LoginFailure::UnknownUser);
        };
        if hash(account.salt, password) != account.password_hash {
            return Err(LoginFailure::WrongPassword);
        }
        match account.status {
            Status::Locked => return Err(LoginFailure::Locked),
            Status::Inactive => return Err(LoginFailure::Inactive),
            Status::Active => {}
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), name.to_owned());
        Ok(token)
    }

    /// Ends the session of `token`; returns its user.
    pub fn logout(&self, token: &str) -> Option<String> {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token)
    }

    /// The principal of a bearer token.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        let name = sessions.get(token)?;
        let account = self.accounts.get(name.as_str())?;
        let permissions = account
            .roles
            .iter()
            .flat_map(|role| role_permissions(role).iter().copied());
        Some(
            Principal::new(Actor::user(name.clone()))
                .roles(account.roles.iter().cloned())
                .permissions(permissions)
                .session_id(session_id(token)),
        )
    }
}

/// A session id for the log that is not the bearer token itself.
pub fn session_id(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
