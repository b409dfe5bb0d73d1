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

/// The C function-pointer type of this build: "C-unwind" in the hosted
/// environment, where a kernel panic unwinds so tests can observe it, plain
/// "C" in the kernel (where panics abort and a C-unwind ABI would only add
/// landing pads and an unresolvable `rust_eh_personality` import). The
/// bindings follow the same rule, so the two always agree.
#[cfg(feature = "hosted")]
macro_rules! c_fn {
    (fn($($t:ty),* $(,)?) $(-> $r:ty)?) => { unsafe extern "C-unwind" fn($($t),*) $(-> $r)? };
}
#[cfg(not(feature = "hosted"))]
macro_rules! c_fn {
    (fn($($t:ty),* $(,)?) $(-> $r:ty)?) => { unsafe extern "C" fn($($t),*) $(-> $r)? };
}

/// Defines functions with the C ABI of this build (see [`c_fn!`]); with
/// `#[no_mangle]` among the attributes they become C exports.
macro_rules! c_abi_fn {
    ($(
        $(#[$m:meta])*
        $vis:vis unsafe fn $name:ident$(<$T:ident: $Tr:path>)?($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block
    )*) => {$(
        $(#[$m])*
        #[cfg(feature = "hosted")]
        $vis unsafe extern "C-unwind" fn $name$(<$T: $Tr>)?($($a: $t),*) $(-> $r)? $body

        $(#[$m])*
        #[cfg(not(feature = "hosted"))]
        $vis unsafe extern "C" fn $name$(<$T: $Tr>)?($($a: $t),*) $(-> $r)? $body
    )*};
}

/// Defines a callback the kernel (or HAMMER) calls through a C function
/// pointer, with the C ABI of this build.
macro_rules! c_callback_fn {
    ($(#[$m:meta])* fn $name:ident<$T:ident: $Tr:path>($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        c_abi_fn! { $(#[$m])* unsafe fn $name<$T: $Tr>($($a: $t),*) $(-> $r)? $body }
    };
}

/// The C function-pointer value of a callback defined with
/// [`c_callback_fn!`], given its parameter and return types.
macro_rules! c_callback {
    ($f:expr, fn($($t:ty),* $(,)?) $(-> $r:ty)?) => {{
        let f: c_fn!(fn($($t),*) $(-> $r)?) = $f;
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
