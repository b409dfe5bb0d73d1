//! Zone translation (hammer_blockmap.c, hammer_undo.c).
//!
//! HAMMER's blockmap-backed zones (B-Tree 8, meta 9, large-data 10,
//! small-data 11, and the reserved 12..15) are direct-mapped onto the
//! freemap: a zone-X offset is the zone-2 (raw buffer) offset with other
//! zone bits, and translation just swaps the top four bits. With
//! `hammer_verify_zone` at its default 0 the kernel does exactly that and
//! nothing more, which is what happens here; the freemap layers are not
//! modelled, so the verification mode is not offered. The UNDO zone (3) is
//! different: it is a FIFO laid over big-blocks listed in the root volume
//! header (`vol0_undo_array`).

use core::ffi::c_int;
use core::ptr::addr_of_mut;
use core::sync::atomic::Ordering;

use super::globals::HAMMER_VERIFY_ZONE;
pub use super::ntrace::hammer_blockmap_lookup;
use super::off::{self, LARGEBLOCK_MASK64, LARGEBLOCK_SIZE64};
use super::ondisk::{hammer_get_root_volume, hammer_rel_volume};
use super::{kassert, kpanic};
use crate::sys::ffi;

/// Zones that a blockmap lookup accepts in the hosted model: the four the
/// kernel allocates from. The reserved ones (12..14) and UNAVAIL (15) have
/// no storage behind them here.
fn zone_is_mapped(zone: i32) -> bool {
    matches!(
        zone,
        ffi::HAMMER_ZONE_BTREE_INDEX
            | ffi::HAMMER_ZONE_META_INDEX
            | ffi::HAMMER_ZONE_LARGE_DATA_INDEX
            | ffi::HAMMER_ZONE_SMALL_DATA_INDEX
    )
}

/// `hammer_blockmap_lookup`: the zone-2 offset behind a blockmap-zone
/// offset. A zone outside the blockmap zones gives EINVAL and 0 (the
/// kernel asserts instead).
///
/// # Safety
///
/// `errorp` is writable. `hmp` is not dereferenced.
/// Untraced body of the C entry point `hammer_blockmap_lookup` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_blockmap_lookup_untraced(
    _hmp: ffi::hammer_mount_t,
    zone_offset: ffi::hammer_off_t,
    errorp: *mut c_int,
) -> ffi::hammer_off_t {
    let zone = off::zone_decode(zone_offset);
    if !zone_is_mapped(zone) {
        // SAFETY: caller contract.
        unsafe { *errorp = ffi::EINVAL };
        return 0;
    }
    if HAMMER_VERIFY_ZONE.load(Ordering::Relaxed) != 0 {
        kpanic("hammer_blockmap_lookup: hammer_verify_zone needs the freemap, which the hosted model has not");
    }
    // SAFETY: caller contract.
    unsafe { *errorp = 0 };
    (zone_offset & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER
}

/// `hammer_undo_lookup`: the zone-2 offset of a zone-3 (UNDO FIFO)
/// offset, through the root volume's big-block array.
///
/// # Safety
///
/// `hmp` is a live mount with a root volume; `errorp` is writable.
pub unsafe fn hammer_undo_lookup(
    hmp: ffi::hammer_mount_t,
    zone3_off: u64,
    errorp: *mut c_int,
) -> u64 {
    kassert(
        zone3_off & ffi::HAMMER_OFF_ZONE_MASK == ffi::HAMMER_ZONE_UNDO,
        "zone3_off is in the undo zone",
    );
    // SAFETY: caller contract; the root volume stays referenced while its
    // header is read.
    unsafe {
        let root_volume = hammer_get_root_volume(hmp, errorp);
        if *errorp != 0 {
            return 0;
        }
        let undomap = addr_of_mut!((*hmp).blockmap[ffi::HAMMER_ZONE_UNDO_INDEX as usize]);
        kassert(
            off::zone_decode((*undomap).alloc_offset) == ffi::HAMMER_ZONE_UNDO_INDEX,
            "undo map alloc_offset is in the undo zone",
        );
        kassert(
            zone3_off < (*undomap).alloc_offset,
            "zone3_off < undomap->alloc_offset",
        );
        let i = ((zone3_off & ffi::HAMMER_OFF_SHORT_MASK) / LARGEBLOCK_SIZE64) as usize;
        let result = (*(*root_volume).ondisk).vol0_undo_array[i] + (zone3_off & LARGEBLOCK_MASK64);
        hammer_rel_volume(root_volume, 0);
        result
    }
}

/// Compile-time proof that the export has the C type bindgen read from
/// hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    super::sig::same3(ffi::hammer_blockmap_lookup, hammer_blockmap_lookup);
}
