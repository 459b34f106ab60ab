//! Which input files are unchanged since the last run, so a nightly run reads
//! only what is new.
//!
//! The manifest remembers per file path its size, modification time, a hash
//! of its bytes, a hash of how it was read (`--source`, `--map`) and how many
//! records it held. It is saved in the index's commit payload, so it is
//! exactly as durable as the records it describes: a file is listed only once
//! the records read from it are committed. A file is unchanged when size,
//! modification time and reading settings match; when only the modification
//! time differs (touched, copied again), the content hash decides.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::record::{fnv1a, fnv1a_continue};

/// What the manifest remembers of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// FNV-1a hash of the bytes.
    pub hash: u64,
    /// Hash of the reading settings (`--source`, `--map`).
    pub settings: u64,
    /// Records read from it.
    pub records: u64,
}

/// Per-file states of the inputs whose records are committed, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// File path (as given on the command line, made absolute) → state.
    pub files: BTreeMap<String, FileState>,
}

/// What [`Manifest::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Unchanged since its records were committed: skip it. The state is
    /// the current one (its modification time may be newer).
    Unchanged(FileState),
    /// New or changed: read it, then remember this state.
    Read(FileState),
}

/// The key of a file in the manifest: its absolute path.
pub fn manifest_key(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn mtime_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// FNV-1a of a file's bytes, read in 1 MiB blocks.
pub fn hash_file(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut hash = fnv1a(&[]);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hash);
        }
        hash = fnv1a_continue(hash, &buf[..n]);
    }
}

impl Manifest {
    /// Checks `path` against the manifest. With `full`, every file is read
    /// (and hashed, to be remembered). Errors are those of reading the file.
    pub fn check(&self, path: &Path, settings: u64, full: bool) -> std::io::Result<Check> {
        let meta = std::fs::metadata(path)?;
        let mut state = FileState {
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
            hash: 0,
            settings,
            records: 0,
        };
        let known = self.files.get(&manifest_key(path)).filter(|k| {
            !full && k.size == state.size && k.settings == settings && state.mtime_ns != 0
        });
        if let Some(k) = known {
            if k.mtime_ns == state.mtime_ns {
                return Ok(Check::Unchanged(k.clone()));
            }
        }
        state.hash = hash_file(path)?;
        if let Some(k) = known {
            if k.hash == state.hash {
                state.records = k.records;
                return Ok(Check::Unchanged(state));
            }
        }
        Ok(Check::Read(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remember(m: &mut Manifest, path: &Path, check: Check, records: u64) {
        let Check::Read(mut state) = check else {
            panic!("expected the file to be read")
        };
        state.records = records;
        m.files.insert(manifest_key(path), state);
    }

    #[test]
    fn unchanged_touched_changed_and_resettings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"id\":1,\"text\":\"x\"}\n").unwrap();
        let mut m = Manifest::default();
        let first = m.check(&path, 7, false).unwrap();
        remember(&mut m, &path, first, 1);
        assert!(matches!(m.check(&path, 7, false).unwrap(), Check::Unchanged(s) if s.records == 1));
        // Other settings, or --full: read again.
        assert!(matches!(m.check(&path, 8, false).unwrap(), Check::Read(_)));
        assert!(matches!(m.check(&path, 7, true).unwrap(), Check::Read(_)));
        // Same bytes, newer time: the hash says unchanged.
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        assert!(matches!(m.check(&path, 7, false).unwrap(), Check::Unchanged(s) if s.records == 1));
        // Same size, different bytes.
        std::fs::write(&path, "{\"id\":2,\"text\":\"y\"}\n").unwrap();
        assert!(matches!(m.check(&path, 7, false).unwrap(), Check::Read(_)));
    }

    #[test]
    fn missing_file_is_an_error() {
        let m = Manifest::default();
        assert!(m
            .check(Path::new("/nonexistent/x.jsonl"), 0, false)
            .is_err());
    }

    #[test]
    fn hash_covers_every_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let mut bytes = vec![b'a'; (1 << 20) + 10];
        std::fs::write(&path, &bytes).unwrap();
        let h1 = hash_file(&path).unwrap();
        *bytes.last_mut().unwrap() = b'b';
        std::fs::write(&path, &bytes).unwrap();
        assert_ne!(h1, hash_file(&path).unwrap());
        assert_eq!(
            hash_file(&path).unwrap(),
            fnv1a(&bytes),
            "same as hashing at once"
        );
    }
}
