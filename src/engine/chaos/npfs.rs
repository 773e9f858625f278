//! What our writes go into: the peer's inbound data queue, modelled on the named pipe
//! file system of Windows as ReactOS reimplements it (`drivers/filesystems/npfs/`,
//! whose kernel-mode tests are checked against Windows):
//!
//! - `NpWriteDataQueue` (writesup.c): a write first fills reads the peer has waiting;
//! - `NpAddDataQueueEntry` (datasup.c): the rest is copied into a queue entry charged
//!   against the queue's quota (the buffer size given to `CreateNamedPipe`, which may
//!   be 0). If the charge covers the rest the write completes at once with its full
//!   length; otherwise it pends, charged what quota was left;
//! - `NpReadDataQueue` (readsup.c) and `NpCompleteStalledWrites` (datasup.c): the
//!   peer's reads consume entries in order, releasing quota; after each read a pending
//!   write whose unread rest is now covered completes with its full length, and one
//!   the reader consumed to the end completes with its full length too;
//! - `NpCancelDataQueueIrp` (datasup.c): a cancelled pending write is removed from the
//!   queue and completes with STATUS_CANCELLED and **0 bytes**, although the reader
//!   may already have taken part of it (its `Information` is only set for writes that
//!   did not pend). With a quota of 0 every write pends until it is read to the end.
//!
//! Every byte the peer takes is checked against the stream the test meant to write,
//! so a write re-issued after a cancel that hid a partial read shows up as a repeat.

use super::kernel::out_byte;
use std::collections::VecDeque;

/// One write in the queue.
struct Entry {
    /// The whole write's length: what it reports when it completes, although a
    /// waiting read may have taken its start before it was queued.
    size: usize,
    /// What is left of it to read.
    data: Vec<u8>,
    /// Bytes of `data` the peer has read.
    taken: usize,
    /// Quota charged to it.
    charge: usize,
    /// It is our write still in flight.
    pending: bool,
}

impl Entry {
    fn rest(&self) -> usize {
        self.data.len() - self.taken
    }
}

/// The queue our end writes into and the peer reads from.
pub(crate) struct Outbound {
    pub quota: usize,
    salt: u64,
    entries: VecDeque<Entry>,
    /// Bytes the peer has read from our writes.
    pub delivered: u64,
    /// A read the peer has waiting, for this many bytes.
    pub peer_read: Option<usize>,
}

/// What a write did when it was issued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    /// Completed at once: every byte is the peer's (read or queued).
    Done(usize),
    /// Pends in the queue, charged less than its length.
    Pending,
}

impl Outbound {
    pub(crate) fn new(quota: usize, salt: u64) -> Self {
        Outbound {
            quota,
            salt,
            entries: VecDeque::new(),
            delivered: 0,
            peer_read: None,
        }
    }

    fn free(&self) -> usize {
        let used: usize = self.entries.iter().map(|e| e.charge).sum();
        self.quota.saturating_sub(used)
    }

    /// The peer takes `bytes`: each must be the next byte of the intended stream.
    fn deliver(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let expected = out_byte(self.salt, self.delivered);
            assert_eq!(
                b, expected,
                "invariant: the peer received a byte out of order at stream offset {} \
                 (a write lost or repeated bytes)",
                self.delivered
            );
            self.delivered += 1;
        }
    }

    /// WriteFile of `data` (our end's only operation in flight).
    pub(crate) fn write(&mut self, data: &[u8]) -> Issue {
        let size = data.len();
        let mut data = data;
        if let Some(want) = self.peer_read.take() {
            let n = want.min(data.len());
            self.deliver(&data[..n]);
            data = &data[n..];
        }
        let len = data.len();
        if len == 0 {
            return Issue::Done(0);
        }
        let free = self.free();
        let pending = len > free;
        self.entries.push_back(Entry {
            size,
            data: data.to_vec(),
            taken: 0,
            charge: len.min(free),
            pending,
        });
        if pending {
            Issue::Pending
        } else {
            Issue::Done(len)
        }
    }

    /// The peer reads up to `want` bytes (or leaves a read waiting if nothing is
    /// queued). Returns the full length of our pending write if this completed it.
    pub(crate) fn peer_reads(&mut self, want: usize) -> Option<usize> {
        if self.entries.is_empty() {
            self.peer_read = Some(want);
            return None;
        }
        let mut left = want;
        let mut completed = None;
        while left > 0 {
            let Some(head) = self.entries.front_mut() else {
                break;
            };
            let n = left.min(head.rest());
            let bytes = head.data[head.taken..head.taken + n].to_vec();
            head.taken += n;
            head.charge = head.charge.saturating_sub(n);
            left -= n;
            let finished = head.rest() == 0;
            self.deliver(&bytes);
            if finished {
                let head = self.entries.pop_front().expect("the head entry");
                if head.pending {
                    completed = Some(head.size);
                }
            }
        }
        completed.or_else(|| self.complete_stalled())
    }

    /// NpCompleteStalledWrites: quota goes to entries in order; our pending write
    /// completes once its unread rest is charged in full.
    fn complete_stalled(&mut self) -> Option<usize> {
        let mut free = self.free();
        for entry in self.entries.iter_mut() {
            if free == 0 {
                break;
            }
            let more = (entry.rest() - entry.charge).min(free);
            entry.charge += more;
            free -= more;
            if entry.pending && entry.charge == entry.rest() {
                entry.pending = false;
                return Some(entry.size);
            }
        }
        None
    }

    /// NpCancelDataQueueIrp (or a broken pipe): our pending write leaves the queue;
    /// returns how many of its bytes the peer already has.
    pub(crate) fn withdraw(&mut self) -> usize {
        let i = self
            .entries
            .iter()
            .position(|e| e.pending)
            .expect("a pending write to withdraw");
        let entry = self.entries.remove(i).expect("the pending entry");
        entry.size - entry.rest()
    }

    /// Bytes of completed writes still queued for the peer.
    pub(crate) fn queued(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| !e.pending)
            .map(|e| e.rest() as u64)
            .sum()
    }

    /// How much of our pending write the peer has, if one is queued (a waiting read
    /// may have taken its start before the rest was queued).
    pub(crate) fn pending_taken(&self) -> Option<usize> {
        let entry = self.entries.iter().find(|e| e.pending)?;
        Some(entry.size - entry.rest())
    }

    /// Whether our write is still in the queue, pending.
    pub(crate) fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(salt: u64, from: u64, len: usize) -> Vec<u8> {
        (from..from + len as u64)
            .map(|i| out_byte(salt, i))
            .collect()
    }

    #[test]
    fn a_write_that_fits_completes_at_once() {
        let mut q = Outbound::new(8, 1);
        assert_eq!(q.write(&stream(1, 0, 8)), Issue::Done(8));
        assert_eq!(q.queued(), 8);
        assert_eq!(q.write(&stream(1, 8, 1)), Issue::Pending);
    }

    #[test]
    fn with_no_quota_a_write_pends_until_read_to_the_end() {
        let mut q = Outbound::new(0, 2);
        assert_eq!(q.write(&stream(2, 0, 10)), Issue::Pending);
        assert_eq!(q.peer_reads(4), None);
        assert_eq!(q.delivered, 4);
        assert_eq!(q.peer_reads(6), Some(10));
        assert!(!q.has_pending());
    }

    #[test]
    fn a_cancelled_write_hides_what_the_peer_took() {
        let mut q = Outbound::new(0, 3);
        assert_eq!(q.write(&stream(3, 0, 10)), Issue::Pending);
        q.peer_reads(3);
        assert_eq!(q.pending_taken(), Some(3));
        assert_eq!(q.withdraw(), 3);
        assert_eq!(q.delivered, 3);
        // Writing the same 10 bytes again repeats the 3 the peer has.
        q.write(&stream(3, 0, 10));
        let repeat = std::panic::catch_unwind(move || q.peer_reads(1));
        assert!(repeat.is_err(), "the repeat must be caught");
    }

    #[test]
    fn a_stalled_write_completes_when_its_rest_is_covered() {
        let mut q = Outbound::new(8, 4);
        assert_eq!(q.write(&stream(4, 0, 6)), Issue::Done(6));
        assert_eq!(q.write(&stream(4, 6, 8)), Issue::Pending);
        // Reading the first write's 6 bytes frees quota for the whole second one.
        assert_eq!(q.peer_reads(6), Some(8));
        assert_eq!(q.queued(), 8);
    }

    #[test]
    fn a_waiting_read_takes_the_start_of_a_write() {
        let mut q = Outbound::new(0, 5);
        assert_eq!(q.peer_reads(3), None);
        assert_eq!(q.write(&stream(5, 0, 3)), Issue::Done(0));
        assert_eq!(q.delivered, 3);
        q.peer_reads(2);
        assert_eq!(q.write(&stream(5, 3, 5)), Issue::Pending);
        assert_eq!(q.delivered, 5);
        assert_eq!(q.pending_taken(), Some(2));
        // Completing, it reports the whole write, not what was queued of it.
        assert_eq!(q.peer_reads(3), Some(5));
    }
}
