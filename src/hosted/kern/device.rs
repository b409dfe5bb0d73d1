//! Block devices: storage backed by memory or a file, with a volatile
//! write cache that only BUF_CMD_FLUSH makes stable, fault injection, and
//! statistics. Each device has a device vnode (`devvp`) in the machine; I/O
//! reaches it through vn_strategy() and completes on the disk thread.

use std::prelude::rust_2021::*;
use std::vec;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::sys::ffi;

use super::machine::{lock, Rng, PAGE_SIZE};

const PG: u64 = PAGE_SIZE as u64;

/// Which operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    Read,
    Write,
    Flush,
}

/// A fault-injection rule: requests of kind `op` that overlap
/// [`offset`, `offset + len`) (any request when `len == 0`) fail with
/// `error`, at most `count` times (forever when `None`).
#[derive(Clone, Debug)]
pub struct Fault {
    pub op: FaultOp,
    pub offset: u64,
    pub len: u64,
    pub count: Option<u32>,
    pub error: i32,
}

impl Fault {
    /// Fail the next `n` requests of kind `op` with EIO.
    pub fn next(op: FaultOp, n: u32) -> Fault {
        Fault {
            op,
            offset: 0,
            len: 0,
            count: Some(n),
            error: 5,
        }
    }
    /// Fail every request of kind `op` overlapping the range with EIO.
    pub fn at(op: FaultOp, offset: u64, len: u64) -> Fault {
        Fault {
            op,
            offset,
            len: len.max(1),
            count: None,
            error: 5,
        }
    }
    pub fn times(mut self, n: u32) -> Fault {
        self.count = Some(n);
        self
    }
    pub fn error(mut self, e: i32) -> Fault {
        self.error = e;
        self
    }
}

/// Per-device I/O statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevStats {
    pub reads: u64,
    pub writes: u64,
    pub flushes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub failed: u64,
}

enum Backing {
    Mem(HashMap<u64, Box<[u8]>>),
    File(File),
}

pub(crate) struct DevState {
    stable: Backing,
    /// Volatile write cache: page index -> full page image.
    cache: BTreeMap<u64, Box<[u8]>>,
    write_cache: bool,
    faults: Vec<Fault>,
    pub stats: DevStats,
}

pub(crate) struct DevInner {
    pub name: String,
    pub size: u64,
    pub st: Mutex<DevState>,
    /// (machine generation, vnode pointer) of the device vnode.
    pub vp: Mutex<(u64, usize)>,
}

/// A block device of the hosted machine. Cloning shares the device.
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DevInner>,
}

impl DevState {
    fn stable_page(&self, p: u64) -> Box<[u8]> {
        match &self.stable {
            Backing::Mem(m) => m
                .get(&p)
                .cloned()
                .unwrap_or_else(|| vec![0u8; PG as usize].into_boxed_slice()),
            Backing::File(f) => {
                let mut b = vec![0u8; PG as usize];
                let mut done = 0;
                while done < b.len() {
                    match f.read_at(&mut b[done..], p * PG + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) => std::panic!("device backing file read failed: {e}"),
                    }
                }
                b.into_boxed_slice()
            }
        }
    }

    fn put_stable_page(&mut self, p: u64, data: &[u8]) {
        match &mut self.stable {
            Backing::Mem(m) => {
                m.insert(p, data.to_vec().into_boxed_slice());
            }
            Backing::File(f) => f
                .write_all_at(data, p * PG)
                .unwrap_or_else(|e| std::panic!("device backing file write failed: {e}")),
        }
    }

    fn current_page(&self, p: u64) -> Box<[u8]> {
        match self.cache.get(&p) {
            Some(c) => c.clone(),
            None => self.stable_page(p),
        }
    }

    /// Read bytes as a read request would see them (cache over media).
    fn read(&self, off: u64, out: &mut [u8], stable_only: bool) {
        let mut done = 0usize;
        while done < out.len() {
            let o = off + done as u64;
            let p = o / PG;
            let po = (o % PG) as usize;
            let n = (PG as usize - po).min(out.len() - done);
            let page = if stable_only {
                self.stable_page(p)
            } else {
                self.current_page(p)
            };
            out[done..done + n].copy_from_slice(&page[po..po + n]);
            done += n;
        }
    }

    fn write(&mut self, off: u64, data: &[u8], to_stable: bool) {
        let mut done = 0usize;
        while done < data.len() {
            let o = off + done as u64;
            let p = o / PG;
            let po = (o % PG) as usize;
            let n = (PG as usize - po).min(data.len() - done);
            if to_stable {
                let mut page = self.stable_page(p);
                page[po..po + n].copy_from_slice(&data[done..done + n]);
                self.put_stable_page(p, &page);
                self.cache.remove(&p);
            } else {
                let mut page = self.current_page(p);
                page[po..po + n].copy_from_slice(&data[done..done + n]);
                self.cache.insert(p, page);
            }
            done += n;
        }
    }

    fn flush(&mut self) {
        let cache = std::mem::take(&mut self.cache);
        for (p, data) in cache {
            self.put_stable_page(p, &data);
        }
    }

    fn fault(&mut self, op: FaultOp, off: u64, len: u64) -> Option<i32> {
        let idx = self.faults.iter().position(|f| {
            f.op == op
                && (f.len == 0 || (off < f.offset + f.len && f.offset < off + len.max(1)))
                && f.count != Some(0)
        })?;
        let f = &mut self.faults[idx];
        let err = f.error;
        if let Some(c) = f.count.as_mut() {
            *c -= 1;
            if *c == 0 {
                self.faults.remove(idx);
            }
        }
        self.stats.failed += 1;
        Some(err)
    }
}

impl DevInner {
    /// Carry out one request. `data` is the transfer buffer (`len` bytes);
    /// `skip` lists byte ranges of it a read must leave alone (pages that
    /// were already valid, the kernel's bogus pages).
    ///
    /// # Safety
    /// `data` must be valid for `len` bytes of reads and writes.
    pub(crate) unsafe fn perform(
        &self,
        cmd: u32,
        off: i64,
        data: *mut u8,
        len: usize,
        skip: &[(usize, usize)],
    ) -> Result<(), i32> {
        let mut st = self.st.lock().unwrap_or_else(|e| e.into_inner());
        if cmd == super::bp::CMD_FLUSH {
            if let Some(e) = st.fault(FaultOp::Flush, 0, 0) {
                return Err(e);
            }
            st.stats.flushes += 1;
            st.flush();
            return Ok(());
        }
        if off < 0 || !(off as u64).is_multiple_of(512) || off as u64 + len as u64 > self.size {
            st.stats.failed += 1;
            return Err(22); // EINVAL, as the disk layer's bounds check
        }
        let off = off as u64;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the caller guarantees `data` covers `len` bytes and that
        // the buffer stays busy (owned by the I/O) while we touch it.
        let buf = unsafe { core::slice::from_raw_parts_mut(data, len) };
        match cmd {
            super::bp::CMD_READ => {
                if let Some(e) = st.fault(FaultOp::Read, off, len as u64) {
                    return Err(e);
                }
                st.stats.reads += 1;
                st.stats.bytes_read += len as u64;
                let mut tmp = vec![0u8; len];
                st.read(off, &mut tmp, false);
                let mut pos = 0usize;
                let mut skips: Vec<(usize, usize)> = skip.to_vec();
                skips.sort_unstable();
                for (s, e) in skips {
                    let s = s.min(len);
                    let e = e.min(len);
                    if s > pos {
                        buf[pos..s].copy_from_slice(&tmp[pos..s]);
                    }
                    pos = pos.max(e);
                }
                if pos < len {
                    buf[pos..].copy_from_slice(&tmp[pos..]);
                }
                Ok(())
            }
            super::bp::CMD_WRITE => {
                if let Some(e) = st.fault(FaultOp::Write, off, len as u64) {
                    return Err(e);
                }
                st.stats.writes += 1;
                st.stats.bytes_written += len as u64;
                let wc = st.write_cache;
                let data = buf.to_vec();
                st.write(off, &data, !wc);
                Ok(())
            }
            _ => Err(45), // EOPNOTSUPP
        }
    }
}

impl Device {
    fn new(name: &str, size: u64, stable: Backing) -> Device {
        let inner = Arc::new(DevInner {
            name: name.to_string(),
            size,
            st: Mutex::new(DevState {
                stable,
                cache: BTreeMap::new(),
                write_cache: true,
                faults: Vec::new(),
                stats: DevStats::default(),
            }),
            vp: Mutex::new((0, 0)),
        });
        let d = Device { inner };
        d.attach();
        d
    }

    /// A memory-backed device of `size` bytes (all zero), with its write
    /// cache enabled. Its device vnode lives in the current machine.
    pub fn memory(name: &str, size: u64) -> Device {
        Device::new(name, size, Backing::Mem(HashMap::new()))
    }

    /// A device backed by the file at `path` (created/extended to `size`).
    pub fn file(name: &str, path: &Path, size: u64) -> std::io::Result<Device> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if f.metadata()?.len() < size {
            f.set_len(size)?;
        }
        Ok(Device::new(name, size, Backing::File(f)))
    }

    fn attach(&self) {
        let mut g = lock();
        let vp = super::vnode::new_vnode_locked(
            &mut g,
            &self.inner.name,
            Some(self.inner.clone()),
            self.inner.size,
        );
        *self.inner.vp.lock().unwrap_or_else(|e| e.into_inner()) = (g.gen, vp as usize);
    }

    /// The device vnode (`devvp`). Re-attaches the device to the current
    /// machine if it was created under an earlier boot.
    pub fn vnode(&self) -> *mut ffi::vnode {
        let gen = lock().gen;
        let cur = *self.inner.vp.lock().unwrap_or_else(|e| e.into_inner());
        if cur.0 != gen {
            self.attach();
        }
        self.inner.vp.lock().unwrap_or_else(|e| e.into_inner()).1 as *mut ffi::vnode
    }

    pub fn size(&self) -> u64 {
        self.inner.size
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn st(&self) -> std::sync::MutexGuard<'_, DevState> {
        self.inner.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is on stable media (survives a crash).
    pub fn read_stable(&self, off: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.st().read(off, &mut v, true);
        v
    }

    /// What a read request would return now (write cache over media).
    pub fn read_current(&self, off: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.st().read(off, &mut v, false);
        v
    }

    /// Write straight to stable media (test setup, e.g. formatting).
    pub fn write_stable(&self, off: u64, data: &[u8]) {
        self.st().write(off, data, true);
    }

    /// Enable or disable the volatile write cache (disabled: writes are
    /// stable as soon as they complete).
    pub fn set_write_cache(&self, on: bool) {
        let mut st = self.st();
        st.write_cache = on;
        if !on {
            st.flush();
        }
    }

    /// Byte ranges (page granular) currently only in the volatile cache.
    pub fn cached_ranges(&self) -> Vec<(u64, u64)> {
        self.st().cache.keys().map(|&p| (p * PG, PG)).collect()
    }

    pub fn cache_is_empty(&self) -> bool {
        self.st().cache.is_empty()
    }

    /// Drain the write cache to media (what BUF_CMD_FLUSH does).
    pub fn flush_cache(&self) {
        self.st().flush();
    }

    /// Power loss: everything only in the write cache is lost.
    pub fn crash(&self) {
        self.st().cache.clear();
    }

    /// Power loss where the drive had already written back a random
    /// (seeded) subset of its cache pages.
    pub fn crash_partial(&self, seed: u64, keep_per_mille: u32) {
        let mut st = self.st();
        let mut rng = Rng::new(seed);
        let cache = std::mem::take(&mut st.cache);
        for (p, data) in cache {
            if (rng.below(1000) as u32) < keep_per_mille {
                st.put_stable_page(p, &data);
            }
        }
    }

    pub fn add_fault(&self, f: Fault) {
        self.st().faults.push(f);
    }

    pub fn clear_faults(&self) {
        self.st().faults.clear();
    }

    pub fn stats(&self) -> DevStats {
        self.st().stats
    }
}
