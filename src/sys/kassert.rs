//! `KKASSERT` and compile-time C strings.
//!
//! A failed [`kassert!`](crate::kassert) panics the kernel through the
//! kernel's own `panic()`, with the same message layout as DragonFly's
//! `KKASSERT`: the failed expression, where it failed, file and line. Rust's
//! `__func__` has no stable equivalent, so the module path stands in for
//! the function name.

use core::ffi::{c_uint, CStr};

use super::ffi;

/// A `&'static CStr` built at compile time from string literals (or macros
/// expanding to literals such as `file!()`), with the terminating NUL added.
#[macro_export]
macro_rules! cstr {
    ($($s:expr),+ $(,)?) => {
        const {
            match ::core::ffi::CStr::from_bytes_with_nul(
                ::core::concat!($($s),+, "\0").as_bytes(),
            ) {
                ::core::result::Result::Ok(s) => s,
                ::core::result::Result::Err(_) => {
                    ::core::panic!("C string literal contains a NUL byte")
                }
            }
        }
    };
}

/// The kernel's `KKASSERT(exp)`: when `exp` is false the kernel panics with
/// the expression text, the enclosing module, file and line.
#[macro_export]
macro_rules! kassert {
    ($cond:expr $(,)?) => {
        if !($cond) {
            $crate::sys::kassert::assertion_failed(
                $crate::cstr!(::core::stringify!($cond)),
                $crate::cstr!(::core::module_path!()),
                $crate::cstr!(::core::file!()),
                ::core::line!(),
            )
        }
    };
}

/// Out-of-line tail of [`kassert!`]: hands the failure to the kernel's
/// `panic()`, which does not return.
#[cold]
#[inline(never)]
pub fn assertion_failed(expr: &CStr, func: &CStr, file: &CStr, line: u32) -> ! {
    // SAFETY: the format has three `%s` and one `%u`, matched by three
    // NUL-terminated strings and a `c_uint`.
    unsafe {
        ffi::panic(
            c"assertion \"%s\" failed in %s at %s:%u".as_ptr(),
            expr.as_ptr(),
            func.as_ptr(),
            file.as_ptr(),
            line as c_uint,
        )
    }
}

/// `KKASSERT(p != NULL)` for an `Option` handle, yielding the handle: the
/// kernel panics, like [`kassert!`], if it is `None`.
#[macro_export]
macro_rules! kassert_some {
    ($opt:expr $(,)?) => {
        match $opt {
            ::core::option::Option::Some(v) => v,
            ::core::option::Option::None => $crate::sys::kassert::assertion_failed(
                $crate::cstr!(::core::stringify!($opt), " != NULL"),
                $crate::cstr!(::core::module_path!()),
                $crate::cstr!(::core::file!()),
                ::core::line!(),
            ),
        }
    };
}
