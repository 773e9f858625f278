//! The pipe namespace seen by `connect` and `accept`: our listener's instances, other
//! servers' instances, and the clients attached to them.

use super::kernel::ok;
use crate::engine::{Code, Completion};
use crate::ffi::*;

/// One of our server instances.
#[derive(Default)]
pub(crate) struct Slot {
    /// A client opened this instance; `true` once it has closed again.
    pub client: Option<bool>,
    /// The handle was closed.
    pub closed: bool,
    /// `accept` returned it.
    pub accepted: bool,
    /// Our own `connect` opened it.
    pub ours: bool,
}

#[derive(Default)]
pub(crate) struct Space {
    pub slots: Vec<Slot>,
    /// Other servers' instances with no client, and with one.
    pub foreign_free: usize,
    pub foreign_busy: usize,
    /// Set while the run is torn down: dropping a waiting client is then expected.
    pub teardown: bool,
}

impl Space {
    /// Our instances that can take a client.
    fn listening(&self) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| !s.closed && !s.accepted && s.client.is_none())
    }

    /// Our instances whose handles are open: what the pipe's instance limit counts.
    pub(crate) fn open_instances(&self) -> usize {
        self.slots.iter().filter(|s| !s.closed).count()
    }

    /// CreateNamedPipe succeeded: a new instance.
    pub(crate) fn create(&mut self) -> usize {
        self.slots.push(Slot::default());
        self.slots.len() - 1
    }

    /// A foreign client opens one of our listening instances.
    pub(crate) fn client_arrives(&mut self) {
        if let Some(i) = self.listening() {
            self.slots[i].client = Some(false);
        }
    }

    /// A client of one of our unaccepted instances closes its end.
    pub(crate) fn client_leaves(&mut self) {
        let waiting = self
            .slots
            .iter_mut()
            .find(|s| !s.closed && !s.accepted && s.client == Some(false));
        if let Some(slot) = waiting {
            slot.client = Some(true);
        }
    }

    /// What ConnectNamedPipe says at once when the client came first.
    pub(crate) fn connected_before(&self, id: usize) -> Option<Code> {
        match self.slots[id].client {
            Some(false) => Some(ERROR_PIPE_CONNECTED),
            Some(true) => Some(ERROR_NO_DATA),
            None => None,
        }
    }

    /// A pending ConnectNamedPipe completes when a client arrives.
    pub(crate) fn complete_connect(
        &mut self,
        id: usize,
        cancel: bool,
        choice: u8,
    ) -> Option<Completion> {
        const CONNECT_ERRORS: [Code; 5] = [
            ERROR_BROKEN_PIPE,
            ERROR_PIPE_NOT_CONNECTED,
            ERROR_ACCESS_DENIED,
            ERROR_PIPE_LISTENING,
            ERROR_FILE_NOT_FOUND,
        ];
        if self.slots[id].client.is_some() {
            return Some(ok(0));
        }
        if cancel {
            return Some(Completion::failed(ERROR_OPERATION_ABORTED));
        }
        (choice % 16 == 13).then(|| {
            Completion::failed(CONNECT_ERRORS[usize::from(choice / 16) % CONNECT_ERRORS.len()])
        })
    }

    /// CreateFile by a client: takes a free instance (ours first) or says why not.
    pub(crate) fn open(&mut self) -> Result<Option<usize>, Code> {
        if let Some(i) = self.listening() {
            self.slots[i].client = Some(false);
            self.slots[i].ours = true;
            return Ok(Some(i));
        }
        if self.foreign_free > 0 {
            self.foreign_free -= 1;
            self.foreign_busy += 1;
            return Ok(None);
        }
        let exists = self.foreign_busy > 0 || self.slots.iter().any(|s| !s.closed && !s.accepted);
        Err(if exists {
            ERROR_PIPE_BUSY
        } else {
            ERROR_FILE_NOT_FOUND
        })
    }

    /// Another client wins the race for a free instance.
    pub(crate) fn steal(&mut self) -> bool {
        if let Some(i) = self.listening() {
            self.slots[i].client = Some(false);
            return true;
        }
        if self.foreign_free > 0 {
            self.foreign_free -= 1;
            self.foreign_busy += 1;
            return true;
        }
        false
    }

    /// The handle of our instance `id` is closed.
    pub(crate) fn close(&mut self, id: usize) {
        let teardown = self.teardown;
        let slot = &mut self.slots[id];
        slot.closed = true;
        // While a failed check unwinds, instances are dropped with their clients: a
        // second panic here would abort the test binary and lose the first message.
        assert!(
            teardown || std::thread::panicking() || slot.accepted || slot.client.is_none(),
            "invariant: an instance with a connected client was dropped without being accepted"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closes instance `id` of the space when dropped, as a listener's instance does.
    struct Instance<'a>(&'a std::cell::RefCell<Space>, usize);

    impl Drop for Instance<'_> {
        fn drop(&mut self) {
            self.0.borrow_mut().close(self.1);
        }
    }

    #[test]
    fn a_failed_check_unwinding_past_a_connected_instance_keeps_its_message() {
        // Before, close asserted again during the unwind: a panic while panicking
        // aborted the whole test binary.
        let space = std::cell::RefCell::new(Space::default());
        let id = space.borrow_mut().create();
        space.borrow_mut().client_arrives();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _instance = Instance(&space, id);
            panic!("invariant: the first failure");
        }));
        let message = failed.unwrap_err();
        assert_eq!(
            message.downcast_ref::<&str>(),
            Some(&"invariant: the first failure")
        );
        assert!(space.borrow().slots[id].closed);
    }
}
