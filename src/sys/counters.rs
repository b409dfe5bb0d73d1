//! HAMMER's global counters, statistics and tunables, and the kernel's
//! `atomic_*` primitives they are updated with.
//!
//! The C code mixes two kinds of update and the port keeps each where it
//! was: the `hammer_count_*` running counters go through the kernel's
//! `atomic_add_*` (they are touched without a common lock), while the
//! `hammer_stats_disk_*` statistics are plain, unlocked additions.

use core::ffi::{c_int, c_long, c_uint, c_ulong};

use super::ffi;

/// `atomic_add_int(p, v)`. The kernel prototype is unsigned; a negative
/// delta is passed as its two's complement, as C's implicit conversion does.
///
/// # Safety
///
/// `p` points to a live, suitably aligned `int`.
pub(crate) unsafe fn atomic_add_int(p: *mut c_int, v: c_int) {
    // SAFETY: caller contract; int and u_int share size and alignment.
    unsafe { ffi::atomic_add_int(p.cast::<c_uint>(), v as c_uint) }
}

/// `atomic_add_long(p, v)`, with the same signed-to-unsigned convention.
///
/// # Safety
///
/// `p` points to a live, suitably aligned `long`.
pub(crate) unsafe fn atomic_add_long(p: *mut c_long, v: c_long) {
    // SAFETY: caller contract; long and u_long share size and alignment.
    unsafe { ffi::atomic_add_long(p.cast::<c_ulong>(), v as c_ulong) }
}

/// `atomic_set_int(p, bits)`.
///
/// # Safety
///
/// `p` points to a live, suitably aligned `int`.
pub(crate) unsafe fn atomic_set_int(p: *mut c_int, bits: c_int) {
    // SAFETY: caller contract.
    unsafe { ffi::atomic_set_int(p.cast::<c_uint>(), bits as c_uint) }
}

/// `atomic_clear_int(p, bits)`.
///
/// # Safety
///
/// `p` points to a live, suitably aligned `int`.
pub(crate) unsafe fn atomic_clear_int(p: *mut c_int, bits: c_int) {
    // SAFETY: caller contract.
    unsafe { ffi::atomic_clear_int(p.cast::<c_uint>(), bits as c_uint) }
}

/// `atomic_add_int(&hammer_count_io_locked, delta)`.
pub fn hammer_count_io_locked_add(delta: c_int) {
    // SAFETY: a global of the HAMMER module, live for the module's lifetime.
    unsafe { atomic_add_int(&raw mut ffi::hammer_count_io_locked, delta) }
}

/// `atomic_add_long(&hammer_count_io_running_read, delta)`.
pub fn hammer_count_io_running_read_add(delta: c_long) {
    // SAFETY: a global of the HAMMER module.
    unsafe { atomic_add_long(&raw mut ffi::hammer_count_io_running_read, delta) }
}

/// `atomic_add_long(&hammer_count_io_running_write, delta)`.
pub fn hammer_count_io_running_write_add(delta: c_long) {
    // SAFETY: a global of the HAMMER module.
    unsafe { atomic_add_long(&raw mut ffi::hammer_count_io_running_write, delta) }
}

/// `atomic_add_long(&hammer_count_dirtybufspace, delta)`.
pub fn hammer_count_dirtybufspace_add(delta: c_long) {
    // SAFETY: a global of the HAMMER module.
    unsafe { atomic_add_long(&raw mut ffi::hammer_count_dirtybufspace, delta) }
}

/// `hammer_stats_disk_read += bytes`: a plain, racy statistic, as in C.
pub fn hammer_stats_disk_read_add(bytes: c_int) {
    let p = &raw mut ffi::hammer_stats_disk_read;
    // SAFETY: a global of the HAMMER module; the C code updates it without
    // synchronisation too, and it is only ever read as a statistic.
    unsafe { p.write(p.read().wrapping_add(i64::from(bytes))) }
}

/// `hammer_stats_disk_write += bytes`.
pub fn hammer_stats_disk_write_add(bytes: c_int) {
    let p = &raw mut ffi::hammer_stats_disk_write;
    // SAFETY: as for `hammer_stats_disk_read_add`.
    unsafe { p.write(p.read().wrapping_add(i64::from(bytes))) }
}

/// The `hammer_cluster_enable` tunable (sysctl vfs.hammer.cluster_enable).
pub fn hammer_cluster_enable() -> c_int {
    // SAFETY: a global int of the HAMMER module, read like C reads it.
    unsafe { (&raw const ffi::hammer_cluster_enable).read() }
}

/// The `hammer_debug_io` tunable.
pub fn hammer_debug_io() -> c_int {
    // SAFETY: a global int of the HAMMER module.
    unsafe { (&raw const ffi::hammer_debug_io).read() }
}

/// The `hammer_verify_data` tunable.
pub fn hammer_verify_data() -> c_int {
    // SAFETY: a global int of the HAMMER module.
    unsafe { (&raw const ffi::hammer_verify_data).read() }
}

/// Whether the kernel is already panicking (`panicstr != NULL`).
pub fn panicstr_is_set() -> bool {
    // SAFETY: a global pointer of the kernel; only its nullness is used.
    unsafe { !(&raw const ffi::panicstr).read().is_null() }
}

/// The kernel's clock rate `hz` (ticks per second).
pub fn hz() -> c_int {
    // SAFETY: a global int of the kernel, fixed after boot.
    unsafe { (&raw const ffi::hz).read() }
}
