//! Rust panics inside the kernel module end in the kernel's own `panic()`.
//!
//! The kernel object has no unwinder and no heap, so the handler renders the
//! location and message into a fixed buffer on the stack and hands that to
//! `panic("%s", buf)`, which never returns. The text goes through `%s` rather
//! than being used as the format string because a Rust message may contain
//! `%` signs.
//!
//! The handler itself exists only in the kernel object (no `test`, no
//! `hosted`); unit tests build the rest of this module to check the
//! rendering, and hosted builds use std's handler.

use core::fmt::{self, Write};
#[cfg(not(test))]
use core::panic::PanicInfo;
#[cfg(not(test))]
use core::sync::atomic::{AtomicBool, Ordering};

// The kernel prototype is `void panic(const char *fmt, ...) __dead2`; the
// binding has the plain C ABI outside the hosted build.
#[cfg(not(test))]
use crate::sys::ffi::panic;

/// Size of the rendered message including the terminating NUL.
///
/// The kernel's own panic buffer is 256 bytes as well, so anything longer
/// would be cut there anyway; it also keeps the handler's frame small on the
/// kernel stack, which is what a panicking thread is running on.
const MSG_LEN: usize = 256;

/// Appended when the message did not fit, so a reader knows text is missing.
const TRUNCATED: &[u8] = b"...";

/// Set by the first Rust panic; a second one (e.g. from a `Display` impl in
/// the message) skips formatting so it cannot recurse.
#[cfg(not(test))]
static PANICKING: AtomicBool = AtomicBool::new(false);

/// A `fmt::Write` sink over a fixed byte array that silently drops what does
/// not fit and always leaves room for the NUL terminator.
struct StackMsg {
    buf: [u8; MSG_LEN],
    len: usize,
    truncated: bool,
}

impl StackMsg {
    const fn new() -> Self {
        StackMsg {
            buf: [0; MSG_LEN],
            len: 0,
            truncated: false,
        }
    }

    /// Terminates the text and returns it as a C string.
    fn finish(&mut self) -> &core::ffi::CStr {
        if self.truncated {
            // Overwrite the tail so the marker is always visible.
            let start = self.len.min(MSG_LEN - 1 - TRUNCATED.len());
            self.buf[start..start + TRUNCATED.len()].copy_from_slice(TRUNCATED);
            self.len = start + TRUNCATED.len();
        }
        self.buf[self.len] = 0;
        // `write_str` never stores a NUL, so the first NUL is the one just
        // written and the conversion cannot fail.
        match core::ffi::CStr::from_bytes_until_nul(&self.buf[..=self.len]) {
            Ok(s) => s,
            Err(_) => c"hammer_io: Rust panic (message unavailable)",
        }
    }
}

impl Write for StackMsg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len >= MSG_LEN - 1 {
                self.truncated = true;
                // Returning an error would make `write!` stop early too, but
                // reporting success keeps the formatting machinery from
                // treating a long message as a formatting failure.
                return Ok(());
            }
            // An embedded NUL would end the `%s` argument early; show it.
            self.buf[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Renders "hammer_io: panicked at FILE:LINE:COL: MESSAGE" into `msg`.
fn render(msg: &mut StackMsg, location: Option<(&str, u32, u32)>, message: &dyn fmt::Display) {
    // Writing into `StackMsg` cannot fail, so the results carry no
    // information; a `Display` impl that errors just shortens the text.
    let _ = msg.write_str("hammer_io: panicked");
    if let Some((file, line, column)) = location {
        let _ = write!(msg, " at {file}:{line}:{column}");
    }
    let _ = write!(msg, ": {message}");
}

#[cfg(not(test))]
#[panic_handler]
fn on_panic(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // SAFETY: both arguments are NUL-terminated static strings and the
        // format consumes exactly one `char *` argument.
        unsafe {
            panic(
                c"%s".as_ptr(),
                c"hammer_io: Rust panic while panicking".as_ptr(),
            )
        }
    }

    let mut msg = StackMsg::new();
    let location = info.location().map(|l| (l.file(), l.line(), l.column()));
    render(&mut msg, location, &info.message());
    let text = msg.finish();
    // SAFETY: `text` is a NUL-terminated string living in this frame, which
    // stays alive because `panic` never returns; "%s" takes exactly that one
    // pointer argument.
    unsafe { panic(c"%s".as_ptr(), text.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(location: Option<(&str, u32, u32)>, message: &dyn fmt::Display) -> [u8; MSG_LEN] {
        let mut msg = StackMsg::new();
        render(&mut msg, location, message);
        let len = msg.finish().to_bytes_with_nul().len();
        let mut out = [0u8; MSG_LEN];
        out[..len].copy_from_slice(&msg.buf[..len]);
        out
    }

    fn text(buf: &[u8]) -> &str {
        let end = buf.iter().position(|&b| b == 0).unwrap();
        core::str::from_utf8(&buf[..end]).unwrap()
    }

    #[test]
    fn location_and_message() {
        let out = rendered(
            Some(("src/io/flush.rs", 12, 5)),
            &format_args!("bad {} 100%", 7),
        );
        assert_eq!(
            text(&out),
            "hammer_io: panicked at src/io/flush.rs:12:5: bad 7 100%"
        );
        let out = rendered(None, &"no location");
        assert_eq!(text(&out), "hammer_io: panicked: no location");
    }

    #[test]
    fn long_messages_are_cut_and_marked() {
        struct Many(usize);
        impl fmt::Display for Many {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                (0..self.0).try_for_each(|_| f.write_char('x'))
            }
        }
        let out = rendered(Some(("f.rs", 1, 1)), &Many(1000));
        let t = text(&out);
        assert_eq!(t.len(), MSG_LEN - 1);
        assert!(t.ends_with("xxx..."), "{t}");
        assert_eq!(out[MSG_LEN - 1], 0);
    }

    #[test]
    fn embedded_nul_does_not_end_the_string() {
        let out = rendered(None, &"a\0b");
        assert_eq!(text(&out), "hammer_io: panicked: a?b");
    }
}
