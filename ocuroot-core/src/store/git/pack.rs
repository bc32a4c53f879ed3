//! Writing a commit's new objects as one pack.
//!
//! A transaction writes its blobs, trees and commit into the object memory of the
//! snapshot's repository handle (`gix`'s in-memory object proxy), not as loose files: a
//! cascade that records thousands of documents would otherwise create one file per object
//! (an inode, a directory entry and a `fsync`-free write each), which dominated its system
//! time. [`persist`] then writes all of them as one pack with its index, before the branch
//! moves to the commit, so a branch never names an object that is not on disk.
//!
//! The pack is written by `gix`'s bundle writer (the one `git fetch` in `gix` uses): it
//! streams the pack into a temporary file, verifies it, writes the index, and moves both into
//! `objects/pack/` (pack first, then index), so a crash leaves either nothing, a pack without
//! an index (ignored by every reader; `git gc` removes it), or a complete pack whose objects
//! nothing references yet. Each case is a readable store that `git fsck` accepts. Objects of a
//! lost race stay in their pack, unreferenced, until maintenance rolls the pack up.
//!
//! Entries are stored whole (no deltas): a transaction's objects are new documents and
//! trees, and maintenance ([`crate::store::maintenance`]) rolls small packs into bigger,
//! deltified ones with `git repack --geometric`.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::odb::memory::Storage;
use gix::zlib::stream::deflate::{Compress, FlushCompress};
use gix_pack as pack;

/// Why a pack could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PackError {
    /// Compressing an object failed.
    #[error("could not compress object {id}")]
    Compress {
        /// The object.
        id: ObjectId,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bundle writer failed (temporary file, verification, index, rename).
    #[error("could not write the pack into {dir}")]
    Write {
        /// `objects/pack` of the repository.
        dir: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Writes every object of `objects` as one pack (with its index) into `objects_dir/pack`.
/// Returns the number of objects written; an empty storage writes nothing.
pub(crate) fn persist(objects_dir: &Path, objects: &Storage) -> Result<usize, PackError> {
    if objects.is_empty() {
        return Ok(0);
    }
    let bytes = pack_bytes(objects)?;
    let dir = objects_dir.join("pack");
    let write_err = |source: Box<dyn std::error::Error + Send + Sync>| PackError::Write {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|e| write_err(Box::new(e)))?;
    let interrupt = AtomicBool::new(false);
    let options = pack::bundle::write::Options {
        // The pack is small and not deltified: resolving it needs no worker threads.
        thread_limit: Some(1),
        ..Default::default()
    };
    let outcome = pack::Bundle::write_to_directory(
        &mut bytes.as_slice(),
        Some(&dir),
        &mut gix::progress::Discard,
        &interrupt,
        None::<gix::objs::find::Never>,
        gix::hash::Kind::Sha1,
        options,
    )
    .map_err(|e| write_err(Box::new(e)))?;
    // The `.keep` file guards a fetched pack until refs point at it; our maintenance keeps
    // unreachable objects (and `git gc` keeps recent ones), so it is not needed here and
    // would stop maintenance from ever rolling this pack up.
    if let Some(keep) = outcome.keep_path {
        std::fs::remove_file(&keep).map_err(|e| write_err(Box::new(e)))?;
    }
    Ok(objects.len())
}

/// The bytes of a version-2 pack holding `objects` undeltified, in id order (so the same
/// objects always give the same pack).
fn pack_bytes(objects: &Storage) -> Result<Vec<u8>, PackError> {
    let mut ids: Vec<&ObjectId> = objects.keys().collect();
    ids.sort();
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(b"PACK");
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    // One compressor for every object, reset between them: creating one allocates and
    // clears a few hundred KB, which cost more than compressing a small document.
    let mut compressor = Compress::new(gix::zlib::Compression::BEST_SPEED);
    let mut buf = vec![0u8; 32 * 1024];
    for id in ids {
        let (kind, data) = &objects[id];
        let compress_err = |source: Box<dyn std::error::Error + Send + Sync>| PackError::Compress {
            id: *id,
            source,
        };
        header_of(*kind)
            .write_to(data.len() as u64, &mut out)
            .map_err(|e| compress_err(Box::new(e)))?;
        deflate(&mut compressor, data, &mut buf, &mut out).map_err(compress_err)?;
    }
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(&out);
    let trailer = hasher.try_finalize().map_err(|e| PackError::Compress {
        id: ObjectId::null(gix::hash::Kind::Sha1),
        source: Box::new(e),
    })?;
    out.extend_from_slice(trailer.as_bytes());
    Ok(out)
}

/// The pack entry header of an object of `kind`.
fn header_of(kind: gix::objs::Kind) -> pack::data::entry::Header {
    use gix::objs::Kind;
    use pack::data::entry::Header;
    match kind {
        Kind::Tree => Header::Tree,
        Kind::Blob => Header::Blob,
        Kind::Commit => Header::Commit,
        Kind::Tag => Header::Tag,
    }
}

/// Appends `data` to `out` as one zlib stream, through `compressor` (reset first) and the
/// scratch buffer `buf`.
fn deflate(
    compressor: &mut Compress,
    data: &[u8],
    buf: &mut [u8],
    out: &mut Vec<u8>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    compressor.reset();
    let mut input = data;
    loop {
        let (read, written) = (compressor.total_in(), compressor.total_out());
        let status = compressor.compress(input, buf, FlushCompress::Finish)?;
        let produced = usize::try_from(compressor.total_out() - written)?;
        let consumed = usize::try_from(compressor.total_in() - read)?;
        out.extend_from_slice(&buf[..produced]);
        input = &input[consumed..];
        match status {
            gix::zlib::Status::StreamEnd => return Ok(()),
            _ if produced == 0 && consumed == 0 => {
                return Err("the compressor made no progress".into());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the test checks the pack with plain `git`
mod tests {
    use super::*;

    #[test]
    fn a_pack_of_memory_objects_reads_back_and_fscks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.git");
        gix::init_bare(&path).expect("init");
        let mut repo = gix::open(&path).expect("open");
        repo.objects.enable_object_memory();
        let blob = repo.write_blob(b"hello\n").expect("blob").detach();
        let mut editor = repo
            .edit_tree(ObjectId::empty_tree(repo.object_hash()))
            .expect("editor");
        editor
            .upsert("a/b", gix::objs::tree::EntryKind::Blob, blob)
            .expect("upsert");
        let tree = editor.write().expect("tree").detach();
        let memory = repo.objects.take_object_memory().expect("memory");
        // Nothing reached the disk yet.
        assert!(
            !path
                .join("objects")
                .join(&blob.to_hex().to_string()[..2])
                .exists()
        );
        assert_eq!(persist(&path.join("objects"), &memory).expect("persist"), 3);
        let packs: Vec<_> = std::fs::read_dir(path.join("objects/pack"))
            .expect("pack dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().into_string().expect("name"))
            .collect();
        assert_eq!(packs.iter().filter(|n| n.ends_with(".pack")).count(), 1);
        assert_eq!(packs.iter().filter(|n| n.ends_with(".idx")).count(), 1);
        assert!(!packs.iter().any(|n| n.ends_with(".keep")), "{packs:?}");
        let fresh = gix::open(&path).expect("reopen");
        assert_eq!(fresh.find_blob(blob).expect("blob").data, b"hello\n");
        assert!(fresh.find_tree(tree).is_ok());
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&path)
            .args(["fsck", "--full", "--no-dangling"])
            .output()
            .expect("git fsck");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The same objects give the same pack: writing again adds no file.
        persist(&path.join("objects"), &memory).expect("again");
        assert_eq!(
            std::fs::read_dir(path.join("objects/pack"))
                .expect("dir")
                .count(),
            packs.len()
        );
    }

    #[test]
    fn objects_of_every_size_share_one_compressor_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.git");
        gix::init_bare(&path).expect("init");
        let mut repo = gix::open(&path).expect("open");
        repo.objects.enable_object_memory();
        // Empty, tiny, larger than the scratch buffer compressed (noise) and repetitive.
        let mut noise = Vec::with_capacity(300_000);
        let mut x: u32 = 2_463_534_242;
        while noise.len() < 300_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let contents: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a: 1\n".to_vec(),
            noise,
            b"status: complete\n".repeat(20_000),
        ];
        let ids: Vec<ObjectId> = contents
            .iter()
            .map(|c| repo.write_blob(c).expect("blob").detach())
            .collect();
        let memory = repo.objects.take_object_memory().expect("memory");
        assert_eq!(persist(&path.join("objects"), &memory).expect("persist"), 4);
        let fresh = gix::open(&path).expect("reopen");
        for (id, content) in ids.iter().zip(&contents) {
            assert_eq!(&fresh.find_blob(*id).expect("blob").data, content);
        }
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&path)
            .args(["fsck", "--full", "--strict"])
            .output()
            .expect("git fsck");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn an_empty_memory_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            persist(dir.path(), &Storage::default()).expect("persist"),
            0
        );
        assert!(!dir.path().join("pack").exists());
    }
}
