//! HAMMER offset encoding (`<vfs/hammer/hammer_disk.h>`).
//!
//! A `hammer_off_t` keeps the zone in its top 4 bits, the volume number in
//! the next 8 and the byte offset in the low 52. These are the header's
//! macros as `const fn`s, keeping the macro names.

#![allow(non_snake_case)]

use super::ffi;

pub const HAMMER_OFF_ZONE_MASK: u64 = ffi::HAMMER_OFF_ZONE_MASK;
pub const HAMMER_OFF_SHORT_MASK: u64 = ffi::HAMMER_OFF_SHORT_MASK;
pub const HAMMER_ZONE_RAW_VOLUME: u64 = ffi::HAMMER_ZONE_RAW_VOLUME;
pub const HAMMER_ZONE_RAW_BUFFER: u64 = ffi::HAMMER_ZONE_RAW_BUFFER;
pub const HAMMER_ZONE_FREEMAP: u64 = ffi::HAMMER_ZONE_FREEMAP;
pub const HAMMER_ZONE_BTREE: u64 = ffi::HAMMER_ZONE_BTREE;
pub const HAMMER_ZONE_META: u64 = ffi::HAMMER_ZONE_META;
pub const HAMMER_ZONE_LARGE_DATA: u64 = ffi::HAMMER_ZONE_LARGE_DATA;
pub const HAMMER_ZONE_LARGE_DATA_INDEX: i32 = ffi::HAMMER_ZONE_LARGE_DATA_INDEX;

/// Size of a HAMMER buffer (16 KiB) and the mask of an offset inside one.
pub const HAMMER_BUFSIZE: i32 = ffi::HAMMER_BUFSIZE;
pub const HAMMER_BUFMASK: i32 = ffi::HAMMER_BUFMASK;
pub const HAMMER_BUFMASK64: u64 = ffi::HAMMER_BUFMASK64;

/// The read clustering limits `hammer_io_read()` passes to cluster_read().
pub const HAMMER_CLUSTER_SIZE: i32 = ffi::HAMMER_CLUSTER_SIZE;

/// `HAMMER_VOL_ENCODE(vol_no)`: the volume field of an offset.
pub const fn HAMMER_VOL_ENCODE(vol_no: i32) -> u64 {
    ((vol_no & 255) as u64) << 52
}

/// `HAMMER_VOL_DECODE(off)`: the volume number of an offset.
pub const fn HAMMER_VOL_DECODE(off: u64) -> i32 {
    ((off >> 52) & 255) as i32
}

/// `HAMMER_ZONE_DECODE(off)`: the zone number (0..15) of an offset.
pub const fn HAMMER_ZONE_DECODE(off: u64) -> i32 {
    (off >> 60) as i32
}

/// `HAMMER_SHORT_OFF_ENCODE(offset)`: the low 52 bits.
pub const fn HAMMER_SHORT_OFF_ENCODE(offset: u64) -> u64 {
    offset & HAMMER_OFF_SHORT_MASK
}

/// `HAMMER_ENCODE_RAW_VOLUME(vol_no, offset)`: a zone-1 (raw volume)
/// offset. `offset` is converted to `hammer_off_t` the way C converts a
/// signed value (two's complement) before it is masked.
pub const fn HAMMER_ENCODE_RAW_VOLUME(vol_no: i32, offset: i64) -> u64 {
    HAMMER_ZONE_RAW_VOLUME | HAMMER_VOL_ENCODE(vol_no) | HAMMER_SHORT_OFF_ENCODE(offset as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode() {
        let off = HAMMER_ENCODE_RAW_VOLUME(3, 0x4000);
        assert_eq!(off, 0x1030_0000_0000_4000);
        assert_eq!(HAMMER_VOL_DECODE(off), 3);
        assert_eq!(HAMMER_ZONE_DECODE(off), 1);
        assert_eq!(
            HAMMER_ZONE_DECODE(HAMMER_ZONE_LARGE_DATA),
            HAMMER_ZONE_LARGE_DATA_INDEX
        );
        assert_eq!(HAMMER_VOL_DECODE(0x2FF0_0000_0000_0000), 255);
        assert_eq!(HAMMER_ENCODE_RAW_VOLUME(256, -1), 0x100F_FFFF_FFFF_FFFF);
    }
}
