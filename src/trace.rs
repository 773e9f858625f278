//! The tracing macro: every system call winpipe makes goes through `trace!`.
//!
//! With the `log` feature (on by default) it is `log::trace!`; without it the arguments
//! are still type-checked, so nothing goes unused, but no code is generated.

#[cfg(feature = "log")]
macro_rules! trace {
    ($($arg:tt)*) => { log::trace!(target: "winpipe", $($arg)*) };
}

#[cfg(not(feature = "log"))]
macro_rules! trace {
    ($($arg:tt)*) => {
        if false {
            let _ = format_args!($($arg)*);
        }
    };
}
