//! Raw bindings and the typed layer over them.
//!
//! Everything that touches kernel or HAMMER memory through a raw pointer, or
//! calls into C, lives below this module. The I/O logic in `crate::io` works
//! with the handle types defined here:
//!
//! * A handle ([`buf::Buf`], [`bio::Bio`], [`hammer::Io`], [`hammer::Mount`],
//!   ...) is a copyable, non-null pointer to a kernel object that somebody
//!   else owns. Creating one is `unsafe`: the creator promises that the object
//!   stays alive while the handle is used, and that the usual HAMMER locking
//!   rules (buffer lock, `io_token`, `fs_token`, the io interlock) are what
//!   serialises access, exactly as in the C code. Handles are only minted at
//!   the C boundary (exported functions, kernel callbacks) or from pointers
//!   the kernel or HAMMER hands back.
//! * Field accessors read and write through the raw pointer, never through a
//!   Rust reference, so concurrent kernel threads touching other fields of
//!   the same structure do not violate Rust's aliasing rules.
//! * Kernel and HAMMER entry points are methods or free functions named after
//!   the C function they call, with one C call per Rust call, so a call trace
//!   of the port lines up one-to-one with one of the original.

pub mod ffi;

pub mod kassert;

/// Defines a callback the kernel (or HAMMER) calls through a C function
/// pointer, with the C ABI.
///
/// In the hosted build the kernel's `panic()` unwinds so that tests can
/// observe it, and an `extern "C"` function would turn such an unwind into
/// an abort. There the callback is `extern "C-unwind"` instead (same
/// calling convention) and [`c_callback!`] converts it to the pointer type
/// of the C declaration; the hosted kernel calls those pointers as
/// "C-unwind".
macro_rules! c_callback_fn {
    ($(#[$m:meta])* fn $name:ident<$T:ident: $Tr:path>($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        #[cfg(feature = "hosted")]
        unsafe extern "C-unwind" fn $name<$T: $Tr>($($a: $t),*) $(-> $r)? $body

        $(#[$m])*
        #[cfg(not(feature = "hosted"))]
        unsafe extern "C" fn $name<$T: $Tr>($($a: $t),*) $(-> $r)? $body
    };
}

/// The C function-pointer value of a callback defined with
/// [`c_callback_fn!`], given its parameter and return types.
macro_rules! c_callback {
    ($f:expr, fn($($t:ty),* $(,)?) $(-> $r:ty)?) => {{
        #[cfg(feature = "hosted")]
        let f = {
            let f: unsafe extern "C-unwind" fn($($t),*) $(-> $r)? = $f;
            // SAFETY: identical signature and calling convention; only the
            // unwinding contract differs, which the hosted kernel's callers
            // honour.
            unsafe {
                ::core::mem::transmute::<
                    unsafe extern "C-unwind" fn($($t),*) $(-> $r)?,
                    unsafe extern "C" fn($($t),*) $(-> $r)?,
                >(f)
            }
        };
        #[cfg(not(feature = "hosted"))]
        let f: unsafe extern "C" fn($($t),*) $(-> $r)? = $f;
        f
    }};
}

pub mod bio;
pub mod bioops;
pub mod buf;
pub mod counters;
pub mod flags;
pub mod hammer;
pub mod kern;
pub mod sleep;
pub mod token;
pub mod zone;

