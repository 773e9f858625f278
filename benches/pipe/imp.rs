//! The two implementations under test, behind one trait so that every row runs the
//! same protocol code on both.

use crate::raw;
use std::io::{self, Read, Write};
use std::time::Duration;
use winpipe::{WinListener, WinStream};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub trait Imp {
    const NAME: &'static str;
    type Stream: Read + Write + Send + 'static;
    type Listener: Send + 'static;
    /// Two connected ends: (client, server).
    fn pair(name: &str) -> io::Result<(Self::Stream, Self::Stream)>;
    fn bind(name: &str) -> io::Result<Self::Listener>;
    fn accept(listener: &mut Self::Listener) -> io::Result<Self::Stream>;
    /// Connects, waiting up to 10 s for a free instance.
    fn connect(name: &str) -> io::Result<Self::Stream>;
}

pub struct Winpipe;

impl Imp for Winpipe {
    const NAME: &'static str = "winpipe";
    type Stream = WinStream;
    type Listener = WinListener;

    fn pair(name: &str) -> io::Result<(WinStream, WinStream)> {
        // The same path as a server and its client, with the bench's own name.
        let listener = WinListener::bind(name)?;
        let client = WinStream::connect_with_timeout(name, CONNECT_TIMEOUT)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    }

    fn bind(name: &str) -> io::Result<WinListener> {
        WinListener::bind(name)
    }

    fn accept(listener: &mut WinListener) -> io::Result<WinStream> {
        listener.accept().map(|(stream, _)| stream)
    }

    fn connect(name: &str) -> io::Result<WinStream> {
        WinStream::connect_with_timeout(name, CONNECT_TIMEOUT)
    }
}

pub struct Raw;

impl Imp for Raw {
    const NAME: &'static str = "raw";
    type Stream = raw::RawStream;
    type Listener = raw::RawListener;

    fn pair(name: &str) -> io::Result<(raw::RawStream, raw::RawStream)> {
        raw::pair(name)
    }

    fn bind(name: &str) -> io::Result<raw::RawListener> {
        raw::RawListener::bind(name)
    }

    fn accept(listener: &mut raw::RawListener) -> io::Result<raw::RawStream> {
        listener.accept()
    }

    fn connect(name: &str) -> io::Result<raw::RawStream> {
        raw::connect(name, CONNECT_TIMEOUT)
    }
}
