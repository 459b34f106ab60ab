//! The directory the index lives in: tantivy's `MmapDirectory`, except that
//! small reads of the doc store (`.store` files) are made with `pread`
//! instead of through the map (issue 8).
//!
//! The report pass reads every stored record, in date order, so through a
//! map every page of every doc store file ends up resident in the process:
//! its RSS grew by the size of the store (about 500 MiB at 1M records)
//! although that memory is only the kernel's page cache, shared and
//! reclaimable. Read with `pread`, a block is copied into a buffer that is
//! freed once decompressed, so the process's memory no longer grows with
//! the store; the page cache still holds the file.
//!
//! A merge of segments without deletions stacks their stores whole, one
//! after the other: through the map, every page of every merged store
//! stayed resident until the merge ended (at 3M records, 16 segments of
//! 100,000: about 800 MiB of the run's peak RSS). Read with `pread`, each
//! store is one buffer, freed once copied. Stores larger than
//! [`PREAD_MAX`] (a merged segment; one commit's 100,000 records take about
//! 50 MiB of generated tickets, so longer texts are still covered) go
//! through the map: tantivy may run several merges at once, and each would
//! copy its whole store into the heap.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback, WatchHandle,
    WritePtr,
};
use tantivy::{Directory, HasLen};

/// Reads of a doc store file up to this size are made with `pread`: every
/// block, the skip index, and a whole store stacked by a merge.
const PREAD_MAX: usize = 128 << 20;

/// `MmapDirectory` with doc store blocks read by `pread`; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct IndexDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl IndexDirectory {
    /// The directory at `root`, which must exist.
    pub fn open(root: &Path) -> Result<IndexDirectory, OpenDirectoryError> {
        Ok(IndexDirectory {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
        })
    }
}

/// A doc store file: reads up to `pread_max` bytes by `pread`, larger ones
/// from the map.
struct StoreFile {
    file: File,
    mapped: Arc<dyn FileHandle>,
    pread_max: usize,
}

impl fmt::Debug for StoreFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreFile")
            .field("len", &self.mapped.len())
            .finish()
    }
}

impl HasLen for StoreFile {
    fn len(&self) -> usize {
        self.mapped.len()
    }
}

impl FileHandle for StoreFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.len() > self.pread_max || range.end > self.len() {
            return self.mapped.read_bytes(range);
        }
        match read_at(&self.file, range.clone()) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => self.mapped.read_bytes(range),
            read => read,
        }
    }
}

#[cfg(unix)]
fn read_at(file: &File, range: Range<usize>) -> io::Result<OwnedBytes> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; range.len()];
    file.read_exact_at(&mut buffer, range.start as u64)?;
    Ok(OwnedBytes::new(buffer))
}

/// Elsewhere than Unix there is no positioned read that leaves the file's
/// position alone (the decoding threads share the file): the map serves.
#[cfg(not(unix))]
fn read_at(_file: &File, _range: Range<usize>) -> io::Result<OwnedBytes> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

impl Directory for IndexDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let mapped = self.inner.get_file_handle(path)?;
        if path.extension().is_none_or(|e| e != "store") {
            return Ok(mapped);
        }
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|io_error| OpenReadError::IoError {
            io_error: Arc::new(io_error),
            filepath: full,
        })?;
        Ok(Arc::new(StoreFile {
            file,
            mapped,
            pread_max: PREAD_MAX,
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn store_files_read_the_same_by_pread_and_by_map() {
        let tmp = tempfile::tempdir().expect("temp dir");
        // A small limit, so that both ways are taken.
        let pread_max = 1 << 16;
        let bytes: Vec<u8> = (0..3 * pread_max as u32).map(|i| (i % 251) as u8).collect();
        for name in ["a.store", "a.idx"] {
            let mut file = File::create(tmp.path().join(name)).expect("create");
            file.write_all(&bytes).expect("write");
        }
        let dir = IndexDirectory::open(tmp.path()).expect("dir");
        let store = StoreFile {
            file: File::open(tmp.path().join("a.store")).expect("open"),
            mapped: dir
                .inner
                .get_file_handle(Path::new("a.store"))
                .expect("map"),
            pread_max,
        };
        let handles: Vec<Arc<dyn FileHandle>> = vec![
            Arc::new(store),
            dir.get_file_handle(Path::new("a.store")).expect("handle"),
            dir.get_file_handle(Path::new("a.idx")).expect("handle"),
        ];
        for handle in handles {
            assert_eq!(handle.len(), bytes.len());
            for range in [0..10, 4096..8192, 5..pread_max + 7, 0..bytes.len()] {
                let read = handle.read_bytes(range.clone()).expect("read");
                assert_eq!(read.as_slice(), &bytes[range]);
            }
        }
        let missing = dir.get_file_handle(Path::new("b.store"));
        assert!(matches!(missing, Err(OpenReadError::FileDoesNotExist(_))));
    }
}
