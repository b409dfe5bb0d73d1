//! A HAMMER mount over hosted devices: building one (the formatting
//! newfs_hammer does plus the setup hammer_vfs_mount / hammer_install_volume
//! do), `hammer_critical_error`, the workload helpers tests drive the I/O
//! layer with, and unmount-style teardown.
//!
//! # Layout
//!
//! Each volume is a device of `vol_buf_end` bytes: the 16K volume header
//! at offset 0, a boot area and a memory-log area (unused, as on a real
//! volume), then from `vol_buf_beg` the zone-2 buffer space, a whole number
//! of 8MB big-blocks. On volume 0 the big-blocks are assigned:
//!
//! | big-block | use |
//! |---|---|
//! | 0 | freemap (reserved, not used by the hosted model) |
//! | 1 .. 1+u | UNDO FIFO (`vol0_undo_array`, u = undo big-blocks) |
//! | then | one each: B-Tree, meta, large-data, small-data |
//!
//! Other volumes hold large-data and small-data big-blocks. The blockmap
//! zones are direct-mapped (see [`blockmap`](super::blockmap)), so a
//! zone-X offset names the zone-2 big-block of the same number.

use core::ffi::{c_char, c_int, c_void};
use core::mem::{offset_of, size_of};
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use std::boxed::Box;
use std::ffi::CString;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::globals::HAMMER_COUNT_VOLUMES;
use super::ioimpl::{current, IoImpl};
use super::lock::{self, hammer_lock_sh, hammer_unlock};
pub use super::ntrace::hammer_critical_error;
use super::objects;
use super::off::{self, BUFSIZE, LARGEBLOCK_SIZE64};
use super::ondisk::{
    self, hammer_get_root_volume, hammer_get_volume, hammer_rel_buffer, hammer_rel_volume,
};
use super::queue::tailq_init;
use super::trees::{BufTree, InoTree, NodTree, VolTree};
use super::undo::hammer_clear_undo_history;
use super::{kassert, kprint};
use crate::hosted::kern::{trace, Device};
use crate::rbtree::hammer_mod::ModTree;
use crate::sys::ffi;

/// `HAMMER_VOL_VERSION_DEFAULT`: what newfs_hammer formats.
pub const VOL_VERSION_DEFAULT: u32 = 6;

/// The zones a workload addresses buffers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// B-Tree nodes (zone 8, meta-data buffers).
    Btree,
    /// Inodes, directory entries (zone 9, meta-data buffers).
    Meta,
    /// Large file data (zone 10, data buffers).
    LargeData,
    /// Small file data (zone 11, data buffers).
    SmallData,
    /// The UNDO FIFO (zone 3, undo buffers).
    Undo,
}

impl Zone {
    /// The zone index (`HAMMER_ZONE_*_INDEX`).
    pub fn index(self) -> i32 {
        match self {
            Zone::Btree => ffi::HAMMER_ZONE_BTREE_INDEX,
            Zone::Meta => ffi::HAMMER_ZONE_META_INDEX,
            Zone::LargeData => ffi::HAMMER_ZONE_LARGE_DATA_INDEX,
            Zone::SmallData => ffi::HAMMER_ZONE_SMALL_DATA_INDEX,
            Zone::Undo => ffi::HAMMER_ZONE_UNDO_INDEX,
        }
    }

    /// The kind of `hammer_io` the zone's buffers are.
    pub fn io_type(self) -> ffi::hammer_io_type {
        match self {
            Zone::Btree | Zone::Meta => ffi::HAMMER_STRUCTURE_META_BUFFER,
            Zone::LargeData | Zone::SmallData => ffi::HAMMER_STRUCTURE_DATA_BUFFER,
            Zone::Undo => ffi::HAMMER_STRUCTURE_UNDO_BUFFER,
        }
    }
}

/// Where each volume's areas are.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// `vol_bot_beg`
    pub bot_beg: u64,
    /// `vol_mem_beg`
    pub mem_beg: u64,
    /// `vol_buf_beg`
    pub buf_beg: u64,
    /// Big-blocks of zone-2 space per volume.
    pub bigblocks: u64,
    /// Big-blocks of UNDO FIFO (on volume 0).
    pub undo_bigblocks: u64,
}

impl Layout {
    /// `vol_buf_end`, also the device size.
    pub fn buf_end(&self) -> u64 {
        self.buf_beg + self.bigblocks * LARGEBLOCK_SIZE64
    }

    /// Zone-2 big-block number of `zone`'s big-block on volume `vol_no`.
    pub fn bigblock_of(&self, zone: Zone, vol_no: i32) -> u64 {
        if vol_no == 0 {
            let first = 1 + self.undo_bigblocks;
            match zone {
                Zone::Undo => 1,
                Zone::Btree => first,
                Zone::Meta => first + 1,
                Zone::LargeData => first + 2,
                Zone::SmallData => first + 3,
            }
        } else {
            match zone {
                Zone::LargeData => 0,
                Zone::SmallData => 1,
                _ => panic!("zone {zone:?} only lives on volume 0"),
            }
        }
    }
}

/// Builds a [`Mount`].
#[derive(Clone)]
pub struct MountBuilder {
    nvolumes: usize,
    bigblocks: Option<u64>,
    undo_bigblocks: u64,
    version: u32,
    devices: Vec<Device>,
    format: bool,
    imp: Option<IoImpl>,
    name: String,
}

impl Default for MountBuilder {
    fn default() -> Self {
        MountBuilder {
            nvolumes: 1,
            bigblocks: None,
            undo_bigblocks: 1,
            version: VOL_VERSION_DEFAULT,
            devices: Vec::new(),
            format: true,
            imp: None,
            name: String::from("hammer"),
        }
    }
}

impl MountBuilder {
    /// A single-volume mount with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of volumes (1..=256).
    pub fn volumes(mut self, n: usize) -> Self {
        assert!((1..=ffi::HAMMER_MAX_VOLUMES as usize).contains(&n));
        self.nvolumes = n;
        self
    }

    /// Big-blocks of zone-2 space per volume (at least what volume 0's
    /// layout needs).
    pub fn bigblocks(mut self, n: u64) -> Self {
        self.bigblocks = Some(n);
        self
    }

    /// Big-blocks of UNDO FIFO (1..=128).
    pub fn undo_bigblocks(mut self, n: u64) -> Self {
        assert!((1..=ffi::HAMMER_UNDO_LAYER2 as u64).contains(&n));
        self.undo_bigblocks = n;
        self
    }

    /// HAMMER version of the volumes (4+ uses the 512-byte UNDO layout,
    /// which is the only one the hosted UNDO code writes).
    pub fn version(mut self, v: u32) -> Self {
        self.version = v;
        self
    }

    /// Mount existing devices instead of creating memory devices; with
    /// `format == false` their volume headers are used as found (a
    /// remount after a crash, say).
    pub fn devices(mut self, devs: Vec<Device>, format: bool) -> Self {
        self.nvolumes = devs.len();
        self.devices = devs;
        self.format = format;
        self
    }

    /// The I/O implementation to install (default: the current one).
    pub fn implementation(mut self, imp: IoImpl) -> Self {
        self.imp = Some(imp);
        self
    }

    /// Name prefix of the devices.
    pub fn name(mut self, name: &str) -> Self {
        self.name = String::from(name);
        self
    }

    fn layout(&self) -> Layout {
        let need = 1 + self.undo_bigblocks + 4;
        let bigblocks = self.bigblocks.unwrap_or(need).max(need);
        // As newfs_hammer lays it out: header, boot area, memory log area,
        // then buffer space, every area a whole number of 16K buffers.
        let bot_beg = 2 * BUFSIZE;
        let mem_beg = bot_beg + 16 * BUFSIZE;
        let buf_beg = mem_beg + 16 * BUFSIZE;
        Layout {
            bot_beg,
            mem_beg,
            buf_beg,
            bigblocks,
            undo_bigblocks: self.undo_bigblocks,
        }
    }

    /// Formats (unless told not to) and mounts. The hosted machine must be
    /// booted; the I/O implementation given (or the current one) is
    /// installed.
    pub fn build(self) -> Mount {
        if let Some(imp) = self.imp {
            imp.install();
        }
        let imp = current();
        let layout = self.layout();
        let devices: Vec<Device> = if self.devices.is_empty() {
            (0..self.nvolumes)
                .map(|i| Device::memory(&format!("{}{}", self.name, i), layout.buf_end()))
                .collect()
        } else {
            self.devices.clone()
        };
        if self.format {
            let fsid: [u8; 16] = *b"hosted-hammer-fs";
            for (i, d) in devices.iter().enumerate() {
                format_volume(
                    d,
                    i as i32,
                    devices.len() as i32,
                    &layout,
                    self.version,
                    fsid,
                );
            }
        }
        // SAFETY: a fresh mount structure; mount_volumes only touches it
        // and the devices' vnodes.
        let hmp = unsafe { new_hmp(self.version as c_int) };
        let mut m = Mount {
            hmp,
            devices,
            layout,
            imp,
            unmounted: false,
            vol_names: Vec::new(),
        };
        m.install_volumes();
        m
    }
}

/// The bytes of a volume header as newfs_hammer would write it.
fn format_volume(
    dev: &Device,
    vol_no: i32,
    vol_count: i32,
    l: &Layout,
    version: u32,
    fsid: [u8; 16],
) {
    let mut hdr = ffi::hammer_volume_ondisk {
        vol_signature: ffi::HAMMER_FSBUF_VOLUME,
        vol_bot_beg: l.bot_beg as i64,
        vol_mem_beg: l.mem_beg as i64,
        vol_buf_beg: l.buf_beg as i64,
        vol_buf_end: l.buf_end() as i64,
        ..Default::default()
    };
    // SAFETY: uuid_t is 16 plain bytes in both headers.
    unsafe {
        core::ptr::copy_nonoverlapping(fsid.as_ptr(), addr_of_mut!(hdr.vol_fsid) as *mut u8, 16);
    }
    for (i, b) in dev.name().bytes().take(hdr.vol_name.len() - 1).enumerate() {
        hdr.vol_name[i] = b as c_char;
    }
    hdr.vol_no = vol_no;
    hdr.vol_count = vol_count;
    hdr.vol_version = version;
    hdr.vol_flags = ffi::HAMMER_VOLF_VALID as u32;
    hdr.vol_rootvol = 0;
    hdr.vol_blocksize = ffi::HAMMER_BUFSIZE;
    hdr.vol_nblocks = (l.bigblocks * LARGEBLOCK_SIZE64 / BUFSIZE) as i64;
    if vol_no == 0 {
        hdr.vol0_stat_bigblocks = l.bigblocks as i64;
        hdr.vol0_next_tid = 0x0000_0001_0000_0000;
        for zone in 0..ffi::HAMMER_MAX_ZONES as usize {
            let bm = &mut hdr.vol0_blockmap[zone];
            let z = zone as i32;
            if z == ffi::HAMMER_ZONE_FREEMAP_INDEX {
                bm.phys_offset = off::encode_raw_buffer(0, 0);
                bm.first_offset = off::zone_encode(z, 0);
                bm.next_offset = off::zone_encode(z, 0);
                bm.alloc_offset = off::zone_encode(z, LARGEBLOCK_SIZE64);
            } else if z == ffi::HAMMER_ZONE_UNDO_INDEX {
                bm.first_offset = off::zone_encode(z, 0);
                bm.next_offset = off::zone_encode(z, 0);
                bm.alloc_offset = off::zone_encode(z, l.undo_bigblocks * LARGEBLOCK_SIZE64);
            } else if z >= ffi::HAMMER_ZONE_BTREE_INDEX {
                bm.phys_offset = off::encode_raw_buffer(0, 0);
                bm.next_offset = off::zone_encode(z, 0);
                bm.alloc_offset = off::zone_encode(z, 0);
            }
            crc_set_blockmap(bm);
        }
        for i in 0..l.undo_bigblocks as usize {
            hdr.vol0_undo_array[i] = off::encode_raw_buffer(0, (1 + i as u64) * LARGEBLOCK_SIZE64);
        }
        for i in l.undo_bigblocks as usize..ffi::HAMMER_UNDO_LAYER2 as usize {
            hdr.vol0_undo_array[i] = u64::MAX;
        }
    }
    crc_set_volume(&mut hdr);
    let mut block = std::vec![0u8; ffi::HAMMER_BUFSIZE as usize];
    // SAFETY: the header is plain data smaller than a HAMMER buffer.
    unsafe {
        core::ptr::copy_nonoverlapping(
            addr_of_mut!(hdr) as *const u8,
            block.as_mut_ptr(),
            size_of::<ffi::hammer_volume_ondisk>(),
        );
    }
    dev.write_stable(0, &block);
}

/// `hammer_crc_set_blockmap`.
pub fn crc_set_blockmap(bm: &mut ffi::hammer_blockmap) {
    let n = offset_of!(ffi::hammer_blockmap, entry_crc);
    // SAFETY: the first `n` bytes of the struct are readable.
    bm.entry_crc = unsafe { ffi::crc32(bm as *const _ as *const c_void, n) };
}

/// `hammer_crc_set_volume`: the CRC covers the header except the CRC
/// field itself.
pub fn crc_set_volume(v: &mut ffi::hammer_volume_ondisk) {
    let n1 = offset_of!(ffi::hammer_volume_ondisk, vol_crc);
    let n2 = size_of::<ffi::hammer_volume_ondisk>() - n1 - size_of::<ffi::hammer_crc_t>();
    let base = v as *const _ as *const u8;
    // SAFETY: both ranges lie inside the header.
    v.vol_crc = unsafe {
        ffi::crc32(base as *const c_void, n1)
            ^ ffi::crc32(
                base.add(n1 + size_of::<ffi::hammer_crc_t>()) as *const c_void,
                n2,
            )
    };
}

/// Allocates and initialises a `hammer_mount` the way hammer_vfs_mount
/// does before installing volumes: trees, lists, tokens, and the locks
/// that are always referenced.
///
/// # Safety
///
/// None beyond the allocation being used as a mount afterwards.
unsafe fn new_hmp(version: c_int) -> ffi::hammer_mount_t {
    // SAFETY: every field of the C struct is valid all-zero; the list
    // heads and tokens are initialised in place after boxing, so their
    // self-references stay valid.
    unsafe {
        let hmp = Box::into_raw(Box::<ffi::hammer_mount>::new_zeroed().assume_init());
        InoTree::init(addr_of_mut!((*hmp).rb_inos_root));
        VolTree::init(addr_of_mut!((*hmp).rb_vols_root));
        BufTree::init(addr_of_mut!((*hmp).rb_bufs_root));
        NodTree::init(addr_of_mut!((*hmp).rb_nods_root));
        for root in [
            addr_of_mut!((*hmp).volu_root),
            addr_of_mut!((*hmp).undo_root),
            addr_of_mut!((*hmp).data_root),
            addr_of_mut!((*hmp).meta_root),
            addr_of_mut!((*hmp).lose_root),
        ] {
            ModTree::init(root);
        }
        tailq_init!(addr_of_mut!((*hmp).iorun_list));
        tailq_init!(addr_of_mut!((*hmp).delay_list));
        tailq_init!(addr_of_mut!((*hmp).flush_group_list));
        tailq_init!(addr_of_mut!((*hmp).objid_cache_list));
        tailq_init!(addr_of_mut!((*hmp).dedup_lru_list));
        tailq_init!(addr_of_mut!((*hmp).reclaim_list));
        tailq_init!(addr_of_mut!((*hmp).flusher.run_list));
        tailq_init!(addr_of_mut!((*hmp).flusher.ready_list));
        hammer_clear_undo_history(hmp);
        super::kcall::lwkt_token_init(addr_of_mut!((*hmp).fs_token), c"hammerfs".as_ptr());
        super::kcall::lwkt_token_init(addr_of_mut!((*hmp).io_token), c"hammerio".as_ptr());
        // Stable names for the kernel trace (tokens are traced by identity).
        trace::name_object(
            addr_of_mut!((*hmp).fs_token) as *const c_void,
            "hmp.fs_token",
        );
        trace::name_object(
            addr_of_mut!((*hmp).io_token) as *const c_void,
            "hmp.io_token",
        );
        for l in [
            addr_of_mut!((*hmp).sync_lock),
            addr_of_mut!((*hmp).free_lock),
            addr_of_mut!((*hmp).undo_lock),
            addr_of_mut!((*hmp).blkmap_lock),
            addr_of_mut!((*hmp).snapshot_lock),
            addr_of_mut!((*hmp).volume_lock),
            addr_of_mut!((*hmp).flusher.finalize_lock),
        ] {
            (*l).refs = 1;
        }
        (*hmp).version = version;
        (*hmp).master_id = -1;
        (*hmp).asof = u64::MAX;
        hmp
    }
}

/// A mounted HAMMER filesystem on hosted devices.
///
/// Dropping it without [`Mount::unmount`] leaks the structures on purpose
/// (a test that failed half-way must not run more of the I/O layer).
pub struct Mount {
    hmp: ffi::hammer_mount_t,
    devices: Vec<Device>,
    layout: Layout,
    imp: IoImpl,
    unmounted: bool,
    vol_names: Vec<CString>,
}

/// A referenced buffer (from [`Mount::bread`] / [`Mount::bnew`]); give it
/// back with [`Mount::rel_buffer`]. While the handle exists the buffer's
/// data stays mapped.
#[derive(Debug)]
pub struct BufRef {
    ptr: ffi::hammer_buffer_t,
}

impl BufRef {
    /// The C buffer (valid while the handle exists).
    pub fn as_ptr(&self) -> ffi::hammer_buffer_t {
        self.ptr
    }

    /// Its `hammer_io`.
    pub fn io(&self) -> *mut ffi::hammer_io {
        // SAFETY: only the field address is computed.
        unsafe { addr_of_mut!((*self.ptr).io) }
    }

    /// A copy of the buffer's data.
    pub fn read(&self) -> Vec<u8> {
        // SAFETY: a referenced buffer's `ondisk` maps its `io.bytes` bytes.
        unsafe {
            core::slice::from_raw_parts(
                (*self.ptr).ondisk as *const u8,
                (*self.ptr).io.bytes as usize,
            )
            .to_vec()
        }
    }

    /// The zone-X offset.
    pub fn zone_x(&self) -> u64 {
        // SAFETY: the buffer is referenced.
        unsafe { (*self.ptr).zoneX_offset }
    }

    /// The zone-2 offset.
    pub fn zone2(&self) -> u64 {
        // SAFETY: the buffer is referenced.
        unsafe { (*self.ptr).zone2_offset }
    }
}

/// A referenced volume (from [`Mount::get_volume`]); give it back with
/// [`Mount::rel_volume`].
#[derive(Debug)]
pub struct VolRef {
    ptr: ffi::hammer_volume_t,
}

impl VolRef {
    /// The C volume (valid while the handle exists).
    pub fn as_ptr(&self) -> ffi::hammer_volume_t {
        self.ptr
    }

    /// A copy of the header buffer.
    pub fn read(&self) -> Vec<u8> {
        // SAFETY: a referenced volume has its header loaded.
        unsafe {
            core::slice::from_raw_parts(
                (*self.ptr).ondisk as *const u8,
                ffi::HAMMER_BUFSIZE as usize,
            )
            .to_vec()
        }
    }
}

/// A transaction (`struct hammer_transaction`): references the root
/// volume and holds the sync lock shared, as front-end modifications do.
pub struct Transaction {
    trans: Box<ffi::hammer_transaction>,
    locked: bool,
}

impl Transaction {
    /// The C transaction.
    pub fn as_ptr(&mut self) -> ffi::hammer_transaction_t {
        &mut *self.trans
    }
}

impl Mount {
    /// Starts building a mount.
    pub fn builder() -> MountBuilder {
        MountBuilder::new()
    }

    /// The C mount structure.
    pub fn hmp(&self) -> ffi::hammer_mount_t {
        self.hmp
    }

    /// The devices, by volume number.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The volume layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The I/O implementation this mount runs with.
    pub fn implementation(&self) -> IoImpl {
        self.imp
    }

    /// `hammer_install_volume` for every device: reads the header with a
    /// plain `bread`, checks it, fills in the volume and links it in.
    fn install_volumes(&mut self) {
        let hmp = self.hmp;
        for (i, dev) in self.devices.iter().enumerate() {
            let name = CString::new(dev.name()).unwrap_or_default();
            // SAFETY: the volume is freshly allocated and owned by the
            // mount's tree from here on; the header buffer is released
            // before returning.
            unsafe {
                HAMMER_COUNT_VOLUMES.fetch_add(1, Ordering::SeqCst);
                let volume = Box::into_raw(Box::<ffi::hammer_volume>::new_zeroed().assume_init());
                (*volume).vol_name = name.as_ptr() as *mut c_char;
                (*volume).io.hmp = hmp;
                (self.imp.init)(
                    addr_of_mut!((*volume).io),
                    volume,
                    ffi::HAMMER_STRUCTURE_VOLUME,
                );
                (*volume).io.offset = 0;
                (*volume).io.bytes = ffi::HAMMER_BUFSIZE;
                (*volume).devvp = dev.vnode();

                let mut bp: *mut ffi::buf = null_mut();
                let error = super::kcall::bread((*volume).devvp, 0, ffi::HAMMER_BUFSIZE, &mut bp);
                assert_eq!(error, 0, "reading the header of volume {i}");
                let ondisk = (*bp).b_data as *const ffi::hammer_volume_ondisk;
                assert_eq!(
                    (*ondisk).vol_signature,
                    ffi::HAMMER_FSBUF_VOLUME,
                    "volume {i} has an invalid header"
                );
                (*volume).vol_no = (*ondisk).vol_no;
                (*volume).buffer_base = (*ondisk).vol_buf_beg;
                (*volume).vol_flags = (*ondisk).vol_flags as c_int;
                (*volume).nblocks = (*ondisk).vol_nblocks;
                (*volume).maxbuf_off = off::encode_raw_buffer(
                    (*volume).vol_no,
                    ((*ondisk).vol_buf_end - (*ondisk).vol_buf_beg) as u64,
                );
                (*volume).maxraw_off = (*ondisk).vol_buf_end as u64;
                if VolTree::is_empty(addr_of_mut!((*hmp).rb_vols_root)) {
                    (*hmp).fsid = (*ondisk).vol_fsid;
                }
                let dup = VolTree::insert(addr_of_mut!((*hmp).rb_vols_root), volume);
                assert!(dup.is_null(), "duplicate vol_no {}", (*volume).vol_no);
                if (*ondisk).vol_rootvol as i32 == (*ondisk).vol_no {
                    (*hmp).rootvol = volume;
                    (*hmp).nvolumes = (*ondisk).vol_count;
                }
                super::kcall::brelse(bp);
            }
            self.vol_names.push(name);
        }
        // hammer_vfs_mount: load the root volume and cache its blockmap
        // (the in-memory blockmap is authoritative while mounted).
        // SAFETY: the mount now has its volumes.
        unsafe {
            let mut error = 0;
            let rootvol = hammer_get_root_volume(hmp, &mut error);
            assert_eq!(error, 0, "loading the root volume");
            (*hmp).blockmap = (*(*rootvol).ondisk).vol0_blockmap;
            (*hmp).next_tid = (*(*rootvol).ondisk).vol0_next_tid;
            (*hmp).flush_tid1 = (*hmp).next_tid;
            (*hmp).flush_tid2 = (*hmp).next_tid;
            (*hmp).undo_seqno = 0;
            hammer_rel_volume(rootvol, 0);
        }
    }

    /// Starts a transaction holding the sync lock shared.
    pub fn start_transaction(&self) -> Transaction {
        self.transaction(ffi::HAMMER_TRANS_STD, true)
    }

    /// Starts a flusher transaction (`hammer_start_transaction_fls`): the
    /// sync lock is not taken; the flusher takes it exclusively itself.
    pub fn start_flusher_transaction(&self) -> Transaction {
        self.transaction(ffi::HAMMER_TRANS_FLS, false)
    }

    fn transaction(&self, type_: ffi::hammer_transaction_type, lock_sh: bool) -> Transaction {
        let hmp = self.hmp;
        let mut t = Box::<ffi::hammer_transaction>::default();
        // SAFETY: the mount is live; the transaction holds a root volume
        // reference until `done_transaction`.
        unsafe {
            let mut error = 0;
            t.type_ = type_;
            t.hmp = hmp;
            t.rootvol = hammer_get_root_volume(hmp, &mut error);
            assert_eq!(error, 0, "referencing the root volume");
            (*hmp).next_tid += 1;
            t.tid = (*hmp).next_tid;
            if lock_sh {
                t.sync_lock_refs = 1;
                hammer_lock_sh(addr_of_mut!((*hmp).sync_lock));
            }
        }
        Transaction {
            trans: t,
            locked: lock_sh,
        }
    }

    /// Ends a transaction.
    pub fn done_transaction(&self, mut t: Transaction) {
        // SAFETY: the transaction was started on this live mount.
        unsafe {
            if t.locked {
                t.trans.sync_lock_refs -= 1;
                hammer_unlock(addr_of_mut!((*self.hmp).sync_lock));
                t.locked = false;
            }
            hammer_rel_volume(t.trans.rootvol, 0);
        }
    }

    /// The zone-X offset of the `index`-th 16K buffer of `zone`'s
    /// big-block on volume `vol_no` (UNDO: of the FIFO).
    pub fn offset(&self, zone: Zone, vol_no: i32, index: u64) -> u64 {
        assert!(
            index < LARGEBLOCK_SIZE64 / BUFSIZE,
            "buffer index beyond the big-block"
        );
        if zone == Zone::Undo {
            return off::zone_encode(ffi::HAMMER_ZONE_UNDO_INDEX, index * BUFSIZE);
        }
        let bb = self.layout.bigblock_of(zone, vol_no);
        off::zone_encode(
            zone.index(),
            off::vol_encode(vol_no) | (bb * LARGEBLOCK_SIZE64 + index * BUFSIZE),
        )
    }

    /// The device offset (within volume `vol_no`'s device) of a zone-2
    /// offset.
    pub fn device_offset(&self, zone2: u64) -> u64 {
        self.layout.buf_beg + (zone2 & ffi::HAMMER_OFF_SHORT_MASK)
    }

    /// The device byte offset of a zone-X offset of a blockmap zone, and
    /// its volume.
    pub fn locate(&self, zone_x: u64) -> (i32, u64) {
        let zone2 = if off::zone_decode(zone_x) == ffi::HAMMER_ZONE_UNDO_INDEX {
            let mut e = 0;
            // SAFETY: the mount is live.
            let z2 = unsafe { super::blockmap::hammer_undo_lookup(self.hmp, zone_x, &mut e) };
            assert_eq!(e, 0);
            z2
        } else {
            (zone_x & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER
        };
        (off::vol_decode(zone2), self.device_offset(zone2))
    }

    /// `hammer_get_volume`.
    pub fn get_volume(&self, vol_no: i32) -> Result<VolRef, c_int> {
        let mut error = 0;
        // SAFETY: the mount is live.
        let v = unsafe { hammer_get_volume(self.hmp, vol_no, &mut error) };
        if error == 0 {
            Ok(VolRef { ptr: v })
        } else {
            Err(error)
        }
    }

    /// `hammer_rel_volume(volume, 0)`.
    pub fn rel_volume(&self, v: VolRef) {
        // SAFETY: the handle holds a reference from `get_volume`.
        unsafe { hammer_rel_volume(v.ptr, 0) }
    }

    /// `hammer_bread`: the buffer covering zone-X offset `off`, referenced.
    pub fn bread(&self, off: u64) -> Result<BufRef, c_int> {
        self.get_buffer(off, false)
    }

    /// `hammer_bnew`: a new (not read) buffer at `off`, referenced and
    /// marked modified by the I/O layer.
    pub fn bnew(&self, off: u64) -> Result<BufRef, c_int> {
        self.get_buffer(off, true)
    }

    fn get_buffer(&self, off: u64, new: bool) -> Result<BufRef, c_int> {
        let mut error = 0;
        let mut buffer = null_mut();
        // SAFETY: the mount is live; `buffer` starts empty.
        unsafe {
            if new {
                ondisk::hammer_bnew(self.hmp, off, &mut error, &mut buffer);
            } else {
                ondisk::hammer_bread(self.hmp, off, &mut error, &mut buffer);
            }
        }
        if error == 0 {
            Ok(BufRef { ptr: buffer })
        } else {
            Err(error)
        }
    }

    /// `hammer_rel_buffer(buffer, 0)`.
    pub fn rel_buffer(&self, b: BufRef) {
        // SAFETY: the handle holds a reference.
        unsafe { hammer_rel_buffer(b.ptr, 0) }
    }

    /// Releases a buffer asking the I/O layer to flush it: the path a
    /// buffer takes when its last reference goes with a flush request
    /// (`hammer_io_release(io, 1)` under the interlock, as unloading does).
    pub fn rel_buffer_flush(&self, b: BufRef) {
        // SAFETY: the handle holds a reference; the interlock on top of the
        // only reference is what the unload path takes.
        unsafe {
            let lk = addr_of_mut!((*b.ptr).io.lock);
            kassert(
                lock::oneref(lk),
                "rel_buffer_flush needs the only reference",
            );
            lock::get_interlock(lk);
            hammer_rel_buffer(b.ptr, 1);
        }
    }

    /// Modifies `data.len()` bytes at `at` in a referenced buffer, with
    /// (`undo`) or without an UNDO record, through the I/O layer's
    /// `hammer_modify_buffer` / `_done`.
    pub fn modify(
        &self,
        trans: Option<&mut Transaction>,
        b: &BufRef,
        at: usize,
        data: &[u8],
        undo: bool,
    ) {
        let t = trans.map_or(null_mut(), |t| t.as_ptr());
        // SAFETY: the handle keeps the buffer referenced, so its data stays
        // mapped; the range is checked against its size.
        unsafe {
            assert!(at + data.len() <= (*b.ptr).io.bytes as usize);
            let base = ((*b.ptr).ondisk as *mut u8).add(at);
            if undo {
                (self.imp.modify_buffer)(t, b.ptr, base as *mut c_void, data.len() as c_int);
            } else {
                (self.imp.modify_buffer)(t, b.ptr, null_mut(), 0);
            }
            core::ptr::copy_nonoverlapping(data.as_ptr(), base, data.len());
            (self.imp.modify_buffer_done)(b.ptr);
        }
    }

    /// Modifies bytes of a volume header (offset `at` inside it), with or
    /// without UNDO, through `hammer_modify_volume` / `_done`.
    pub fn modify_volume(
        &self,
        trans: Option<&mut Transaction>,
        v: &VolRef,
        at: usize,
        data: &[u8],
        undo: bool,
    ) {
        let t = trans.map_or(null_mut(), |t| t.as_ptr());
        // SAFETY: the handle keeps the volume referenced (header loaded);
        // the range is checked against the header buffer.
        unsafe {
            assert!(at + data.len() <= ffi::HAMMER_BUFSIZE as usize);
            let base = ((*v.ptr).ondisk as *mut u8).add(at);
            if undo {
                (self.imp.modify_volume)(t, v.ptr, base as *mut c_void, data.len() as c_int);
            } else {
                (self.imp.modify_volume)(t, v.ptr, null_mut(), 0);
            }
            core::ptr::copy_nonoverlapping(data.as_ptr(), base, data.len());
            (self.imp.modify_volume_done)(v.ptr);
        }
    }

    /// One flusher finalization, in HAMMER's order: data buffers, (final:
    /// blockmap into the volume header with UNDO), UNDO buffers then wait
    /// and device flush, the volume header, then meta-data buffers. See
    /// [`flusher::finalize`](super::flusher::finalize).
    pub fn flush(&self, final_: bool) {
        super::flusher::finalize(self, final_);
    }

    /// `hammer_flusher_haswork`.
    pub fn has_work(&self) -> bool {
        super::flusher::haswork(self)
    }

    /// `hammer_io_wait_all(hmp, ident, doflush)`.
    pub fn wait_all(&self, doflush: bool) {
        // SAFETY: the mount is live.
        unsafe { (self.imp.wait_all)(self.hmp, c"hmrwal".as_ptr(), doflush as c_int) }
    }

    /// `hammer_io_flush_sync`.
    pub fn flush_sync(&self) {
        // SAFETY: the mount is live.
        unsafe { (self.imp.flush_sync)(self.hmp) }
    }

    /// Creates an inode (one reference for the caller, returned with the
    /// pointer; release it with `hammer_rel_inode`).
    pub fn create_inode(&self, obj_id: i64) -> ffi::hammer_inode_t {
        // SAFETY: the mount is live.
        let ip = unsafe { objects::hammer_create_inode(self.hmp, obj_id, 0, 0) };
        assert!(!ip.is_null(), "inode {obj_id} already exists");
        ip
    }

    /// `HAMMER_MOUNT_CRITICAL_ERROR` is set.
    pub fn critical_error(&self) -> bool {
        // SAFETY: the mount is live.
        unsafe { (*self.hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR != 0 }
    }

    /// Calls to `hammer_critical_error` on this mount so far.
    pub fn critical_errors(&self) -> Vec<CriticalError> {
        critical_log_for(self.hmp)
    }

    /// Unmounts like `hammer_free_hmp`: flushes while there is work (at
    /// most 30 rounds), destroys inodes left after a critical error,
    /// unloads every buffer then every volume (discarding modifications
    /// the flusher could not write), and frees the mount.
    pub fn unmount(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        if self.unmounted {
            return;
        }
        self.unmounted = true;
        let hmp = self.hmp;
        let mut count = 0;
        while self.has_work() {
            self.flush(true);
            count += 1;
            if count == 30 {
                kprint("HAMMER: umount flushing giving up");
                break;
            }
        }
        // SAFETY: nothing references the mount's objects any more (tests
        // release what they took before unmounting).
        unsafe {
            objects::destroy_all_inodes(hmp);
            ondisk::unload_all_buffers(hmp);
            VolTree::scan_with(
                addr_of_mut!((*hmp).rb_vols_root),
                |_| 0,
                |v| {
                    unload_volume(v);
                    0
                },
            );
            kassert(
                VolTree::is_empty(addr_of_mut!((*hmp).rb_vols_root)),
                "all volumes unloaded",
            );
            forget_critical_log(hmp);
            drop(Box::from_raw(hmp));
        }
        self.hmp = null_mut();
    }
}

/// `hammer_unload_volume`: discards any modification, waits for running
/// I/O, releases the header buffer with flush (disassociating it), and
/// destroys the volume. Dirty device buffers left behind are written by
/// the device close (`vinvalbuf(V_SAVE)`).
///
/// # Safety
///
/// `volume` is a live volume without references.
unsafe fn unload_volume(volume: ffi::hammer_volume_t) {
    // SAFETY: caller contract.
    unsafe {
        let imp = current();
        let hmp = (*volume).io.hmp;
        if (*hmp).rootvol == volume {
            (*hmp).rootvol = null_mut();
        }
        (imp.clear_modify)(addr_of_mut!((*volume).io), 1);
        (*volume).io.set_waitdep(1);
        if (*volume).io.ioerror() != 0 {
            (imp.clear_error_noassert)(addr_of_mut!((*volume).io));
        }
        lock::ref_interlock_true(addr_of_mut!((*volume).io.lock));
        hammer_rel_volume(volume, 1);
        kassert((*volume).io.bp.is_null(), "volume->io.bp == NULL");
        kassert(
            lock::norefs(addr_of_mut!((*volume).io.lock)),
            "hammer_norefs(&volume->io.lock)",
        );
        (*volume).ondisk = null_mut();
        super::kcall::vinvalbuf_save((*volume).devvp);
        VolTree::remove(addr_of_mut!((*hmp).rb_vols_root), volume);
        HAMMER_COUNT_VOLUMES.fetch_sub(1, Ordering::SeqCst);
        drop(Box::from_raw(volume));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if !self.unmounted && !std::thread::panicking() {
            kprint("hosted HAMMER: Mount dropped without unmount(); its structures are leaked");
        }
    }
}

// ---------------------------------------------------------------------
// Critical errors
// ---------------------------------------------------------------------

/// One `hammer_critical_error` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriticalError {
    /// `ip->obj_id`, or -1 without an inode.
    pub obj_id: i64,
    /// The error code.
    pub error: c_int,
    /// The message.
    pub msg: String,
}

static CRITICAL_LOG: std::sync::Mutex<Vec<(usize, CriticalError)>> =
    std::sync::Mutex::new(Vec::new());

fn critical_log_for(hmp: ffi::hammer_mount_t) -> Vec<CriticalError> {
    CRITICAL_LOG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(h, _)| *h == hmp as usize)
        .map(|(_, e)| e.clone())
        .collect()
}

fn forget_critical_log(hmp: ffi::hammer_mount_t) {
    CRITICAL_LOG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(h, _)| *h != hmp as usize);
}

/// `hammer_critical_error`: an unrecoverable I/O error. The mount is
/// flagged (`HAMMER_MOUNT_CRITICAL_ERROR`, which stops the flusher from
/// advancing the UNDO FIFO), forced read-only (`ronly = 2`, the errored
/// read-only mode) and remembers the error. The call is also recorded for
/// tests ([`Mount::critical_errors`]).
///
/// # Safety
///
/// `hmp` is a live mount; `ip` null or a live inode; `msg` null or a
/// NUL-terminated string.
/// Untraced body of the C entry point `hammer_critical_error` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_critical_error_untraced(
    hmp: ffi::hammer_mount_t,
    ip: ffi::hammer_inode_t,
    error: c_int,
    msg: *const c_char,
) {
    // SAFETY: caller contract.
    unsafe {
        (*hmp).flags |= ffi::HAMMER_MOUNT_CRITICAL_ERROR;
        let obj_id = if ip.is_null() { -1 } else { (*ip).obj_id };
        let text = if msg.is_null() {
            String::new()
        } else {
            core::ffi::CStr::from_ptr(msg)
                .to_string_lossy()
                .into_owned()
        };
        kprint(&format!(
            "HAMMER(hosted): Critical error inode={obj_id} error={error} {text}"
        ));
        if (*hmp).ronly == 0 {
            (*hmp).ronly = 2;
            kprint("HAMMER(hosted): Forcing read-only mode");
        }
        (*hmp).error = error;
        CRITICAL_LOG
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                hmp as usize,
                CriticalError {
                    obj_id,
                    error,
                    msg: text,
                },
            ));
    }
}

/// Compile-time proof that the export has the C type bindgen read from
/// hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    super::sig::same4(ffi::hammer_critical_error, hammer_critical_error);
}
