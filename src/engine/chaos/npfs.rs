//! What our writes go into: the peer's inbound data queue, modelled on the named pipe
//! file system of Windows as ReactOS reimplements it (`drivers/filesystems/npfs/`,
//! whose kernel-mode tests are checked against Windows), with the driver's own
//! unsigned 32-bit arithmetic:
//!
//! - `NpWriteDataQueue` (writesup.c): a write first fills the read the peer has
//!   waiting, which gives back the quota it was charged;
//! - `NpAddDataQueueEntry` (datasup.c): the rest is queued, charged (`QuotaInEntry`)
//!   its unread length or, if less, what is free (`Quota - QuotaUsed`). If the charge
//!   covers the rest the write completes at once with its full length; otherwise it
//!   pends. A read left waiting is charged the same way;
//! - `NpReadDataQueue` (readsup.c): a read takes entries in order and subtracts what it
//!   took from the entry's charge and from `QuotaUsed`, **with no floor**: a read that
//!   takes more of a pending write than it was charged wraps both below zero. An entry
//!   read to the end leaves the queue (`NpRemoveDataQueueEntry`, a pending write then
//!   completes with its full length);
//! - `NpCompleteStalledWrites` (datasup.c), after every read: free quota goes to the
//!   pending writes in order, and one completes with its full length once its charge
//!   equals its unread rest. A wrapped charge is never below the rest, so such a write
//!   stays pending, partly read, until it is read to the end;
//! - `NpCancelDataQueueIrp` (datasup.c): a cancelled pending write leaves the queue
//!   and completes with STATUS_CANCELLED and **0 bytes**, although the reader may
//!   already have taken part of it (its `Information` is only set for writes that did
//!   not pend). With a quota of 0 every write pends until it is read to the end;
//! - `NpQueryPipeLocalInfo` (fileinfo.c): `WriteQuotaAvailable` is `Quota -
//!   QuotaUsed`, so a read left waiting lowers it by its charge;
//! - on a message-type pipe a zero-length write is an empty message: a waiting read
//!   takes it, else it is queued, charged nothing (`NpWriteDataQueue`'s
//!   `MoreProcessing`); on a byte-type pipe it moves nothing. A write in the
//!   nonblocking completion mode on a message-type pipe goes whole or not at all:
//!   whole if the waiting reads and the quota hold it, or with no read waiting if the
//!   free quota does (`NpCommonWrite`; Wine's `test_nowait` on Windows, where Wine
//!   itself writes part).
//!
//! `Arith::Saturating` is the tidied arithmetic this model had first (no charge below
//! zero); the fuzz input picks it now and then so the engine is checked under both.
//! Every byte the peer takes is checked against the stream the test meant to write,
//! so a write re-issued after a cancel that hid a partial read shows up as a repeat.

use super::kernel::out_byte;
use std::collections::VecDeque;

/// How the queue's unsigned quota counters are decremented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    /// As ReactOS's NPFS does it (`ULONG -=`): below zero wraps. The default.
    Wrapping,
    /// Never below zero, with `QuotaUsed` the sum of the charges.
    Saturating,
}

/// One write in the queue (`NP_DATA_QUEUE_ENTRY` of type `Buffered`).
struct Entry {
    /// `DataSize`: the whole write, which it reports when it completes, although a
    /// waiting read may have taken its start before it was queued.
    data: Vec<u8>,
    /// `QuotaInEntry`.
    charge: u32,
    /// Its IRP is still attached: our write, pending.
    pending: bool,
}

impl Entry {
    fn size(&self) -> u32 {
        self.data.len() as u32
    }
}

/// The queue our end writes into and the peer reads from (`NP_DATA_QUEUE`).
pub(crate) struct Outbound {
    /// `Quota`: the buffer size given to `CreateNamedPipe`.
    quota: u32,
    /// `QuotaUsed`.
    used: u32,
    /// `ByteOffset`: what has been read of the first entry.
    offset: u32,
    arith: Arith,
    salt: u64,
    entries: VecDeque<Entry>,
    /// Bytes the peer has read from our writes.
    pub delivered: u64,
    /// A read the peer has waiting: its length and its charge.
    read: Option<(u32, u32)>,
    /// A message-type pipe (else byte type).
    message_type: bool,
    /// Where the end-of-stream marker went in the stream (bytes before it), once sent.
    pub marker_at: Option<u64>,
    /// An empty message is the end-of-stream marker (`stream_io`); the message
    /// target sends as many as it likes, and bytes after them.
    pub markers: bool,
    /// Empty messages written.
    pub empties: u64,
    /// A message written in the nonblocking completion mode moves in part, as under
    /// Wine (Wine's `test_nowait`), not whole or not at all.
    pub split_nowait: bool,
}

/// What a write did when it was issued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    /// Completed at once: every byte is the peer's (read or queued).
    Done(usize),
    /// Pends in the queue, charged less than its unread length.
    Pending,
}

impl Outbound {
    pub(crate) fn new(quota: usize, salt: u64, arith: Arith, message_type: bool) -> Self {
        Outbound {
            quota: quota as u32,
            used: 0,
            offset: 0,
            arith,
            salt,
            entries: VecDeque::new(),
            delivered: 0,
            read: None,
            message_type,
            marker_at: None,
            markers: true,
            empties: 0,
            split_nowait: false,
        }
    }

    /// `Quota`: the buffer size.
    pub(crate) fn quota(&self) -> usize {
        self.quota as usize
    }

    /// Whether the peer has a read waiting that holds at least the whole quota (it
    /// is then charged all of it: no quota is free).
    pub(crate) fn read_holds_the_quota(&self) -> bool {
        self.quota > 0 && self.read.is_some_and(|(want, _)| want >= self.quota)
    }

    pub(crate) fn message_type(&self) -> bool {
        self.message_type
    }

    /// `WriteQuotaAvailable` (`NtQueryInformationFile`, `FilePipeLocalInformation`).
    pub(crate) fn write_quota_available(&self) -> usize {
        self.less(self.quota, self.used) as usize
    }

    /// `a - b` in the queue's arithmetic.
    fn less(&self, a: u32, b: u32) -> u32 {
        match self.arith {
            Arith::Wrapping => a.wrapping_sub(b),
            Arith::Saturating => a.saturating_sub(b),
        }
    }

    /// In the tidied arithmetic `QuotaUsed` is what the entries and the waiting read
    /// are charged.
    fn tidy(&mut self) {
        if self.arith == Arith::Saturating {
            let entries: u32 = self.entries.iter().map(|e| e.charge).sum();
            self.used = entries + self.read.map_or(0, |(_, charge)| charge);
        }
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

    /// WriteFile of `data` (our end's only write in flight): NpCommonWrite.
    pub(crate) fn write(&mut self, data: &[u8]) -> Issue {
        if data.is_empty() {
            return self.empty_write();
        }
        assert!(
            self.marker_at.is_none() || !self.markers,
            "invariant: bytes written after the end-of-stream marker"
        );
        let taken = self.fill_waiting_read(data);
        if taken == data.len() as u32 {
            return Issue::Done(data.len());
        }
        self.add_entry(data, taken)
    }

    /// NpWriteDataQueue: the waiting read takes the start of `data` and leaves the
    /// queue (NpRemoveDataQueueEntry gives its charge back); returns how much it took.
    fn fill_waiting_read(&mut self, data: &[u8]) -> u32 {
        let Some((want, charge)) = self.read.take() else {
            return 0;
        };
        self.used = self.less(self.used, charge);
        let n = want.min(data.len() as u32);
        self.deliver(&data[..n as usize]);
        self.tidy();
        n
    }

    /// A zero-length write: on a message-type pipe the end-of-stream marker, which a
    /// waiting read takes or the queue keeps, charged nothing; nothing on a byte-type
    /// pipe. Completes at once either way.
    fn empty_write(&mut self) -> Issue {
        if !self.message_type {
            return Issue::Done(0);
        }
        if self.markers {
            assert!(
                self.marker_at.is_none(),
                "invariant: a second end-of-stream marker"
            );
            self.marker_at = Some(self.delivered + self.queued());
        }
        self.empties += 1;
        let read_waits = self.read.is_some();
        self.fill_waiting_read(&[]);
        if !read_waits {
            self.entries.push_back(Entry {
                data: Vec::new(),
                charge: 0,
                pending: false,
            });
        }
        Issue::Done(0)
    }

    /// WriteFile in the nonblocking completion mode (NpCommonWrite with
    /// FILE_PIPE_COMPLETE_OPERATION, byte type): the waiting read takes what it asks,
    /// and the rest is queued only if the free quota covers all of it. Completes at
    /// once, never pending, with the count of bytes that became the peer's.
    pub(crate) fn write_at_once(&mut self, data: &[u8]) -> usize {
        if data.is_empty() {
            // Charged nothing, an empty message always goes.
            self.write(data);
            return 0;
        }
        if self.message_type && !self.split_nowait && !self.holds_whole(data.len() as u32) {
            return 0;
        }
        let taken = self.fill_waiting_read(data);
        let rest = data.len() as u32 - taken;
        if rest > 0 && self.less(self.quota, self.used) >= rest {
            self.add_entry(data, taken);
            return data.len();
        }
        taken as usize
    }

    /// Whether a message of `size` goes in the nonblocking completion mode: the
    /// waiting read and the quota hold it, or (no read waiting) the free quota does.
    fn holds_whole(&self, size: u32) -> bool {
        match self.read {
            Some((want, _)) => size <= want || self.quota >= size - want,
            None => self.less(self.quota, self.used) >= size,
        }
    }

    /// NpAddDataQueueEntry for a write whose first `offset` bytes a read took.
    fn add_entry(&mut self, data: &[u8], offset: u32) -> Issue {
        let size = data.len() as u32;
        let free = self.less(self.quota, self.used);
        let mut charge = size - offset;
        let pending = free < charge;
        if pending {
            charge = free;
        }
        self.used = self.used.wrapping_add(charge);
        if offset > 0 {
            debug_assert!(
                self.entries.is_empty(),
                "a read waited on a queue of writes"
            );
            self.offset = offset;
        }
        self.entries.push_back(Entry {
            data: data.to_vec(),
            charge,
            pending,
        });
        self.tidy();
        if pending {
            Issue::Pending
        } else {
            Issue::Done(data.len())
        }
    }

    /// The peer reads up to `want` bytes, or leaves a read waiting if nothing is
    /// queued (charged like a write). Returns the full length of our pending write if
    /// this completed it.
    pub(crate) fn peer_reads(&mut self, want: usize) -> Option<usize> {
        let want = want as u32;
        if self.entries.is_empty() {
            if self.read.is_none() {
                let charge = want.min(self.less(self.quota, self.used));
                self.used = self.used.wrapping_add(charge);
                self.read = Some((want, charge));
                self.tidy();
            }
            return None;
        }
        self.read_queue(want)
    }

    /// NpReadDataQueue in byte mode, not a peek.
    fn read_queue(&mut self, want: u32) -> Option<usize> {
        let mut remaining = want;
        let mut completed = None;
        while remaining > 0 {
            let Some(head) = self.entries.front_mut() else {
                break;
            };
            let left = head.size() - self.offset;
            let n = left.min(remaining);
            let start = self.offset as usize;
            let bytes = head.data[start..start + n as usize].to_vec();
            head.charge = match self.arith {
                Arith::Wrapping => head.charge.wrapping_sub(n),
                Arith::Saturating => head.charge.saturating_sub(n),
            };
            self.used = self.less(self.used, n);
            self.offset += n;
            remaining -= n;
            self.deliver(&bytes);
            if left == n {
                completed = completed.or(self.remove_head());
            }
        }
        self.tidy();
        completed.or_else(|| self.complete_stalled(self.offset))
    }

    /// NpRemoveDataQueueEntry of the first entry: returns the full length of our
    /// write if it was still pending (it completes so).
    fn remove_head(&mut self) -> Option<usize> {
        let entry = self.entries.pop_front().expect("the head entry");
        let has_writes = self.used >= self.quota && entry.charge != 0;
        self.used = self.less(self.used, entry.charge);
        self.tidy();
        let mut completed = entry.pending.then_some(entry.data.len());
        if has_writes && !self.entries.is_empty() {
            // Called before ByteOffset is reset, as the driver does.
            completed = completed.or(self.complete_stalled(self.offset));
        }
        self.offset = 0;
        completed
    }

    /// NpCompleteStalledWrites, the first entry read up to `offset`: quota goes to
    /// pending writes in order; ours completes once its charge equals its unread rest.
    fn complete_stalled(&mut self, offset: u32) -> Option<usize> {
        let mut left = self.less(self.quota, self.used);
        let mut offset = offset;
        let mut completed = None;
        for entry in self.entries.iter_mut() {
            if left == 0 {
                break;
            }
            let data_left = entry.size().wrapping_sub(offset);
            if entry.pending && entry.charge < data_left {
                let more = (data_left - entry.charge).min(left);
                left -= more;
                entry.charge += more;
                if entry.charge == data_left {
                    entry.pending = false;
                    completed = completed.or(Some(entry.data.len()));
                }
            }
            offset = 0;
        }
        self.used = self.quota.wrapping_sub(left);
        self.tidy();
        completed
    }

    /// NpCancelDataQueueIrp (or a broken pipe): our pending write leaves the queue;
    /// returns how many of its bytes the peer already has. No other write pends, so
    /// the stalled-write pass it may run completes nothing.
    pub(crate) fn withdraw(&mut self) -> usize {
        let i = self
            .entries
            .iter()
            .position(|e| e.pending)
            .expect("a pending write to withdraw");
        let taken = if i == 0 { self.offset } else { 0 };
        if i == 0 {
            self.offset = 0;
        }
        let entry = self.entries.remove(i).expect("the pending entry");
        self.used = self.less(self.used, entry.charge);
        self.tidy();
        taken as usize
    }

    /// The peer went away: its waiting read is gone.
    pub(crate) fn peer_gone(&mut self) {
        if let Some((_, charge)) = self.read.take() {
            self.used = self.less(self.used, charge);
            self.tidy();
        }
    }

    /// The unread rest of entry `i`.
    fn rest(&self, i: usize) -> u32 {
        let offset = if i == 0 { self.offset } else { 0 };
        self.entries[i].size() - offset
    }

    /// Bytes of completed writes still queued for the peer.
    pub(crate) fn queued(&self) -> u64 {
        (0..self.entries.len())
            .filter(|&i| !self.entries[i].pending)
            .map(|i| u64::from(self.rest(i)))
            .sum()
    }

    /// How much of our pending write the peer has, if one is queued (a waiting read
    /// may have taken its start before the rest was queued).
    pub(crate) fn pending_taken(&self) -> Option<usize> {
        let i = self.entries.iter().position(|e| e.pending)?;
        Some((self.entries[i].size() - self.rest(i)) as usize)
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

    const BOTH: [Arith; 2] = [Arith::Wrapping, Arith::Saturating];

    #[test]
    fn a_write_that_fits_completes_at_once() {
        for arith in BOTH {
            let mut q = Outbound::new(8, 1, arith, false);
            assert_eq!(q.write_quota_available(), 8);
            assert_eq!(q.write(&stream(1, 0, 8)), Issue::Done(8));
            assert_eq!(q.queued(), 8);
            assert_eq!(q.write_quota_available(), 0);
            assert_eq!(q.write(&stream(1, 8, 1)), Issue::Pending);
        }
    }

    #[test]
    fn with_no_quota_a_write_pends_until_read_to_the_end() {
        for arith in BOTH {
            let mut q = Outbound::new(0, 2, arith, false);
            assert_eq!(q.write(&stream(2, 0, 10)), Issue::Pending);
            assert_eq!(q.peer_reads(4), None);
            assert_eq!(q.delivered, 4);
            assert_eq!(q.peer_reads(6), Some(10));
            assert!(!q.has_pending());
            assert_eq!(q.write_quota_available(), 0);
        }
    }

    #[test]
    fn a_cancelled_write_hides_what_the_peer_took() {
        let mut q = Outbound::new(0, 3, Arith::Wrapping, false);
        assert_eq!(q.write(&stream(3, 0, 10)), Issue::Pending);
        q.peer_reads(3);
        assert_eq!(q.pending_taken(), Some(3));
        assert_eq!(q.withdraw(), 3);
        assert_eq!(q.delivered, 3);
        assert_eq!(
            q.write_quota_available(),
            0,
            "the wrapped charge left with it"
        );
        // Writing the same 10 bytes again repeats the 3 the peer has.
        q.write(&stream(3, 0, 10));
        let repeat = std::panic::catch_unwind(move || q.peer_reads(1));
        assert!(repeat.is_err(), "the repeat must be caught");
    }

    #[test]
    fn a_stalled_write_completes_when_its_rest_is_covered() {
        for arith in BOTH {
            let mut q = Outbound::new(8, 4, arith, false);
            assert_eq!(q.write(&stream(4, 0, 6)), Issue::Done(6));
            assert_eq!(q.write(&stream(4, 6, 8)), Issue::Pending);
            // Reading the first write's 6 bytes frees quota for the whole second one.
            assert_eq!(q.peer_reads(6), Some(8));
            assert_eq!(q.queued(), 8);
        }
    }

    #[test]
    fn a_read_past_a_pending_writes_charge_wraps_it_and_it_stays_pending() {
        // 6 bytes queued, then a write of 8 charged the 2 left of the quota of 8.
        let run = |arith| {
            let mut q = Outbound::new(8, 6, arith, false);
            assert_eq!(q.write(&stream(6, 0, 6)), Issue::Done(6));
            assert_eq!(q.write(&stream(6, 6, 8)), Issue::Pending);
            // One read of 10 takes the first write and 4 of the pending one: 2 more
            // than it was charged.
            (q.peer_reads(10), q)
        };
        let (completed, q) = run(Arith::Saturating);
        assert_eq!(
            completed,
            Some(8),
            "tidied: its rest of 4 fits, it completes"
        );
        assert_eq!(q.queued(), 4);
        let (completed, mut q) = run(Arith::Wrapping);
        assert_eq!(
            completed, None,
            "ReactOS: QuotaInEntry wrapped, so it stays pending"
        );
        assert_eq!(q.pending_taken(), Some(4));
        // QuotaUsed wrapped too: more quota seems free than the pipe has.
        assert_eq!(q.write_quota_available(), 10);
        // A cancel now reports 0 bytes for a write the peer has 4 bytes of.
        assert_eq!(q.withdraw(), 4);
        assert_eq!(q.write_quota_available(), 8);
        // Read to the end instead, it completes with its full length.
        let (_, mut q) = run(Arith::Wrapping);
        assert_eq!(q.peer_reads(3), None);
        assert_eq!(q.peer_reads(1), Some(8));
        assert_eq!(q.write_quota_available(), 8);
    }

    #[test]
    fn a_waiting_read_takes_the_start_of_a_write_and_lowers_the_free_quota() {
        for arith in BOTH {
            let mut q = Outbound::new(0, 5, arith, false);
            assert_eq!(q.peer_reads(3), None);
            assert_eq!(q.write(&stream(5, 0, 3)), Issue::Done(3));
            assert_eq!(q.delivered, 3);
            q.peer_reads(2);
            assert_eq!(q.write(&stream(5, 3, 5)), Issue::Pending);
            assert_eq!(q.delivered, 5);
            assert_eq!(q.pending_taken(), Some(2));
            // Completing, it reports the whole write, not what was queued of it.
            assert_eq!(q.peer_reads(3), Some(5));
            // With a quota, a waiting read is charged what it asks, at most the quota.
            let mut q = Outbound::new(16, 5, arith, false);
            q.peer_reads(10);
            assert_eq!(q.write_quota_available(), 6);
            q.peer_gone();
            assert_eq!(q.write_quota_available(), 16);
        }
    }

    #[test]
    fn a_nonblocking_write_moves_what_a_waiting_read_takes_and_never_pends() {
        for arith in BOTH {
            let mut q = Outbound::new(0, 7, arith, false);
            assert_eq!(q.write_at_once(&stream(7, 0, 10)), 0, "no read waits");
            assert_eq!(q.peer_reads(4), None);
            assert_eq!(q.write_at_once(&stream(7, 0, 10)), 4);
            assert_eq!(q.delivered, 4);
            assert!(!q.has_pending());
            // With quota, a rest the free quota covers is queued too.
            let mut q = Outbound::new(8, 7, arith, false);
            q.peer_reads(4);
            assert_eq!(q.write_at_once(&stream(7, 0, 10)), 10);
            assert_eq!(q.queued(), 6);
            assert_eq!(
                q.write_at_once(&stream(7, 10, 3)),
                0,
                "2 free: nothing queued"
            );
        }
    }

    #[test]
    fn a_nonblocking_message_goes_whole_or_not_at_all() {
        // Wine's test_nowait on Windows, quota 512, message type.
        for arith in BOTH {
            let q = |arith| Outbound::new(512, 8, arith, true);
            let mut nothing_waits = q(arith);
            assert_eq!(nothing_waits.write_at_once(&stream(8, 0, 513)), 0);
            assert_eq!(nothing_waits.write_at_once(&stream(8, 0, 512)), 512);
            let mut big_read = q(arith);
            big_read.peer_reads(32768);
            assert_eq!(big_read.write_at_once(&stream(8, 0, 513)), 513);
            let mut one_byte_read = q(arith);
            one_byte_read.peer_reads(1);
            assert_eq!(one_byte_read.write_at_once(&stream(8, 0, 513)), 513);
            assert_eq!((one_byte_read.delivered, one_byte_read.queued()), (1, 512));
            let mut too_much = q(arith);
            too_much.peer_reads(1);
            assert_eq!(too_much.write_at_once(&stream(8, 0, 514)), 0);
            assert_eq!(too_much.delivered, 0, "the waiting read got nothing");
            // Byte type: what the waiting read takes, none of a rest that does not fit.
            let mut bytes = Outbound::new(512, 8, arith, false);
            bytes.peer_reads(1);
            assert_eq!(bytes.write_at_once(&stream(8, 0, 514)), 1);
        }
    }

    #[test]
    fn an_empty_message_is_queued_free_or_taken_by_a_waiting_read() {
        for arith in BOTH {
            let mut q = Outbound::new(4, 9, arith, true);
            assert_eq!(q.write(&stream(9, 0, 4)), Issue::Done(4));
            assert_eq!(q.write_quota_available(), 0);
            // Behind a full buffer it still completes at once.
            assert_eq!(q.write(&[]), Issue::Done(0));
            assert_eq!(q.marker_at, Some(4));
            assert_eq!(q.entries.len(), 2);
            q.peer_reads(8);
            assert!(q.entries.is_empty() && q.delivered == 4);
            // A waiting read takes it; on a byte-type pipe it is nothing at all.
            let mut q = Outbound::new(4, 9, arith, true);
            q.peer_reads(8);
            assert_eq!(q.write(&[]), Issue::Done(0));
            assert!(q.entries.is_empty() && q.read.is_none());
            let mut q = Outbound::new(4, 9, arith, false);
            q.peer_reads(8);
            assert_eq!(q.write(&[]), Issue::Done(0));
            assert!(q.marker_at.is_none() && q.read.is_some());
        }
    }
}
