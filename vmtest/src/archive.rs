//! Two tiny archive writers, both std-only:
//!
//! * [`TarWriter`] writes a POSIX ustar stream. The harness puts it on a raw
//!   disk image so the guest can unpack it with `tar -xf /dev/vbdN`: ustar is
//!   read by every tar a DragonFly 4.x base system has (bsdtar), needs no
//!   file system driver on either side and survives trailing zero padding.
//! * [`CpioWriter`] writes the SVR4 "newc" format that Linux expects for an
//!   initramfs; only the stand-in guest of the integration test uses it.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

const TAR_BLOCK: usize = 512;

/// Writes a ustar archive entry by entry into any [`Write`].
pub struct TarWriter<W: Write> {
    out: W,
    written: u64,
    mtime: u64,
}

/// Splits `path` into the ustar (prefix, name) pair, or `None` when it does
/// not fit (name <= 100 bytes, prefix <= 155 bytes, split at a '/').
fn ustar_split(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // Try the split points from the right so the name part is as long as it
    // may be; the prefix must not exceed 155 bytes.
    for (i, b) in path.bytes().enumerate().rev() {
        if b != b'/' {
            continue;
        }
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if name.len() > 100 {
            return None;
        }
        if prefix.len() <= 155 && !name.is_empty() {
            return Some((prefix, name));
        }
    }
    None
}

fn put_octal(field: &mut [u8], value: u64) -> io::Result<()> {
    // The field holds len-1 octal digits and a terminating NUL.
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("value {value} does not fit a {digits}-digit tar field"),
        ));
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        TarWriter {
            out,
            written: 0,
            mtime,
        }
    }

    /// Bytes written so far (always a multiple of 512).
    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    fn header(&mut self, path: &str, mode: u32, size: u64, typeflag: u8) -> io::Result<()> {
        let (prefix, name) = ustar_split(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("path too long for ustar: {path}"),
            )
        })?;
        let mut h = [0u8; TAR_BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        put_octal(&mut h[100..108], u64::from(mode & 0o7777))?;
        put_octal(&mut h[108..116], 0)?; // uid: root
        put_octal(&mut h[116..124], 0)?; // gid: wheel
        put_octal(&mut h[124..136], size)?;
        put_octal(&mut h[136..148], self.mtime)?;
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..302].copy_from_slice(b"wheel");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        // The checksum is computed with its own field read as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        self.out.write_all(&h)?;
        self.written += TAR_BLOCK as u64;
        Ok(())
    }

    /// Adds a directory entry (`path` without trailing slash).
    pub fn add_dir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        self.header(&format!("{}/", path.trim_end_matches('/')), mode, 0, b'5')
    }

    /// Adds a regular file with the given contents.
    pub fn add_file(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.header(path, mode, data.len() as u64, b'0')?;
        self.out.write_all(data)?;
        let pad = (TAR_BLOCK - data.len() % TAR_BLOCK) % TAR_BLOCK;
        self.out.write_all(&[0u8; TAR_BLOCK][..pad])?;
        self.written += (data.len() + pad) as u64;
        Ok(())
    }

    /// Adds the host file `src` as `path`, keeping its permission bits.
    pub fn add_host_file(&mut self, path: &str, src: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let data = fs::read(src)?;
        let mode = fs::metadata(src)?.permissions().mode();
        self.add_file(path, mode, &data)
    }

    /// Adds the host directory `src` recursively under `path`. Entries whose
    /// file name `skip` accepts are left out (build outputs, VCS data).
    /// Symbolic links are followed; special files are skipped.
    pub fn add_host_tree(
        &mut self,
        path: &str,
        src: &Path,
        skip: &dyn Fn(&str) -> bool,
    ) -> io::Result<()> {
        self.add_dir(path, 0o755)?;
        let mut entries: Vec<_> = fs::read_dir(src)?.collect::<Result<_, _>>()?;
        // Sorted so the payload is reproducible.
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if skip(&name) {
                continue;
            }
            let child = format!("{path}/{name}");
            let meta = fs::metadata(e.path())?;
            if meta.is_dir() {
                self.add_host_tree(&child, &e.path(), skip)?;
            } else if meta.is_file() {
                self.add_host_file(&child, &e.path())?;
            }
        }
        Ok(())
    }

    /// Writes the two zero blocks that end an archive and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; TAR_BLOCK * 2])?;
        self.written += (TAR_BLOCK * 2) as u64;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a cpio "newc" archive (the initramfs format of Linux).
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    fn pad4(&mut self) -> io::Result<()> {
        let pad = ((4 - self.written % 4) % 4) as usize;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.written += pad as u64;
        Ok(())
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        // Fields: magic, ino, mode, uid, gid, nlink, mtime, filesize,
        // devmajor, devminor, rdevmajor, rdevminor, namesize, check.
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.written += (header.len() + name.len() + 1) as u64;
        self.pad4()?;
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        self.pad4()
    }

    pub fn add_dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.entry(name, 0o040000 | (perm & 0o7777), &[])
    }

    pub fn add_file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, 0o100000 | (perm & 0o7777), data)
    }

    pub fn add_symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, 0o120777, target.as_bytes())
    }

    /// Writes the `TRAILER!!!` entry and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal ustar reader for the round trip: (path, typeflag, data).
    fn read_tar(buf: &[u8]) -> Vec<(String, u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0;
        while off + TAR_BLOCK <= buf.len() {
            let h = &buf[off..off + TAR_BLOCK];
            if h.iter().all(|&b| b == 0) {
                break;
            }
            let cstr = |s: &[u8]| {
                String::from_utf8(s.iter().take_while(|&&b| b != 0).copied().collect()).unwrap()
            };
            let name = cstr(&h[0..100]);
            let prefix = cstr(&h[345..500]);
            let size = u64::from_str_radix(cstr(&h[124..136]).trim(), 8).unwrap() as usize;
            let sum = u32::from_str_radix(cstr(&h[148..154]).trim(), 8).unwrap();
            let mut copy = h.to_vec();
            copy[148..156].copy_from_slice(b"        ");
            assert_eq!(
                sum,
                copy.iter().map(|&b| u32::from(b)).sum::<u32>(),
                "checksum of {name}"
            );
            assert_eq!(&h[257..263], b"ustar\0");
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            off += TAR_BLOCK;
            out.push((path, h[156], buf[off..off + size].to_vec()));
            off += size.div_ceil(TAR_BLOCK) * TAR_BLOCK;
        }
        out
    }

    #[test]
    fn tar_round_trip_and_block_alignment() {
        let mut t = TarWriter::new(Vec::new());
        t.add_dir("p", 0o755).unwrap();
        t.add_file("p/a.txt", 0o644, b"hello\n").unwrap();
        t.add_file("p/empty", 0o600, b"").unwrap();
        let long = format!("p/{}/{}", "d".repeat(120), "f".repeat(90));
        t.add_file(&long, 0o644, &[7u8; 1000]).unwrap();
        assert_eq!(t.len() % 512, 0);
        let buf = t.finish().unwrap();
        assert_eq!(buf.len() % 512, 0);
        let entries = read_tar(&buf);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0], ("p/".to_string(), b'5', vec![]));
        assert_eq!(
            entries[1],
            ("p/a.txt".to_string(), b'0', b"hello\n".to_vec())
        );
        assert_eq!(entries[2].2.len(), 0);
        assert_eq!(entries[3].0, long);
        assert_eq!(entries[3].2, vec![7u8; 1000]);
    }

    #[test]
    fn tar_rejects_unsplittable_paths() {
        let mut t = TarWriter::new(Vec::new());
        assert!(t.add_file(&"x".repeat(101), 0o644, b"").is_err());
        assert!(t
            .add_file(&format!("{}/f", "y".repeat(200)), 0o644, b"")
            .is_err());
    }

    #[test]
    fn tar_is_read_by_host_tar_when_present() {
        let dir = std::env::temp_dir().join(format!("vmtest-tar-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut t = TarWriter::new(Vec::new());
        t.add_dir("top", 0o755).unwrap();
        t.add_file("top/run.sh", 0o755, b"#!/bin/sh\necho ok\n")
            .unwrap();
        let mut buf = t.finish().unwrap();
        // Trailing zeros stand for the rest of the raw disk image.
        buf.resize(buf.len() + 64 * 1024, 0);
        let img = dir.join("payload.img");
        fs::write(&img, &buf).unwrap();
        let status = match std::process::Command::new("tar")
            .arg("-xf")
            .arg(&img)
            .arg("-C")
            .arg(&dir)
            .status()
        {
            Ok(s) => s,
            Err(_) => {
                eprintln!("tar not installed; host cross-check skipped");
                return;
            }
        };
        assert!(status.success());
        let data = fs::read(dir.join("top/run.sh")).unwrap();
        assert_eq!(data, b"#!/bin/sh\necho ok\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("top/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cpio_newc_layout() {
        let mut c = CpioWriter::new(Vec::new());
        c.add_dir("bin", 0o755).unwrap();
        c.add_file("init", 0o755, b"#!/bin/sh\n").unwrap();
        c.add_symlink("bin/sh", "busybox").unwrap();
        let buf = c.finish().unwrap();
        assert_eq!(buf.len() % 4, 0);
        // Walk the entries back.
        let mut off = 0;
        let mut names = Vec::new();
        loop {
            let h = std::str::from_utf8(&buf[off..off + 110]).unwrap();
            assert_eq!(&h[..6], "070701");
            let field = |i: usize| usize::from_str_radix(&h[6 + i * 8..14 + i * 8], 16).unwrap();
            let (mode, size, namesize) = (field(1), field(6), field(11));
            let name = std::str::from_utf8(&buf[off + 110..off + 110 + namesize - 1]).unwrap();
            let data_off = (off + 110 + namesize).div_ceil(4) * 4;
            let data = &buf[data_off..data_off + size];
            names.push((name.to_string(), mode, data.to_vec()));
            off = (data_off + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                break;
            }
        }
        assert_eq!(off, buf.len());
        assert_eq!(names[0], ("bin".into(), 0o040755, vec![]));
        assert_eq!(names[1], ("init".into(), 0o100755, b"#!/bin/sh\n".to_vec()));
        assert_eq!(names[2], ("bin/sh".into(), 0o120777, b"busybox".to_vec()));
    }
}
