//! Kernel panics, console messages and other small kernel services.

use core::ffi::{c_longlong, c_void, CStr};

use super::ffi;

/// `panic(msg)`: stops the kernel. The message is passed through a `%s`
/// format so it can never be misread as conversions.
#[cold]
#[inline(never)]
pub fn kpanic(msg: &CStr) -> ! {
    // SAFETY: one `%s` matched by one NUL-terminated string.
    unsafe { ffi::panic(c"%s".as_ptr(), msg.as_ptr()) }
}

/// Panics because a C caller passed NULL where an object was required; the
/// original code would have faulted on the first dereference instead.
#[cold]
#[inline(never)]
pub fn null_handle(what: &CStr) -> ! {
    // SAFETY: one `%s` matched by one NUL-terminated string.
    unsafe { ffi::panic(c"hammer_io: NULL %s".as_ptr(), what.as_ptr()) }
}

/// Panics on a broken intrusive list link; `what` names the check, `at` is
/// the list head or element involved. Mirrors the kernel's INVARIANTS
/// checks in `<sys/queue.h>`.
#[cold]
#[inline(never)]
pub(crate) fn bad_list_link(what: &CStr, at: *const c_void) -> ! {
    // SAFETY: `%s` and `%p` matched by a string and a pointer.
    unsafe { ffi::panic(c"list corrupted: %s (%p)".as_ptr(), what.as_ptr(), at) }
}

/// The `hammer_debug_io & 1` trace of `hammer_io_read()`: the device
/// offset a read went to and the kind of structure it was for.
pub fn kprintf_read_trace(bio2_offset: i64, metatype: &CStr) {
    // SAFETY: `%016jx` takes an intmax_t (i64), `%s` a NUL-terminated string.
    unsafe {
        ffi::kprintf(c"doff %016jx %s\n".as_ptr(), bio2_offset, metatype.as_ptr());
    }
}

/// The `hammer_debug_io & 2` trace of `hammer_io_flush()`.
pub fn kprintf_io_write(bio1_offset: i64) {
    // SAFETY: `%016jx` takes an intmax_t; off_t is the same 64-bit integer.
    unsafe {
        ffi::kprintf(c"hammer io_write %016jx\n".as_ptr(), bio1_offset);
    }
}

/// Failure report of `hammer_io_direct_read()` and
/// `hammer_io_indirect_read()` (both print the same text).
pub fn kprintf_direct_read_failed(zone2_offset: u64) {
    // SAFETY: `%016llx` takes a long long.
    unsafe {
        ffi::kprintf(
            c"hammer_direct_read: failed @ %016llx\n".as_ptr(),
            zone2_offset as c_longlong,
        );
    }
}

/// Failure report of `hammer_io_direct_write()`.
pub fn kprintf_direct_write_failed(data_offset: u64) {
    // SAFETY: `%016llx` takes a long long.
    unsafe {
        ffi::kprintf(
            c"hammer_direct_write: failed @ %016llx\n".as_ptr(),
            data_offset as c_longlong,
        );
    }
}

/// The kernel's `crc32()` (libkern): CRC-32 with the IEEE 802.3 reflected
/// polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF. crc32fast
/// computes exactly that function; the unit tests pin the equivalence.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// `waitrunningbufspace()`: blocks while too many write bytes are in
/// flight system-wide.
pub fn waitrunningbufspace() {
    // SAFETY: no arguments; may block.
    unsafe { ffi::waitrunningbufspace() }
}

// LLVM knows bzero and bcopy as library functions and, when optimising,
// rewrites calls to them into memset/memmove. The original calls the
// kernel's bzero/bcopy, and a call trace of the port must show the same
// calls, so the callee is hidden from the optimiser behind `black_box`.

/// `bzero(p, len)`.
///
/// # Safety
///
/// `p` is valid for writes of `len` bytes.
pub(crate) unsafe fn bzero(p: *mut c_void, len: usize) {
    let f = core::hint::black_box(ffi::bzero as c_fn!(fn(*mut c_void, usize)));
    // SAFETY: caller contract.
    unsafe { f(p, len) }
}

/// `bcopy(from, to, len)`.
///
/// # Safety
///
/// `from` is readable and `to` writable for `len` bytes.
pub(crate) unsafe fn bcopy(from: *const c_void, to: *mut c_void, len: usize) {
    let f = core::hint::black_box(ffi::bcopy as c_fn!(fn(*const c_void, *mut c_void, usize)));
    // SAFETY: caller contract.
    unsafe { f(from, to, len) }
}

#[cfg(test)]
mod tests {
    use super::crc32;

    /// Bitwise CRC-32 written from the definition the kernel's table is
    /// built from (reflected 0xEDB88320, init and final xor all ones).
    fn reference_crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32_matches_libkern_definition() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let mut data = [0u8; 4092];
        let mut x = 0x1234_5678u32;
        for d in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *d = (x >> 16) as u8;
        }
        for len in [1, 3, 64, 511, 4092] {
            assert_eq!(crc32(&data[..len]), reference_crc32(&data[..len]));
        }
    }

    /// A few entries of libkern's `crc32_tab` (the first two rows of the
    /// table in sys/libkern/crc32.c) regenerated from the same polynomial.
    #[test]
    fn crc32_table_entries() {
        let entry = |i: u32| {
            let mut c = i;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
            c
        };
        let expect = [
            0x0000_0000,
            0x7707_3096,
            0xee0e_612c,
            0x9909_51ba,
            0x076d_c419,
            0x706a_f48f,
            0xe963_a535,
            0x9e64_95a3,
        ];
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(entry(i as u32), *e);
        }
    }
}
