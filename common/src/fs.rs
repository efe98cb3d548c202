//! Writing files so that a reader never sees half of one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, with file mode `mode` (e.g. `0o600` for credentials).
/// With `backup`, an existing file is first copied to `PATH.bak`.
///
/// # Errors
/// Any I/O error of creating, writing, syncing, copying or renaming; the
/// temporary file is removed when the write fails.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32, backup: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".geowp-tmp");
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if backup && path.exists() {
        let mut bak = path.as_os_str().to_owned();
        bak.push(".bak");
        std::fs::copy(path, PathBuf::from(bak))?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_mode_and_keeps_a_backup() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kubeconfig");
        atomic_write(&p, b"one", 0o600, true).unwrap();
        assert!(!d.path().join("kubeconfig.bak").exists());
        atomic_write(&p, b"two", 0o600, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read(d.path().join("kubeconfig.bak")).unwrap(),
            b"one"
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(atomic_write(&d.path().join("no/such/dir"), b"x", 0o600, false).is_err());
    }
}
