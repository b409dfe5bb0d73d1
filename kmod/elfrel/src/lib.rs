//! Rewrites `R_X86_64_PLT32` relocations into `R_X86_64_PC32` in ELF64
//! x86-64 relocatable objects, either a single `.o` or every ELF member of an
//! `ar` archive.
//!
//! Why: LLVM (and recent GCC/binutils) mark calls to external functions with
//! `R_X86_64_PLT32` even in non-PIC code. A kld object is never linked into an
//! executable, so the DragonFly kernel linker resolves its relocations itself,
//! and older kernels only know `R_X86_64_PC32` for 32-bit PC-relative fixups.
//! Without a PLT the two compute the same value (`S + A - P`), so changing the
//! type field is all that is needed.
//!
//! Everything happens in a byte buffer: the relocation type lives in the low
//! 32 bits of `r_info`, so the rewrite never changes any size or offset and an
//! archive can be patched member by member without touching its headers or
//! its symbol index.

use std::fmt;

/// `R_X86_64_PC32`.
pub const R_X86_64_PC32: u32 = 2;
/// `R_X86_64_PLT32`.
pub const R_X86_64_PLT32: u32 = 4;

const ELFMAG: &[u8; 4] = b"\x7fELF";
const ELFCLASS32: u8 = 1;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_REL: u16 = 1;
const EM_X86_64: u16 = 62;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;
/// Compact relocations (LLVM `--crel`): a different, variable-length
/// encoding that this tool does not rewrite and old kernels cannot load.
const SHT_CREL: u32 = 0x4000_0014;
const SHN_XINDEX: u16 = 0xffff;
const EHDR_SIZE: usize = 64;
const SHDR_SIZE: usize = 64;
const RELA_SIZE: u64 = 24;
const REL_SIZE: u64 = 16;

const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
const AR_THIN_MAGIC: &[u8; 8] = b"!<thin>\n";
const AR_HDR_SIZE: usize = 60;

/// Why an input was refused. Nothing is written when any of these occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Neither an ELF file nor an `ar` archive.
    UnknownFormat,
    /// Thin archives only reference their members by path.
    ThinArchive,
    /// An ELF file, but 32-bit.
    Elf32,
    /// An ELF file with a class byte that is neither 32- nor 64-bit.
    BadClass(u8),
    /// Big-endian (or invalid) data encoding.
    NotLittleEndian(u8),
    /// Not `EM_X86_64`.
    NotX86_64(u16),
    /// Not `ET_REL`, e.g. an executable or shared object.
    NotRelocatable(u16),
    /// A structure points outside the file or has an impossible size.
    Malformed(String),
    /// Uses a relocation encoding this tool cannot rewrite.
    Unsupported(String),
    /// Error while processing one archive member.
    Member { name: String, error: Box<Error> },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownFormat => write!(f, "not an ELF object or ar archive"),
            Error::ThinArchive => write!(
                f,
                "thin ar archive: members live in separate files, rewrite those instead"
            ),
            Error::Elf32 => write!(f, "ELF32 object: only ELF64 x86-64 objects are supported"),
            Error::BadClass(c) => write!(f, "invalid ELF class {c}"),
            Error::NotLittleEndian(d) => write!(
                f,
                "ELF data encoding {d} is not little-endian: only x86-64 objects are supported"
            ),
            Error::NotX86_64(m) => {
                write!(f, "ELF machine {m} is not x86-64 (EM_X86_64 = {EM_X86_64})")
            }
            Error::NotRelocatable(t) => write!(
                f,
                "ELF type {t} is not a relocatable object (ET_REL = {ET_REL}); \
                 only .o files and archives of them can be rewritten"
            ),
            Error::Malformed(why) => write!(f, "malformed input: {why}"),
            Error::Unsupported(why) => write!(f, "unsupported input: {why}"),
            Error::Member { name, error } => write!(f, "archive member {name}: {error}"),
        }
    }
}

impl std::error::Error for Error {}

/// Relocations rewritten in one relocation section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionReport {
    /// Section name (`.rela.text...`), or `#index` when the name is unknown.
    pub name: String,
    /// Entries in the section.
    pub relocations: u64,
    /// Entries whose type changed from PLT32 to PC32.
    pub rewritten: u64,
}

/// Result for one ELF object (a file or an archive member).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectReport {
    /// Member name inside an archive; empty for a plain object file.
    pub name: String,
    /// Every REL/RELA section, including those with nothing to rewrite.
    pub sections: Vec<SectionReport>,
}

impl ObjectReport {
    /// PLT32 relocations turned into PC32 in this object.
    pub fn rewritten(&self) -> u64 {
        self.sections.iter().map(|s| s.rewritten).sum()
    }

    /// All REL/RELA entries of this object.
    pub fn relocations(&self) -> u64 {
        self.sections.iter().map(|s| s.relocations).sum()
    }
}

/// Result for a whole input file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// True when the input was an `ar` archive.
    pub archive: bool,
    /// One entry per ELF object processed.
    pub objects: Vec<ObjectReport>,
    /// Archive members that are not ELF objects (symbol index, name table,
    /// other files); they are left untouched.
    pub skipped_members: Vec<String>,
}

impl Report {
    /// PLT32 relocations turned into PC32 across the whole input.
    pub fn rewritten(&self) -> u64 {
        self.objects.iter().map(ObjectReport::rewritten).sum()
    }

    /// All REL/RELA entries seen.
    pub fn relocations(&self) -> u64 {
        self.objects.iter().map(ObjectReport::relocations).sum()
    }

    /// Relocation sections in which at least one entry changed.
    pub fn sections_changed(&self) -> usize {
        self.objects
            .iter()
            .flat_map(|o| o.sections.iter())
            .filter(|s| s.rewritten > 0)
            .count()
    }
}

/// Rewrites `buf` in place, whatever it holds (object or archive).
///
/// On error `buf` may be partly rewritten; callers must discard it (the CLI
/// never writes a buffer that produced an error).
pub fn rewrite(buf: &mut [u8]) -> Result<Report, Error> {
    if buf.starts_with(AR_MAGIC) {
        rewrite_archive(buf)
    } else if buf.starts_with(AR_THIN_MAGIC) {
        Err(Error::ThinArchive)
    } else if buf.starts_with(ELFMAG) {
        let obj = rewrite_object(buf)?;
        Ok(Report {
            archive: false,
            objects: vec![obj],
            skipped_members: Vec::new(),
        })
    } else {
        Err(Error::UnknownFormat)
    }
}

fn malformed(why: impl Into<String>) -> Error {
    Error::Malformed(why.into())
}

fn read_u16(buf: &[u8], off: usize) -> Result<u16, Error> {
    buf.get(off..off + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| malformed(format!("16-bit field at offset {off} is past the end")))
}

fn read_u32(buf: &[u8], off: usize) -> Result<u32, Error> {
    buf.get(off..off + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| malformed(format!("32-bit field at offset {off} is past the end")))
}

fn read_u64(buf: &[u8], off: usize) -> Result<u64, Error> {
    buf.get(off..off + 8)
        .map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
        .ok_or_else(|| malformed(format!("64-bit field at offset {off} is past the end")))
}

/// Checks that `[off, off + len)` lies inside a buffer of `total` bytes and
/// returns it as `usize`s.
fn span(off: u64, len: u64, total: usize, what: &str) -> Result<(usize, usize), Error> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| malformed(format!("{what}: offset overflow")))?;
    if end > total as u64 {
        return Err(malformed(format!(
            "{what} (bytes {off}..{end}) extends past the end of the object ({total} bytes)"
        )));
    }
    Ok((off as usize, end as usize))
}

/// One parsed section header, just the fields this tool needs.
struct Shdr {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

fn section_header(buf: &[u8], shoff: usize, index: usize) -> Result<Shdr, Error> {
    let base = shoff + index * SHDR_SIZE;
    Ok(Shdr {
        name: read_u32(buf, base)?,
        kind: read_u32(buf, base + 4)?,
        offset: read_u64(buf, base + 24)?,
        size: read_u64(buf, base + 32)?,
        link: read_u32(buf, base + 40)?,
        entsize: read_u64(buf, base + 56)?,
    })
}

/// Looks up a section name; falls back to `#index` for odd string tables so
/// that a reporting detail never makes the rewrite fail.
fn section_name(buf: &[u8], names: Option<&Shdr>, sh: &Shdr, index: usize) -> String {
    let fallback = || format!("#{index}");
    let Some(tab) = names else {
        return fallback();
    };
    let start = tab.offset.saturating_add(u64::from(sh.name));
    let end = tab.offset.saturating_add(tab.size).min(buf.len() as u64);
    if start >= end {
        return fallback();
    }
    let bytes = &buf[start as usize..end as usize];
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => fallback(),
    }
}

/// Validates the ELF header and rewrites every REL/RELA section of one
/// relocatable object held entirely in `buf`.
pub fn rewrite_object(buf: &mut [u8]) -> Result<ObjectReport, Error> {
    if !buf.starts_with(ELFMAG) {
        return Err(Error::UnknownFormat);
    }
    if buf.len() < EHDR_SIZE {
        // The class byte may already tell the user why this is no good.
        if buf.len() > 4 && buf[4] == ELFCLASS32 {
            return Err(Error::Elf32);
        }
        return Err(malformed(format!(
            "{} bytes is too short for an ELF64 header",
            buf.len()
        )));
    }
    match buf[4] {
        ELFCLASS64 => {}
        ELFCLASS32 => return Err(Error::Elf32),
        c => return Err(Error::BadClass(c)),
    }
    if buf[5] != ELFDATA2LSB {
        return Err(Error::NotLittleEndian(buf[5]));
    }
    let e_type = read_u16(buf, 16)?;
    let e_machine = read_u16(buf, 18)?;
    if e_machine != EM_X86_64 {
        return Err(Error::NotX86_64(e_machine));
    }
    if e_type != ET_REL {
        return Err(Error::NotRelocatable(e_type));
    }

    let shoff = read_u64(buf, 40)?;
    let shentsize = read_u16(buf, 58)?;
    let mut shnum = u64::from(read_u16(buf, 60)?);
    let mut shstrndx = u64::from(read_u16(buf, 62)?);
    if shoff == 0 {
        // No section table, hence no relocations.
        return Ok(ObjectReport::default());
    }
    if usize::from(shentsize) != SHDR_SIZE {
        return Err(malformed(format!(
            "section header entries are {shentsize} bytes, expected {SHDR_SIZE}"
        )));
    }
    span(shoff, SHDR_SIZE as u64, buf.len(), "section header table")?;
    // Objects with 0xff00 sections or more keep the real count and the
    // string table index in section 0.
    let sh0 = section_header(buf, shoff as usize, 0)?;
    if shnum == 0 {
        shnum = sh0.size;
    }
    if shstrndx == u64::from(SHN_XINDEX) {
        shstrndx = u64::from(sh0.link);
    }
    let table_len = shnum
        .checked_mul(SHDR_SIZE as u64)
        .ok_or_else(|| malformed("section count overflow"))?;
    let (shoff, _) = span(shoff, table_len, buf.len(), "section header table")?;
    let shnum = shnum as usize;

    let names = if shstrndx != 0 && shstrndx < shnum as u64 {
        Some(section_header(buf, shoff, shstrndx as usize)?)
    } else {
        None
    };

    let mut report = ObjectReport::default();
    for index in 1..shnum {
        let sh = section_header(buf, shoff, index)?;
        let entry = match sh.kind {
            SHT_RELA => RELA_SIZE,
            SHT_REL => REL_SIZE,
            SHT_CREL => {
                return Err(Error::Unsupported(format!(
                    "section {} uses compact (CREL) relocations",
                    section_name(buf, names.as_ref(), &sh, index)
                )))
            }
            _ => continue,
        };
        let name = section_name(buf, names.as_ref(), &sh, index);
        if sh.entsize != entry && sh.entsize != 0 {
            return Err(malformed(format!(
                "relocation section {name} has entry size {}, expected {entry}",
                sh.entsize
            )));
        }
        if sh.size % entry != 0 {
            return Err(malformed(format!(
                "relocation section {name} is {} bytes, not a multiple of {entry}",
                sh.size
            )));
        }
        let (start, end) = span(sh.offset, sh.size, buf.len(), &format!("section {name}"))?;
        let mut rewritten = 0;
        let mut relocations = 0;
        // In both REL and RELA entries r_info sits at offset 8 and the type is
        // its low 32 bits; the symbol index (high half) stays untouched.
        for rel in buf[start..end].chunks_exact_mut(entry as usize) {
            relocations += 1;
            let info = &mut rel[8..12];
            let kind = u32::from_le_bytes([info[0], info[1], info[2], info[3]]);
            if kind == R_X86_64_PLT32 {
                info.copy_from_slice(&R_X86_64_PC32.to_le_bytes());
                rewritten += 1;
            }
        }
        report.sections.push(SectionReport {
            name,
            relocations,
            rewritten,
        });
    }
    Ok(report)
}

/// Parses the decimal size field of an archive member header.
fn member_size(hdr: &[u8], at: usize) -> Result<usize, Error> {
    let text = std::str::from_utf8(&hdr[48..58])
        .map_err(|_| malformed(format!("archive member header at {at}: size is not text")))?;
    text.trim_end()
        .parse::<usize>()
        .map_err(|_| malformed(format!("archive member header at {at}: bad size {text:?}")))
}

/// Resolves a GNU `/offset` name through the `//` long-name table, where
/// entries end in `/\n`.
fn long_name(table: Option<&[u8]>, offset: &str, at: usize) -> Result<String, Error> {
    let table = table.ok_or_else(|| {
        malformed(format!(
            "archive member at {at} uses long name /{offset} but there is no // name table"
        ))
    })?;
    let start: usize = offset.parse().map_err(|_| {
        malformed(format!(
            "archive member at {at}: bad long-name offset {offset:?}"
        ))
    })?;
    let rest = table.get(start..).ok_or_else(|| {
        malformed(format!(
            "archive member at {at}: long-name offset {start} is past the name table"
        ))
    })?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let name = name.strip_suffix(b"/").unwrap_or(name);
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// Rewrites every ELF member of an `ar` archive (System V/GNU layout,
/// including the `//` long-name table; BSD `#1/len` names are understood
/// too). Headers, padding and the symbol index are left byte-for-byte alone.
pub fn rewrite_archive(buf: &mut [u8]) -> Result<Report, Error> {
    if !buf.starts_with(AR_MAGIC) {
        return Err(Error::UnknownFormat);
    }
    let mut report = Report {
        archive: true,
        ..Report::default()
    };
    // The name table is copied out because the member loop below needs
    // mutable access to other parts of the same buffer.
    let mut names: Option<Vec<u8>> = None;
    let mut at = AR_MAGIC.len();
    while at < buf.len() {
        // GNU ar pads members to even offsets with '\n'; some tools leave a
        // lone trailing newline after the last member.
        if buf.len() - at < AR_HDR_SIZE {
            if buf[at..].iter().all(|&b| b == b'\n') {
                break;
            }
            return Err(malformed(format!(
                "archive ends in a partial member header at offset {at}"
            )));
        }
        let hdr = &buf[at..at + AR_HDR_SIZE];
        if &hdr[58..60] != b"`\n" {
            return Err(malformed(format!(
                "archive member header at offset {at} lacks the `\\n terminator"
            )));
        }
        let raw_name = String::from_utf8_lossy(&hdr[..16]).trim_end().to_string();
        let size = member_size(hdr, at)?;
        let data_start = at + AR_HDR_SIZE;
        let data_end = data_start
            .checked_add(size)
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| {
                malformed(format!(
                    "archive member {raw_name:?} at offset {at} claims {size} bytes, past the end"
                ))
            })?;
        let next = data_end + (size & 1);

        let mut body = data_start;
        let name = if raw_name == "/" || raw_name == "/SYM64/" || raw_name.starts_with("__.SYMDEF")
        {
            report
                .skipped_members
                .push(format!("{raw_name} (symbol index)"));
            at = next;
            continue;
        } else if raw_name == "//" {
            names = Some(buf[data_start..data_end].to_vec());
            report
                .skipped_members
                .push("// (long-name table)".to_string());
            at = next;
            continue;
        } else if let Some(len) = raw_name.strip_prefix("#1/") {
            // BSD: the name is stored at the start of the member data.
            let len: usize = len.parse().map_err(|_| {
                malformed(format!(
                    "archive member at {at}: bad BSD name length {len:?}"
                ))
            })?;
            if len > size {
                return Err(malformed(format!(
                    "archive member at {at}: BSD name length {len} exceeds member size {size}"
                )));
            }
            body = data_start + len;
            let n = &buf[data_start..body];
            let n = &n[..n.iter().position(|&b| b == 0).unwrap_or(n.len())];
            String::from_utf8_lossy(n).into_owned()
        } else if let Some(off) = raw_name.strip_prefix('/') {
            long_name(names.as_deref(), off, at)?
        } else {
            raw_name.strip_suffix('/').unwrap_or(&raw_name).to_string()
        };

        let member = &mut buf[body..data_end];
        if member.starts_with(ELFMAG) {
            let mut obj = rewrite_object(member).map_err(|error| Error::Member {
                name: name.clone(),
                error: Box::new(error),
            })?;
            obj.name = name;
            report.objects.push(obj);
        } else {
            report.skipped_members.push(name);
        }
        at = next;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 relocatable object: null section, `.text`, one
    /// `.rela.text` with the given relocation types, `.shstrtab`.
    pub(crate) fn crafted_object(types: &[u32]) -> Vec<u8> {
        let shstrtab = b"\0.text\0.rela.text\0.shstrtab\0";
        let text = [0x90u8; 16];
        let mut rela = Vec::new();
        for (i, &t) in types.iter().enumerate() {
            rela.extend_from_slice(&(i as u64 * 4).to_le_bytes()); // r_offset
            let info = (7u64 << 32) | u64::from(t); // symbol 7, type t
            rela.extend_from_slice(&info.to_le_bytes());
            rela.extend_from_slice(&(-4i64).to_le_bytes()); // r_addend
        }
        let text_off = EHDR_SIZE;
        let rela_off = text_off + text.len();
        let str_off = rela_off + rela.len();
        let shoff = (str_off + shstrtab.len() + 7) & !7;
        let mut out = vec![0u8; shoff];
        out[..4].copy_from_slice(ELFMAG);
        out[4] = ELFCLASS64;
        out[5] = ELFDATA2LSB;
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&ET_REL.to_le_bytes());
        out[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
        out[52..54].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
        out[58..60].copy_from_slice(&(SHDR_SIZE as u16).to_le_bytes());
        out[60..62].copy_from_slice(&4u16.to_le_bytes());
        out[62..64].copy_from_slice(&3u16.to_le_bytes());
        out[text_off..rela_off].copy_from_slice(&text);
        out[rela_off..str_off].copy_from_slice(&rela);
        out[str_off..str_off + shstrtab.len()].copy_from_slice(shstrtab);
        let mut sh =
            |name: u32, kind: u32, off: usize, size: usize, link: u32, info: u32, ent: u64| {
                let mut h = [0u8; SHDR_SIZE];
                h[0..4].copy_from_slice(&name.to_le_bytes());
                h[4..8].copy_from_slice(&kind.to_le_bytes());
                h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
                h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
                h[40..44].copy_from_slice(&link.to_le_bytes());
                h[44..48].copy_from_slice(&info.to_le_bytes());
                h[56..64].copy_from_slice(&ent.to_le_bytes());
                out.extend_from_slice(&h);
            };
        sh(0, 0, 0, 0, 0, 0, 0);
        sh(1, 1, text_off, text.len(), 0, 0, 0);
        sh(7, SHT_RELA, rela_off, rela.len(), 0, 1, RELA_SIZE);
        sh(18, 3, str_off, shstrtab.len(), 0, 0, 0);
        out
    }

    fn rela_types(obj: &[u8]) -> Vec<u32> {
        let rela_off = EHDR_SIZE + 16;
        let n = (read_u64(
            obj,
            read_u64(obj, 40).unwrap() as usize + 2 * SHDR_SIZE + 32,
        )
        .unwrap()
            / RELA_SIZE) as usize;
        (0..n)
            .map(|i| read_u32(obj, rela_off + i * RELA_SIZE as usize + 8).unwrap())
            .collect()
    }

    #[test]
    fn rewrites_only_plt32() {
        let mut obj = crafted_object(&[4, 2, 1, 4, 11, 9]);
        let orig = obj.clone();
        let rep = rewrite(&mut obj).unwrap();
        assert!(!rep.archive);
        assert_eq!(rep.rewritten(), 2);
        assert_eq!(rep.relocations(), 6);
        assert_eq!(rep.objects[0].sections[0].name, ".rela.text");
        assert_eq!(rela_types(&obj), vec![2, 2, 1, 2, 11, 9]);
        // Exactly one byte per rewritten relocation changed.
        let diff = orig.iter().zip(&obj).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 2);
        // A second pass finds nothing left.
        let again = rewrite(&mut obj).unwrap();
        assert_eq!(again.rewritten(), 0);
    }

    #[test]
    fn refuses_other_inputs() {
        assert_eq!(
            rewrite(&mut b"hello world".to_vec()),
            Err(Error::UnknownFormat)
        );
        assert_eq!(
            rewrite(&mut b"!<thin>\nxx".to_vec()),
            Err(Error::ThinArchive)
        );

        let mut elf32 = crafted_object(&[4]);
        elf32[4] = ELFCLASS32;
        assert_eq!(rewrite(&mut elf32), Err(Error::Elf32));

        let mut be = crafted_object(&[4]);
        be[5] = 2;
        assert_eq!(rewrite(&mut be), Err(Error::NotLittleEndian(2)));

        let mut arm = crafted_object(&[4]);
        arm[18..20].copy_from_slice(&183u16.to_le_bytes());
        assert_eq!(rewrite(&mut arm), Err(Error::NotX86_64(183)));

        let mut exec = crafted_object(&[4]);
        exec[16..18].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(rewrite(&mut exec), Err(Error::NotRelocatable(2)));
        let msg = Error::NotRelocatable(2).to_string();
        assert!(msg.contains("not a relocatable object"), "{msg}");
    }

    #[test]
    fn refuses_truncated_objects() {
        let obj = crafted_object(&[4, 4]);
        // Cut into the section header table.
        let mut cut = obj[..obj.len() - 10].to_vec();
        assert!(matches!(rewrite(&mut cut), Err(Error::Malformed(_))));
        // Relocation section pointing past the end.
        let mut bad = obj.clone();
        let shoff = read_u64(&bad, 40).unwrap() as usize;
        let rela_hdr = shoff + 2 * SHDR_SIZE;
        bad[rela_hdr + 24..rela_hdr + 32].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = rewrite(&mut bad).unwrap_err();
        assert!(err.to_string().contains(".rela.text"), "{err}");
        // Header shorter than 64 bytes.
        assert!(matches!(
            rewrite(&mut obj[..20].to_vec()),
            Err(Error::Malformed(_))
        ));
    }

    fn ar_header(name: &str, size: usize) -> Vec<u8> {
        let h = format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644);
        assert_eq!(h.len(), AR_HDR_SIZE);
        h.into_bytes()
    }

    fn push_member(ar: &mut Vec<u8>, name: &str, data: &[u8]) {
        ar.extend(ar_header(name, data.len()));
        ar.extend_from_slice(data);
        if data.len() % 2 == 1 {
            ar.push(b'\n');
        }
    }

    #[test]
    fn rewrites_archive_members_with_long_names() {
        let a = crafted_object(&[4, 4, 2]);
        let b = crafted_object(&[1, 4]);
        let long_a = "a_member_name_longer_than_sixteen.o";
        let long_b = "another_rather_long_member_name.o";
        let table = format!("{long_a}/\n{long_b}/\n");
        let mut ar = AR_MAGIC.to_vec();
        push_member(&mut ar, "/", &[0, 0, 0, 0]);
        push_member(&mut ar, "//", table.as_bytes());
        push_member(&mut ar, "/0", &a);
        push_member(&mut ar, "odd.txt/", b"odd");
        push_member(&mut ar, &format!("/{}", long_a.len() + 2), &b);
        let orig = ar.clone();

        let rep = rewrite(&mut ar).unwrap();
        assert!(rep.archive);
        assert_eq!(rep.objects.len(), 2);
        assert_eq!(rep.objects[0].name, long_a);
        assert_eq!(rep.objects[1].name, long_b);
        assert_eq!(rep.objects[0].rewritten(), 2);
        assert_eq!(rep.objects[1].rewritten(), 1);
        assert_eq!(rep.rewritten(), 3);
        assert_eq!(rep.sections_changed(), 2);
        assert!(rep.skipped_members.iter().any(|m| m == "odd.txt"));
        assert_eq!(orig.len(), ar.len());
        let diff = orig.iter().zip(&ar).filter(|(x, y)| x != y).count();
        assert_eq!(diff, 3);
    }

    #[test]
    fn understands_bsd_names() {
        let obj = crafted_object(&[4]);
        let name = b"bsd_style_name.o\0\0\0\0";
        let mut data = name.to_vec();
        data.extend_from_slice(&obj);
        let mut ar = AR_MAGIC.to_vec();
        push_member(&mut ar, &format!("#1/{}", name.len()), &data);
        let rep = rewrite(&mut ar).unwrap();
        assert_eq!(rep.objects[0].name, "bsd_style_name.o");
        assert_eq!(rep.rewritten(), 1);
    }

    #[test]
    fn bad_archive_members_are_named() {
        let mut obj = crafted_object(&[4]);
        obj[18..20].copy_from_slice(&3u16.to_le_bytes());
        let mut ar = AR_MAGIC.to_vec();
        push_member(&mut ar, "i386.o/", &obj);
        let err = rewrite(&mut ar).unwrap_err();
        assert_eq!(
            err,
            Error::Member {
                name: "i386.o".into(),
                error: Box::new(Error::NotX86_64(3))
            }
        );
        assert!(err.to_string().starts_with("archive member i386.o: "));

        let mut short = AR_MAGIC.to_vec();
        push_member(&mut short, "x.o/", &crafted_object(&[4]));
        short.truncate(short.len() - 5);
        assert!(matches!(rewrite(&mut short), Err(Error::Malformed(_))));

        let mut missing_table = AR_MAGIC.to_vec();
        push_member(&mut missing_table, "/0", &crafted_object(&[4]));
        let err = rewrite(&mut missing_table).unwrap_err();
        assert!(err.to_string().contains("no // name table"), "{err}");
    }
}
