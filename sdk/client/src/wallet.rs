//! [`Wallet`]: member identities on disk, in the layout `weft network init` writes.

use std::fs;
use std::path::{Path, PathBuf};

use weft_types::node_config::IdentityFiles;
use weft_types::{Identity, check_name};

use crate::error::{ClientError, Result};
use crate::fsutil::write_atomic;

/// The certificate file of a member (JSON of a `Certificate`).
pub const CERT_FILE: &str = "cert.json";
/// The private key file of a member (PKCS#8 PEM, mode 0600 on unix).
pub const KEY_FILE: &str = "key.pem";

/// A directory of member identities, labelled `name@org` (`client@Org1`).
///
/// The layout is the one `weft network init` writes, so a network directory
/// is a wallet as it is:
///
/// ```text
/// DIR/orgs/ORG/members/NAME/cert.json   certificate (JSON)
/// DIR/orgs/ORG/members/NAME/key.pem     private key (PKCS#8 PEM, 0600)
/// ```
///
/// ```
/// use weft_client::Wallet;
/// use weft_types::{OrgAuthority, Role, SigningKey};
///
/// let dir = tempfile::tempdir().unwrap();
/// let org1 = OrgAuthority::new("Org1", SigningKey::generate()).unwrap();
/// let client = org1.enroll("client", Role::Client, 0, u64::MAX).unwrap();
///
/// let wallet = Wallet::create(dir.path()).unwrap();
/// wallet.put("client@Org1", &client).unwrap();
/// assert_eq!(wallet.labels().unwrap(), ["client@Org1"]);
/// let back = wallet.get("client@Org1").unwrap();
/// assert_eq!(back.certificate(), client.certificate());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    dir: PathBuf,
}

impl Wallet {
    /// Opens the wallet in `dir`, which must exist.
    pub fn open(dir: impl AsRef<Path>) -> Result<Wallet> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(wallet_error(format!(
                "{} is not a directory; create the wallet with Wallet::create or point to a network directory",
                dir.display()
            )));
        }
        Ok(Wallet {
            dir: dir.to_path_buf(),
        })
    }

    /// Opens the wallet in `dir`, creating the directory if needed.
    pub fn create(dir: impl AsRef<Path>) -> Result<Wallet> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir)
            .map_err(|e| wallet_error(format!("cannot create {}: {e}", dir.display())))?;
        Wallet::open(dir)
    }

    /// The wallet's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every label with both a certificate and a key file, sorted. Entries
    /// whose names are not valid org or member names are skipped.
    pub fn labels(&self) -> Result<Vec<String>> {
        let mut labels = Vec::new();
        for org in subdirs(&self.dir.join("orgs"))? {
            for name in subdirs(&self.dir.join("orgs").join(&org).join("members"))? {
                let label = format!("{name}@{org}");
                if self.contains(&label) {
                    labels.push(label);
                }
            }
        }
        labels.sort();
        Ok(labels)
    }

    /// Whether `label` has both files.
    pub fn contains(&self, label: &str) -> bool {
        self.member_dir(label)
            .map(|d| d.join(CERT_FILE).is_file() && d.join(KEY_FILE).is_file())
            .unwrap_or(false)
    }

    /// Loads the identity `label` and checks that its key matches its
    /// certificate and that the certificate is for that member.
    pub fn get(&self, label: &str) -> Result<Identity> {
        let (name, org) = parse_label(label)?;
        let dir = self.member_dir(label)?;
        if !self.contains(label) {
            return Err(wallet_error(format!(
                "no identity {label:?} in {} (expected {} and {})",
                self.dir.display(),
                dir.join(CERT_FILE).display(),
                dir.join(KEY_FILE).display()
            )));
        }
        let files = IdentityFiles {
            org: org.to_string(),
            name: name.to_string(),
            certificate: PathBuf::from(CERT_FILE),
            key: PathBuf::from(KEY_FILE),
        };
        files
            .load(&dir)
            .map_err(|e| wallet_error(format!("identity {label:?}: {e}")))
    }

    /// Stores `identity` under `label`, replacing what was there. The label
    /// must be the identity's own `name@org`: the files are found by it.
    pub fn put(&self, label: &str, identity: &Identity) -> Result<()> {
        let (name, org) = parse_label(label)?;
        if name != identity.name() || org != identity.org() {
            return Err(wallet_error(format!(
                "label {label:?} does not match the identity, which is {}@{}",
                identity.name(),
                identity.org()
            )));
        }
        let dir = self.member_dir(label)?;
        fs::create_dir_all(&dir)
            .map_err(|e| wallet_error(format!("cannot create {}: {e}", dir.display())))?;
        let mut cert = serde_json::to_string_pretty(identity.certificate())
            .map_err(|e| wallet_error(format!("cannot encode the certificate: {e}")))?;
        cert.push('\n');
        let key = identity
            .signing_key()
            .to_pkcs8_pem()
            .map_err(|e| wallet_error(format!("cannot encode the key: {e}")))?;
        let write = |file: &str, bytes: &[u8], secret| {
            let path = dir.join(file);
            write_atomic(&path, bytes, secret)
                .map_err(|e| wallet_error(format!("cannot write {}: {e}", path.display())))
        };
        write(KEY_FILE, key.as_bytes(), true)?;
        write(CERT_FILE, cert.as_bytes(), false)
    }

    fn member_dir(&self, label: &str) -> Result<PathBuf> {
        let (name, org) = parse_label(label)?;
        Ok(self.dir.join("orgs").join(org).join("members").join(name))
    }
}

/// Splits `name@org`, checking both with the naming rule (which also keeps
/// the label from escaping the wallet directory).
fn parse_label(label: &str) -> Result<(&str, &str)> {
    let (name, org) = label
        .split_once('@')
        .ok_or_else(|| wallet_error(format!("label {label:?} is not of the form name@org")))?;
    check_name("member", name).map_err(|e| wallet_error(format!("label {label:?}: {e}")))?;
    check_name("organisation", org).map_err(|e| wallet_error(format!("label {label:?}: {e}")))?;
    Ok((name, org))
}

/// Names of the subdirectories of `dir` that are valid names; none if `dir` is missing.
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(wallet_error(format!("cannot read {}: {e}", dir.display()))),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| wallet_error(format!("cannot read {}: {e}", dir.display())))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if entry.path().is_dir() && check_name("entry", &name).is_ok() {
            out.push(name);
        }
    }
    Ok(out)
}

fn wallet_error(message: String) -> ClientError {
    ClientError::Wallet { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::{OrgAuthority, Role, SigningKey};

    fn member(org: &str, name: &str) -> Identity {
        OrgAuthority::new(org, SigningKey::generate())
            .unwrap()
            .enroll(name, Role::Client, 0, u64::MAX)
            .unwrap()
    }

    #[test]
    fn round_trip_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::create(dir.path().join("w")).unwrap();
        assert!(wallet.labels().unwrap().is_empty());
        let a = member("Org1", "client");
        let b = member("Org2", "admin");
        wallet.put("client@Org1", &a).unwrap();
        wallet.put("admin@Org2", &b).unwrap();
        assert_eq!(wallet.labels().unwrap(), ["admin@Org2", "client@Org1"]);
        let back = wallet.get("client@Org1").unwrap();
        assert_eq!(back.certificate(), a.certificate());
        assert_eq!(
            back.signing_key().public_key(),
            a.signing_key().public_key()
        );

        // Overwriting replaces both files.
        let a2 = member("Org1", "client");
        wallet.put("client@Org1", &a2).unwrap();
        assert_eq!(
            wallet.get("client@Org1").unwrap().certificate(),
            a2.certificate()
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::open(dir.path()).unwrap();
        wallet
            .put("client@Org1", &member("Org1", "client"))
            .unwrap();
        let key = dir.path().join("orgs/Org1/members/client/key.pem");
        let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn reads_the_layout_network_init_writes() {
        let dir = tempfile::tempdir().unwrap();
        let id = member("Bank", "peer0");
        let mdir = dir.path().join("orgs/Bank/members/peer0");
        fs::create_dir_all(&mdir).unwrap();
        fs::write(
            mdir.join("cert.json"),
            serde_json::to_string_pretty(id.certificate()).unwrap(),
        )
        .unwrap();
        fs::write(
            mdir.join("key.pem"),
            id.signing_key().to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap();
        // Files beside the members (root keys) are not identities.
        fs::write(dir.path().join("orgs/Bank/root.pub.json"), "{}").unwrap();
        let wallet = Wallet::open(dir.path()).unwrap();
        assert_eq!(wallet.labels().unwrap(), ["peer0@Bank"]);
        assert_eq!(
            wallet.get("peer0@Bank").unwrap().certificate(),
            id.certificate()
        );
    }

    #[test]
    fn bad_labels_and_mismatches_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::open(dir.path()).unwrap();
        let id = member("Org1", "client");
        for bad in ["client", "../x@Org1", "client@../../etc", "a@b@c"] {
            assert!(wallet.put(bad, &id).is_err(), "{bad}");
        }
        let err = wallet.put("admin@Org1", &id).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        let err = wallet.get("nobody@Org1").unwrap_err();
        assert!(err.to_string().contains("no identity"), "{err}");
        assert!(Wallet::open(dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_key_of_another_member_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::open(dir.path()).unwrap();
        wallet
            .put("client@Org1", &member("Org1", "client"))
            .unwrap();
        let other = member("Org1", "client");
        fs::write(
            dir.path().join("orgs/Org1/members/client/key.pem"),
            other.signing_key().to_pkcs8_pem().unwrap().as_bytes(),
        )
        .unwrap();
        assert!(wallet.get("client@Org1").is_err());
    }
}
