//! Signed checkpoints: C2SP `tlog-checkpoint` text signed as a C2SP `signed-note`.
//!
//! ```text
//! audit.example.com/ftms
//! 1042
//! 2Q8Tr2j0X6rE6X3ZcU2r3v1K1ozS4pMdJXkkbNBDqzQ=
//!
//! — audit.example.com/ftms Az3grlgQ8Tr2...
//! ```
//!
//! The first line is the origin (the log's name, also the signing key's name), then the tree
//! size in decimal and the root hash in base64; a blank line; then one signature line per key.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use signed_note::{Note, NoteError};
use tlog_tiles::{Checkpoint as CheckpointBody, Hash};

use super::TreeHead;
use super::keys::{CheckpointSigner, Keyring};
use crate::chain::ChainHash;

/// Why a checkpoint could not be read, signed or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note holding a C2SP checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The checkpoint names another log.
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin {
        /// The keyring's origin.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// No signature by a key of the keyring.
    #[error("the checkpoint carries no signature by a key of {origin:?}")]
    UnknownKey {
        /// The keyring's origin.
        origin: String,
    },
    /// A signature by a known key is invalid: the text was changed after signing.
    #[error("the checkpoint's signature by {key} is invalid")]
    BadSignature {
        /// The key (`origin+id`).
        key: String,
    },
    /// Signing failed.
    #[error("signing the checkpoint failed: {0}")]
    Signing(String),
}

/// A signed checkpoint, parsed but not yet trusted: [`verify`](Self::verify) it with the log's
/// [`Keyring`] before relying on its [`head`](Self::head).
///
/// Serialized as its note text.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    note: String,
    origin: String,
    head: TreeHead,
}

impl fmt::Debug for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCheckpoint")
            .field("origin", &self.origin)
            .field("size", &self.head.size)
            .field("root", &self.head.root)
            .finish()
    }
}

impl fmt::Display for SignedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note)
    }
}

fn malformed(e: impl fmt::Display) -> CheckpointError {
    CheckpointError::Malformed(e.to_string())
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint (its form only; the signature is checked by
    /// [`verify`](Self::verify)).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let note = Note::from_bytes(text.as_bytes()).map_err(malformed)?;
        let body = CheckpointBody::from_bytes(note.text()).map_err(malformed)?;
        Ok(Self {
            note: text.to_owned(),
            origin: body.origin().to_owned(),
            head: TreeHead {
                size: body.size(),
                root: ChainHash(body.hash().0),
            },
        })
    }

    /// Checks the signature with `keys` and that the checkpoint names the keyring's log;
    /// returns the tree head it vouches for.
    pub fn verify(&self, keys: &Keyring) -> Result<TreeHead, CheckpointError> {
        if self.origin != keys.origin() {
            return Err(CheckpointError::WrongOrigin {
                expected: keys.origin().to_owned(),
                found: self.origin.clone(),
            });
        }
        let note = Note::from_bytes(self.note.as_bytes()).map_err(malformed)?;
        match note.verify(&keys.verifiers()) {
            Ok(_) => Ok(self.head),
            Err(NoteError::InvalidSignature { name, id }) => Err(CheckpointError::BadSignature {
                key: format!("{name}+{id:08x}"),
            }),
            Err(NoteError::UnverifiedNote) => Err(CheckpointError::UnknownKey {
                origin: keys.origin().to_owned(),
            }),
            Err(other) => Err(malformed(other)),
        }
    }

    /// The origin line (untrusted until verified).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size and root it states (untrusted until verified).
    pub fn head(&self) -> TreeHead {
        self.head
    }

    /// The whole signed note, as stored and published.
    pub fn as_str(&self) -> &str {
        &self.note
    }
}

impl Serialize for SignedCheckpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.note)
    }
}

impl<'de> Deserialize<'de> for SignedCheckpoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl CheckpointSigner {
    /// Signs a checkpoint of `head` for this signer's log.
    pub fn sign(&self, head: TreeHead) -> Result<SignedCheckpoint, CheckpointError> {
        let body = CheckpointBody::new(self.origin(), head.size, Hash(head.root.0), "")
            .map_err(malformed)?;
        let mut note = Note::new(&body.to_bytes(), &[]).map_err(malformed)?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| CheckpointError::Signing(e.to_string()))?;
        let text = String::from_utf8(note.to_bytes()).map_err(malformed)?;
        debug_assert_eq!(signed_note::Signer::name(&self.signer), self.origin());
        Ok(SignedCheckpoint {
            note: text,
            origin: self.origin().to_owned(),
            head,
        })
    }
}
