//! The change stamp of a database in WAL mode, read from the header of its
//! WAL index (the `-shm` file; its layout is SQLite's documented WAL-index
//! format, <https://www.sqlite.org/walformat.html>).
//!
//! Every commit, by any connection of any process, rewrites that header
//! (the WAL's frame count, its running checksum, its salts) before any
//! reader can see the commit, and SQLite's own readers notice changes by
//! comparing it. Reading it here costs one `pread` of 96 bytes and no lock,
//! where `PRAGMA data_version` starts a read transaction (a statement, and
//! two `fcntl` lock calls on the `-shm` file).
//!
//! A reading is accepted exactly as SQLite accepts one: the header's two
//! copies are equal (SQLite writes the second, then the first; a reading
//! in between differs), it is initialised, and its checksum holds. A
//! reading that fails this is not used; the caller then asks storage.
//!
//! The index is found where SQLite itself puts it: next to the database's
//! full path as SQLite resolved it (symbolic links followed), read back
//! from the connection, not derived from the path the operator gave.
//!
//! POSIX record locks belong to the process and the file: closing *any*
//! descriptor of the `-shm` file would drop the locks SQLite's connections
//! in this process hold on it. So the process opens one descriptor per
//! file and never closes it (one descriptor per database file a process
//! ever opens; an open descriptor also keeps the file's inode, and so its
//! key in the registry, from being reused).

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Bytes in one copy of the header.
const HEADER: usize = 48;
/// Offset of `isInit` in a copy.
const IS_INIT: usize = 12;
/// Bytes covered by the header's checksum (the copy without its last 8).
const CHECKSUMMED: usize = 40;

/// The open `-shm` files of the process, by device and inode; never
/// closed.
static OPEN: Mutex<Vec<(u64, u64, Arc<File>)>> = Mutex::new(Vec::new());

/// A database's WAL-index header, read as a stamp that changes with every
/// commit (see the module documentation).
pub(super) struct WalIndex {
    file: Arc<File>,
    /// The last header read and the stamp given for it: a different header
    /// gets the next stamp, so stamps only grow.
    last: parking_lot::Mutex<([u8; HEADER], u64)>,
}

impl WalIndex {
    /// The WAL index of the database SQLite opened at `db` (the full path
    /// a connection reports, `sqlite3_db_filename`), which a connection of
    /// this process must hold open in WAL mode (so the index exists and
    /// cannot be removed while that connection lives). None when it cannot
    /// be opened.
    pub(super) fn open(db: &Path) -> Option<Self> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let file = shared(Path::new(&shm)).ok()?;
        Some(Self {
            file,
            last: parking_lot::Mutex::new(([0; HEADER], 0)),
        })
    }

    /// The stamp of the header now, or None when the reading was taken in
    /// the middle of a commit (or the index could not be read).
    pub(super) fn stamp(&self) -> Option<u64> {
        let mut both = [0u8; 2 * HEADER];
        self.file.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER);
        if first != second || first[IS_INIT] == 0 || !checksum_holds(first) {
            return None;
        }
        let mut last = self.last.lock();
        if last.0 != first {
            last.0.copy_from_slice(first);
            last.1 += 1;
        }
        Some(last.1)
    }
}

/// Whether the header's last 8 bytes are the checksum SQLite computes over
/// the 40 before them (native byte order, as SQLite writes the index).
fn checksum_holds(header: &[u8]) -> bool {
    let word = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&header[i..i + 4]);
        u32::from_ne_bytes(w)
    };
    let (mut s1, mut s2) = (0u32, 0u32);
    for i in (0..CHECKSUMMED).step_by(8) {
        s1 = s1.wrapping_add(word(i)).wrapping_add(s2);
        s2 = s2.wrapping_add(word(i + 4)).wrapping_add(s1);
    }
    s1 == word(CHECKSUMMED) && s2 == word(CHECKSUMMED + 4)
}

/// The process's one descriptor of the file at `path`, opened read-only
/// the first time the process asks for it.
fn shared(path: &Path) -> std::io::Result<Arc<File>> {
    let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
    let meta = std::fs::metadata(path)?;
    let held = open
        .iter()
        .find(|(dev, ino, _)| *dev == meta.dev() && *ino == meta.ino());
    if let Some((_, _, file)) = held {
        return Ok(file.clone());
    }
    let file = Arc::new(File::open(path)?);
    let meta = file.metadata()?;
    open.push((meta.dev(), meta.ino(), file.clone()));
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as SQLite writes one: `iVersion`, `iChange`, `isInit`,
    /// page size, `mxFrame`, page count, frame checksum, salts, then the
    /// checksum of the 40 bytes before it.
    fn header(change: u32, frames: u32) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[0..4].copy_from_slice(&3_007_000u32.to_ne_bytes());
        h[8..12].copy_from_slice(&change.to_ne_bytes());
        h[IS_INIT] = 1;
        h[14..16].copy_from_slice(&4096u16.to_ne_bytes());
        h[16..20].copy_from_slice(&frames.to_ne_bytes());
        h[32..40].copy_from_slice(&[7, 1, 2, 3, 9, 8, 7, 6]);
        let (mut s1, mut s2) = (0u32, 0u32);
        for i in (0..CHECKSUMMED).step_by(8) {
            let w = |j: usize| u32::from_ne_bytes(h[j..j + 4].try_into().unwrap());
            s1 = s1.wrapping_add(w(i)).wrapping_add(s2);
            s2 = s2.wrapping_add(w(i + 4)).wrapping_add(s1);
        }
        h[40..44].copy_from_slice(&s1.to_ne_bytes());
        h[44..48].copy_from_slice(&s2.to_ne_bytes());
        h
    }

    fn write(path: &Path, first: &[u8; HEADER], second: &[u8; HEADER]) {
        let mut bytes = first.to_vec();
        bytes.extend_from_slice(second);
        bytes.resize(32 * 1024, 0);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn the_stamp_moves_with_the_header_and_refuses_a_torn_or_corrupt_reading() {
        let dir = std::env::temp_dir().join(format!("mcp-oauth-wal-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let shm = dir.join("t.db-shm");
        write(&shm, &header(1, 3), &header(1, 3));
        let index = WalIndex::open(&db).unwrap();
        let first = index.stamp().unwrap();
        assert_eq!(index.stamp(), Some(first), "same header, same stamp");
        // A commit: a new header, a larger stamp.
        write(&shm, &header(2, 5), &header(2, 5));
        let second = index.stamp().unwrap();
        assert!(second > first);
        // Half-way through the next commit (second copy written, first
        // not yet): not used.
        write(&shm, &header(2, 5), &header(3, 6));
        assert_eq!(index.stamp(), None);
        // A copy whose checksum fails, or one not initialised: not used.
        let mut bad = header(3, 6);
        bad[20] ^= 1;
        write(&shm, &bad, &bad);
        assert_eq!(index.stamp(), None);
        let mut blank = header(3, 6);
        blank[IS_INIT] = 0;
        write(&shm, &blank, &blank);
        assert_eq!(index.stamp(), None);
        // A second handle of the process shares the one descriptor.
        let again = WalIndex::open(&db).unwrap();
        assert!(Arc::ptr_eq(&again.file, &index.file));
        let _ = std::fs::remove_dir_all(dir);
    }
}
