//! The tracing macro: every system call winpipe makes goes through `trace!`.
//!
//! With the `log` feature (on by default) it is `log::trace!`; without it the arguments
//! are still type-checked, so nothing goes unused, but no code is generated.
//!
//! Nothing is logged while the thread panics: the user's logger may be what panicked,
//! and a second panic during unwinding would abort the process.

#[cfg(feature = "log")]
macro_rules! trace {
    ($($arg:tt)*) => {
        if !std::thread::panicking() {
            log::trace!(target: "winpipe", $($arg)*)
        }
    };
}

#[cfg(not(feature = "log"))]
macro_rules! trace {
    ($($arg:tt)*) => {
        if false {
            let _ = format_args!($($arg)*);
        }
    };
}
