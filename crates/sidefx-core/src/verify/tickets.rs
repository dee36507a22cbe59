//! One pass over the tickets directory: which business keys have a ticket, and which files
//! are not tickets (temp files of crashed writes, strangers).

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use crate::artifacts::{ArtifactError, Artifacts};
use crate::ids::BusinessKey;

/// Prefix of the temp files `Artifacts::write_ticket` links into place.
const TEMP_PREFIX: &str = ".tmp-";

/// What the tickets directory holds. Only names are kept (a business key is at most 128
/// bytes), so 100k tickets cost a few MB; contents are read one at a time later.
#[derive(Debug, Default)]
pub(super) struct TicketDir {
    /// Keys with a `ticket_<key>.json`, sorted so findings come out in a stable order.
    pub(super) keys: BTreeSet<BusinessKey>,
    /// Names of leftover temp files.
    pub(super) temp_files: Vec<String>,
    /// Names of anything else.
    pub(super) other_files: Vec<String>,
}

/// Lists the tickets directory; a missing directory is an empty one (no effect ran yet).
pub(super) async fn scan(artifacts: &Artifacts) -> Result<TicketDir, ArtifactError> {
    let dir = artifacts.tickets_dir();
    tokio::task::spawn_blocking(move || scan_blocking(&dir)).await?
}

fn scan_blocking(dir: &Path) -> Result<TicketDir, ArtifactError> {
    let listing = |source| ArtifactError::Io {
        op: "listing",
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TicketDir::default()),
        Err(e) => return Err(listing(e)),
    };
    let mut found = TicketDir::default();
    for entry in entries {
        let name = entry.map_err(listing)?.file_name();
        let name = name.to_string_lossy();
        if let Some(key) = ticket_key(&name) {
            found.keys.insert(key);
        } else if name.starts_with(TEMP_PREFIX) {
            found.temp_files.push(name.into_owned());
        } else {
            found.other_files.push(name.into_owned());
        }
    }
    found.temp_files.sort();
    found.other_files.sort();
    Ok(found)
}

/// The key of `ticket_<key>.json`, if `name` is exactly that for a valid key (so the name
/// round-trips through `Artifacts::ticket_path`).
fn ticket_key(name: &str) -> Option<BusinessKey> {
    let key = name.strip_prefix("ticket_")?.strip_suffix(".json")?;
    BusinessKey::parse(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_ticket_names_yield_keys() {
        assert_eq!(
            ticket_key("ticket_order-1.json").map(|k| k.to_string()),
            Some("order-1".to_owned())
        );
        for name in [
            "ticket_.json",
            "ticket_.x.json",
            "order.json",
            ".tmp-1.json",
        ] {
            assert_eq!(ticket_key(name), None, "{name}");
        }
    }
}
