//! [`Profile`]: the JSON connection profile (`weft up` writes `DIR/profile.json`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weft_types::Identity;
use weft_types::node_config::resolve_path;

use crate::error::{ClientError, Result};
use crate::wallet::Wallet;

/// How to reach a channel: its name, the gateways to try, and optionally
/// the identity to use. Relative paths are relative to the profile file's
/// directory ([`Profile::load`] resolves them).
///
/// ```json
/// {
///   "channel": "weft",
///   "gateways": [
///     {"org": "Org1", "gateway": "http://127.0.0.1:7051"},
///     {"org": "Org2", "gateway": "http://127.0.0.1:7053"}
///   ],
///   "identity": {"wallet": ".", "label": "client@Org1"},
///   "timeout_ms": 30000
/// }
/// ```
///
/// `identity` may instead name the files directly:
/// `{"certificate": "orgs/Org1/members/client/cert.json", "key": "orgs/Org1/members/client/key.pem"}`.
/// Gateways are tried in the order listed; the client moves to the next one
/// when one cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The channel name.
    pub channel: String,
    /// The peers' gateways, in the order to try them.
    pub gateways: Vec<GatewayEntry>,
    /// The identity to connect with, if the profile names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ProfileIdentity>,
    /// Default per-request timeout, milliseconds (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One peer's gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// The peer's org.
    pub org: String,
    /// Base URL of its gateway, `http://host:port`.
    pub gateway: String,
}

/// Where the profile's identity is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawIdentity")]
pub enum ProfileIdentity {
    /// A label in a [`Wallet`] directory.
    Wallet {
        /// The wallet directory (a network directory is one).
        wallet: PathBuf,
        /// `name@org`.
        label: String,
    },
    /// A certificate file (JSON) and a key file (PKCS#8 PEM).
    Files {
        /// The certificate file.
        certificate: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
}

/// Every field either form may have, so a mix-up gets a precise message
/// rather than serde's "did not match any variant".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    wallet: Option<PathBuf>,
    label: Option<String>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl TryFrom<RawIdentity> for ProfileIdentity {
    type Error = String;
    fn try_from(raw: RawIdentity) -> std::result::Result<Self, String> {
        match raw {
            RawIdentity {
                wallet: Some(wallet),
                label: Some(label),
                certificate: None,
                key: None,
            } => Ok(ProfileIdentity::Wallet { wallet, label }),
            RawIdentity {
                wallet: None,
                label: None,
                certificate: Some(certificate),
                key: Some(key),
            } => Ok(ProfileIdentity::Files { certificate, key }),
            _ => {
                Err("identity must be {\"wallet\", \"label\"} or {\"certificate\", \"key\"}".into())
            }
        }
    }
}

impl ProfileIdentity {
    /// Loads the identity; relative paths are taken under `base`.
    pub fn load(&self, base: &Path) -> Result<Identity> {
        match self {
            ProfileIdentity::Wallet { wallet, label } => {
                Wallet::open(resolve_path(base, wallet))?.get(label)
            }
            ProfileIdentity::Files { certificate, key } => {
                load_files(&resolve_path(base, certificate), &resolve_path(base, key))
            }
        }
    }

    fn resolve(&mut self, base: &Path) {
        match self {
            ProfileIdentity::Wallet { wallet, .. } => *wallet = resolve_path(base, wallet),
            ProfileIdentity::Files { certificate, key } => {
                *certificate = resolve_path(base, certificate);
                *key = resolve_path(base, key);
            }
        }
    }
}

fn load_files(certificate: &Path, key: &Path) -> Result<Identity> {
    let fail = |path: &Path, message: String| ClientError::Wallet {
        message: format!("{}: {message}", path.display()),
    };
    let cert_text = std::fs::read_to_string(certificate)
        .map_err(|e| fail(certificate, format!("cannot read the certificate: {e}")))?;
    let cert = serde_json::from_str(&cert_text)
        .map_err(|e| fail(certificate, format!("not a certificate: {e}")))?;
    let key_text = std::fs::read_to_string(key)
        .map_err(|e| fail(key, format!("cannot read the private key: {e}")))?;
    let signing_key =
        weft_types::SigningKey::from_pkcs8_pem(&key_text).map_err(|e| fail(key, e.to_string()))?;
    Identity::from_parts(cert, signing_key).map_err(|e| fail(key, e.to_string()))
}

impl Profile {
    /// Reads the profile at `path`; relative paths in it become paths
    /// under the profile's directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Profile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| profile_error(path, e))?;
        let base = path.parent().unwrap_or(Path::new(""));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        Profile::from_json(&text, base).map_err(|e| match e {
            ClientError::Profile { message, .. } => ClientError::Profile {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses a profile from JSON text; relative paths become paths under `base`.
    pub fn from_json(text: &str, base: &Path) -> Result<Profile> {
        let mut profile: Profile =
            serde_json::from_str(text).map_err(|e| profile_error(Path::new(""), e))?;
        if let Some(identity) = &mut profile.identity {
            identity.resolve(base);
        }
        profile.check()?;
        Ok(profile)
    }

    /// Writes the profile as pretty JSON (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut text = serde_json::to_string_pretty(self).map_err(|e| profile_error(path, e))?;
        text.push('\n');
        crate::fsutil::write_atomic(path, text.as_bytes(), false)
            .map_err(|e| profile_error(path, e))
    }

    /// The gateway URLs, in order.
    pub fn gateway_urls(&self) -> Vec<String> {
        self.gateways.iter().map(|g| g.gateway.clone()).collect()
    }

    /// Loads the profile's identity (paths were resolved by [`Profile::load`]).
    pub fn identity(&self) -> Result<Identity> {
        match &self.identity {
            Some(id) => id.load(Path::new(".")),
            None => Err(ClientError::Profile {
                path: PathBuf::new(),
                message: "the profile names no identity; pass one to Gateway::connect".into(),
            }),
        }
    }

    fn check(&self) -> Result<()> {
        let fail = |message: String| ClientError::Profile {
            path: PathBuf::new(),
            message,
        };
        weft_types::check_name("channel", &self.channel).map_err(|e| fail(e.to_string()))?;
        if self.gateways.is_empty() {
            return Err(fail("it lists no gateways".into()));
        }
        for g in &self.gateways {
            crate::http::check_base_url(&g.gateway).map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    }
}

fn profile_error(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::Profile {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{OrgAuthority, Role, SigningKey};

    const PROFILE: &str = r#"{
        "channel": "weft",
        "gateways": [
            {"org": "Org1", "gateway": "http://127.0.0.1:7051"},
            {"org": "Org2", "gateway": "http://127.0.0.1:7053/"}
        ],
        "identity": {"wallet": "net", "label": "client@Org1"}
    }"#;

    #[test]
    fn relative_paths_resolve_against_the_profile_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(&path, PROFILE).unwrap();
        let profile = Profile::load(&path).unwrap();
        assert_eq!(
            profile.identity,
            Some(ProfileIdentity::Wallet {
                wallet: dir.path().join("net"),
                label: "client@Org1".into()
            })
        );
        assert_eq!(
            profile.gateway_urls(),
            ["http://127.0.0.1:7051", "http://127.0.0.1:7053/"]
        );

        let files = r#"{"channel": "weft", "gateways": [{"org": "O", "gateway": "http://h:1"}],
            "identity": {"certificate": "c/cert.json", "key": "/abs/key.pem"}}"#;
        let profile = Profile::from_json(files, Path::new("/base")).unwrap();
        assert_eq!(
            profile.identity,
            Some(ProfileIdentity::Files {
                certificate: PathBuf::from("/base/c/cert.json"),
                key: PathBuf::from("/abs/key.pem"),
            })
        );
    }

    #[test]
    fn identity_loads_from_wallet_or_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = OrgAuthority::new("Org1", SigningKey::generate())
            .unwrap()
            .enroll("client", Role::Client, 0, u64::MAX)
            .unwrap();
        Wallet::create(dir.path().join("net"))
            .unwrap()
            .put("client@Org1", &id)
            .unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(&path, PROFILE).unwrap();
        let loaded = Profile::load(&path).unwrap().identity().unwrap();
        assert_eq!(loaded.certificate(), id.certificate());

        let files = Profile {
            identity: Some(ProfileIdentity::Files {
                certificate: "net/orgs/Org1/members/client/cert.json".into(),
                key: "net/orgs/Org1/members/client/key.pem".into(),
            }),
            ..Profile::load(&path).unwrap()
        };
        files.save(&path).unwrap();
        let loaded = Profile::load(&path).unwrap().identity().unwrap();
        assert_eq!(loaded.certificate(), id.certificate());
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let base = Path::new("/");
        let cases = [
            (r#"{"channel": "weft", "gateways": []}"#, "no gateways"),
            (
                r#"{"channel": "weft", "gateways": [{"org": "O", "gateway": "ftp://x"}]}"#,
                "http://",
            ),
            (
                r#"{"channel": "weft", "gateways": [{"org": "O", "gateway": "http://x:1"}],
                    "identity": {"wallet": "w", "key": "k"}}"#,
                "identity must be",
            ),
            (
                r#"{"channel": "a.b", "gateways": [{"org": "O", "gateway": "http://x:1"}]}"#,
                "channel",
            ),
            (r#"{"channel": "weft", "gateway": []}"#, "unknown field"),
        ];
        for (text, expected) in cases {
            let err = Profile::from_json(text, base).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = Profile::load("/no/such/profile.json").unwrap_err();
        assert!(err.to_string().contains("/no/such/profile.json"), "{err}");
    }
}
