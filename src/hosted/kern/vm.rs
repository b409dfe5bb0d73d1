//! VM objects: the pages behind buffer-cache buffers.
//!
//! Every vnode has a VM object: a sparse anonymous file (memfd) holding the
//! page contents, plus per-page validity bits (one bit per DEV_BSIZE chunk,
//! like `m->valid`) and wire counts. A buffer's `b_data` is a shared
//! mapping of its page range, so buffers of different sizes over the same
//! pages alias each other exactly as in the kernel, and page contents (and
//! validity) outlive the buffers: a later getblk() finds valid pages and
//! returns the buffer with B_CACHE set without any I/O.

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_int, c_uint, c_void};
use std::collections::HashMap;

use super::machine::{DEV_BSIZE, PAGE_MASK, PAGE_SIZE};

extern "C" {
    fn memfd_create(name: *const core::ffi::c_char, flags: c_uint) -> c_int;
    fn ftruncate(fd: c_int, len: i64) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
}

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
const FALLOC_FL_KEEP_SIZE: c_int = 1;
const FALLOC_FL_PUNCH_HOLE: c_int = 2;
const MFD_CLOEXEC: c_uint = 1;

/// All DEV_BSIZE chunks of a page valid.
pub(crate) const VM_PAGE_BITS_ALL: u8 = 0xff;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Page {
    pub valid: u8,
    pub wire: u32,
}

pub(crate) struct VmObject {
    fd: c_int,
    pub size: u64,
    pub pages: HashMap<u64, Page>,
}

/// A buffer's view of a page range.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapping {
    /// First page index.
    pub pindex: u64,
    pub npages: usize,
    /// Address of the first mapped page.
    pub base: usize,
}

impl Mapping {
    pub fn len(&self) -> usize {
        self.npages * PAGE_SIZE as usize
    }
}

/// Bits of `m->valid` covering [base, base+size) within one page.
pub(crate) fn page_bits(base: i64, size: i64) -> u8 {
    if size <= 0 {
        return 0;
    }
    let first = base / DEV_BSIZE;
    let last = (base + size - 1) / DEV_BSIZE;
    let mut bits = 0u8;
    for b in first..=last.min(7) {
        bits |= 1 << b;
    }
    bits
}

impl VmObject {
    pub fn new(name: &str, size: u64) -> VmObject {
        let cname = std::ffi::CString::new(format!("hosted-vm-{name}")).unwrap_or_default();
        // SAFETY: plain syscall with a valid C string.
        let fd = unsafe { memfd_create(cname.as_ptr(), MFD_CLOEXEC) };
        if fd < 0 {
            std::panic!("memfd_create failed: {}", std::io::Error::last_os_error());
        }
        let size = (size + PAGE_SIZE as u64 - 1) & !(PAGE_MASK as u64);
        // SAFETY: fd is the descriptor just created.
        if unsafe { ftruncate(fd, size as i64) } != 0 {
            std::panic!(
                "ftruncate of VM object failed: {}",
                std::io::Error::last_os_error()
            );
        }
        VmObject {
            fd,
            size,
            pages: HashMap::new(),
        }
    }

    /// Map and wire the pages covering [off, off+len). Returns the mapping
    /// and whether any page had to be newly allocated.
    pub fn map(&mut self, off: i64, len: i64) -> (Mapping, bool) {
        assert!(
            off >= 0,
            "hosted VM objects start at offset 0 (offset {off})"
        );
        let first = (off & !PAGE_MASK) as u64;
        let end = ((off + len.max(1) + PAGE_MASK) & !PAGE_MASK) as u64;
        assert!(
            end <= self.size,
            "buffer [{off:#x}, +{len:#x}) beyond the end of its VM object ({:#x})",
            self.size
        );
        let npages = ((end - first) / PAGE_SIZE as u64) as usize;
        // SAFETY: mapping a range of our own memfd; the kernel picks the
        // address.
        let p = unsafe {
            mmap(
                core::ptr::null_mut(),
                npages * PAGE_SIZE as usize,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                self.fd,
                first as i64,
            )
        };
        if p == MAP_FAILED {
            std::panic!(
                "mmap of VM object failed: {}",
                std::io::Error::last_os_error()
            );
        }
        let pindex = first / PAGE_SIZE as u64;
        let mut fresh = false;
        for i in 0..npages as u64 {
            let pg = self.pages.entry(pindex + i).or_insert_with(|| {
                fresh = true;
                Page::default()
            });
            pg.wire += 1;
        }
        (
            Mapping {
                pindex,
                npages,
                base: p as usize,
            },
            fresh,
        )
    }

    /// Unmap and unwire.
    pub fn unmap(&mut self, m: Mapping) {
        // SAFETY: `m` came from map() and is unmapped once.
        unsafe { munmap(m.base as *mut c_void, m.len()) };
        for i in 0..m.npages as u64 {
            if let Some(p) = self.pages.get_mut(&(m.pindex + i)) {
                p.wire = p.wire.saturating_sub(1);
            }
        }
    }

    fn for_range(off: i64, len: i64, mut f: impl FnMut(u64, u8)) {
        if len <= 0 {
            return;
        }
        let mut o = off;
        let end = off + len;
        while o < end {
            let pstart = o & !PAGE_MASK;
            let pend = (pstart + PAGE_SIZE).min(end);
            f((pstart / PAGE_SIZE) as u64, page_bits(o - pstart, pend - o));
            o = pend;
        }
    }

    /// Every DEV_BSIZE chunk of [off, off+len) valid.
    pub fn is_valid(&self, off: i64, len: i64) -> bool {
        let mut ok = true;
        Self::for_range(off, len, |p, bits| {
            let v = self.pages.get(&p).map_or(0, |pg| pg.valid);
            if v & bits != bits {
                ok = false;
            }
        });
        ok
    }

    pub fn set_valid(&mut self, off: i64, len: i64) {
        Self::for_range(off, len, |p, bits| {
            self.pages.entry(p).or_default().valid |= bits;
        });
    }

    pub fn set_invalid(&mut self, off: i64, len: i64) {
        Self::for_range(off, len, |p, bits| {
            if let Some(pg) = self.pages.get_mut(&p) {
                pg.valid &= !bits;
            }
        });
    }

    pub fn page_valid(&self, pindex: u64) -> u8 {
        self.pages.get(&pindex).map_or(0, |p| p.valid)
    }

    pub fn set_page_valid_bits(&mut self, pindex: u64, bits: u8) {
        self.pages.entry(pindex).or_default().valid |= bits;
    }

    /// Free every page no buffer has wired (contents and validity go).
    pub fn evict_unwired(&mut self) -> usize {
        let victims: Vec<u64> = self
            .pages
            .iter()
            .filter(|(_, p)| p.wire == 0)
            .map(|(&k, _)| k)
            .collect();
        for &k in &victims {
            self.pages.remove(&k);
            // SAFETY: punching a hole in our own memfd.
            unsafe {
                fallocate(
                    self.fd,
                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    (k * PAGE_SIZE as u64) as i64,
                    PAGE_SIZE,
                )
            };
        }
        victims.len()
    }
}

impl Drop for VmObject {
    fn drop(&mut self) {
        // SAFETY: closing our own descriptor once.
        unsafe { close(self.fd) };
    }
}
