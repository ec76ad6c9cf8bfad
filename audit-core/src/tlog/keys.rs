//! Checkpoint keys: Ed25519 signer keys and the verifying keys an auditor holds.
//!
//! Both use the text forms of Go's `note` package (C2SP signed-note), through the
//! `signed_note` crate: a signer key is `PRIVATE+KEY+<origin>+<key id>+<base64>`, a verifying
//! key `<origin>+<key id>+<base64>`. The key name is the log's origin, so the verifying key
//! alone tells an auditor which log it speaks for.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_note::{StandardSigner, StandardVerifier, Verifier as _};

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The origin is not a valid key name (empty, white space, or `+`).
    #[error("{0:?} is not a valid log origin (non-empty, no white space, no '+')")]
    BadOrigin(String),
    /// The text is not a key of the expected form.
    #[error("malformed {kind} key: {detail}")]
    Malformed {
        /// `signer` or `verifying`.
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The verifying keys of a keyring name different logs.
    #[error("the keyring mixes origins {0:?} and {1:?}")]
    MixedOrigins(String, String),
    /// The keyring holds no key.
    #[error("the keyring holds no verifying key")]
    Empty,
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The operating system's random source failed.
    #[error("no randomness for a new key: {0}")]
    Random(String),
    /// Reading a key file failed.
    #[error("reading key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Signs checkpoints of one log (its origin) with an Ed25519 key.
///
/// ```
/// use audit_core::tlog::{CheckpointSigner, Keyring, TreeHead};
///
/// let signer = CheckpointSigner::generate("audit.example.com/ftms")?;
/// let keyring = Keyring::new(signer.verifying_key())?; // all an auditor needs
/// let checkpoint = signer.sign(TreeHead::empty())?;
/// assert_eq!(checkpoint.verify(&keyring)?, TreeHead::empty());
/// // Keep the private key somewhere safe, and load it again later:
/// let again = CheckpointSigner::from_key(signer.private_key())?;
/// assert_eq!(again.verifying_key(), signer.verifying_key());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CheckpointSigner {
    origin: String,
    private: String,
    verifying: String,
    pub(crate) signer: StandardSigner,
}

impl fmt::Debug for CheckpointSigner {
    // Never print the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("verifying_key", &self.verifying)
            .finish_non_exhaustive()
    }
}

const ALG_ED25519: u8 = 1;

fn malformed(kind: &'static str, detail: impl Into<String>) -> KeyError {
    KeyError::Malformed {
        kind,
        detail: detail.into(),
    }
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })
}

impl CheckpointSigner {
    /// A new random key for the log named `origin` (for example `audit.example.com/ftms`).
    pub fn generate(origin: &str) -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Self::from_seed(origin, &seed)
    }

    /// The key whose Ed25519 seed is `seed` (32 secret bytes, for example from a KMS).
    pub fn from_seed(origin: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(KeyError::BadOrigin(origin.to_owned()));
        }
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public: Vec<u8> = [&[ALG_ED25519][..], key.verifying_key().as_bytes()].concat();
        let private = format!(
            "PRIVATE+KEY+{origin}+{:08x}+{}",
            signed_note::key_id(origin, &public),
            STANDARD.encode([&[ALG_ED25519][..], &seed[..]].concat())
        );
        Self::from_key(&private)
    }

    /// Loads a signer key in its text form (`PRIVATE+KEY+<origin>+<id>+<base64>`).
    pub fn from_key(private: &str) -> Result<Self, KeyError> {
        let private = private.trim();
        let signer = StandardSigner::new(private).map_err(|e| {
            malformed(
                "signer",
                format!("{e} (expected PRIVATE+KEY+origin+id+key)"),
            )
        })?;
        // The base64 part may itself hold '+': split off the four fields before it only.
        let parts: Vec<&str> = private.splitn(5, '+').collect();
        let (origin, encoded) = match parts.as_slice() {
            [_, _, origin, _, encoded] => ((*origin).to_owned(), *encoded),
            _ => return Err(malformed("signer", "expected five '+'-separated fields")),
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| malformed("signer", e.to_string()))?;
        let seed: [u8; 32] = bytes
            .get(1..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("signer", "not an Ed25519 key"))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let verifying = signed_note::new_ed25519_verifier_key(&origin, &key.verifying_key());
        Ok(Self {
            origin,
            private: private.to_owned(),
            verifying,
            signer,
        })
    }

    /// Loads the signer key kept in a file (surrounding white space ignored).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::from_key(&read_key_file(path.as_ref())?)
    }

    /// Loads the signer key from an environment variable.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let text = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        Self::from_key(&text)
    }

    /// The log's origin (the key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The private key in its text form: keep it secret.
    pub fn private_key(&self) -> &str {
        &self.private
    }

    /// The verifying key in its text form (`<origin>+<id>+<base64>`): give it to auditors.
    pub fn verifying_key(&self) -> &str {
        &self.verifying
    }

    /// The key id (the first four bytes of the key's hash).
    pub fn key_id(&self) -> u32 {
        signed_note::Signer::key_id(&self.signer)
    }
}

/// The verifying keys of one log: what an auditor needs, with the log's origin.
///
/// After a key rotation, keep the old verifying keys in the keyring (one per line in a
/// file): checkpoints signed before the rotation still verify.
#[derive(Clone)]
pub struct Keyring {
    origin: String,
    keys: Vec<(String, StandardVerifier)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(text, _)| text))
            .finish()
    }
}

impl Keyring {
    /// A keyring of one verifying key.
    pub fn new(verifying_key: &str) -> Result<Self, KeyError> {
        let (origin, verifier) = parse_verifier(verifying_key)?;
        Ok(Self {
            origin,
            keys: vec![(verifying_key.trim().to_owned(), verifier)],
        })
    }

    /// Adds another key of the same log (an older or a newer one).
    pub fn with(mut self, verifying_key: &str) -> Result<Self, KeyError> {
        let (origin, verifier) = parse_verifier(verifying_key)?;
        if origin != self.origin {
            return Err(KeyError::MixedOrigins(self.origin, origin));
        }
        if !self
            .keys
            .iter()
            .any(|(text, _)| text == verifying_key.trim())
        {
            self.keys.push((verifying_key.trim().to_owned(), verifier));
        }
        Ok(self)
    }

    /// Reads keys one per line; blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let mut ring = Self::new(lines.next().ok_or(KeyError::Empty)?)?;
        for line in lines {
            ring = ring.with(line)?;
        }
        Ok(ring)
    }

    /// Reads a key file (see [`parse`](Self::parse)).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::parse(&read_key_file(path.as_ref())?)
    }

    /// The log's origin, which every checkpoint it verifies must name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn verifiers(&self) -> signed_note::VerifierList {
        signed_note::VerifierList::new(
            self.keys
                .iter()
                .map(|(_, v)| Box::new(v.clone()) as Box<dyn signed_note::Verifier>)
                .collect(),
        )
    }
}

fn parse_verifier(text: &str) -> Result<(String, StandardVerifier), KeyError> {
    let verifier = StandardVerifier::new(text.trim())
        .map_err(|e| malformed("verifying", format!("{e} (expected origin+id+key)")))?;
    Ok((verifier.name().to_owned(), verifier))
}
