//! An in-memory [`SharedData`] that follows Envoy's or ngx_wasm_module's CAS rules, can
//! make keys collide the way nginx's CRC32 lookup does, and can run code just before
//! each write to interleave simulated workers. Used by tests; small enough to ship.

use super::{HostError, SetError, SharedData};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Which host's CAS rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasRules {
    /// cas 0 writes unconditionally; a missing key is written whatever the cas.
    Envoy,
    /// The current cas is required; 0 only inserts a missing key.
    Nginx,
}

type SlotFn = Box<dyn Fn(&str) -> String>;
/// Code run before each write.
pub type Hook = Box<dyn FnMut()>;

/// A shared store for tests.
pub struct MemoryShared {
    rules: CasRules,
    slots: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: Cell<u32>,
    slot_of: SlotFn,
    before_set: RefCell<Option<Hook>>,
    writes: Cell<u64>,
    mismatches: Cell<u64>,
    failing: Cell<bool>,
}

impl MemoryShared {
    /// An empty store following `rules`, every key its own slot.
    pub fn new(rules: CasRules) -> Self {
        Self::with_slots(rules, |k| k.to_owned())
    }

    /// An empty store where keys are looked up by `slot_of(key)`: keys mapping to the
    /// same slot collide, as nginx's CRC32 lookup can make them.
    pub fn with_slots(rules: CasRules, slot_of: impl Fn(&str) -> String + 'static) -> Self {
        MemoryShared {
            rules,
            slots: RefCell::new(HashMap::new()),
            next_cas: Cell::new(1),
            slot_of: Box::new(slot_of),
            before_set: RefCell::new(None),
            writes: Cell::new(0),
            mismatches: Cell::new(0),
            failing: Cell::new(false),
        }
    }

    /// Runs `hook` at the start of every `set` (not re-entered by sets the hook makes).
    pub fn set_before_set(&self, hook: impl FnMut() + 'static) {
        *self.before_set.borrow_mut() = Some(Box::new(hook));
    }

    /// The hook slot, to remove or replace the hook.
    pub fn before_set_slot(&self) -> std::cell::RefMut<'_, Option<Hook>> {
        self.before_set.borrow_mut()
    }

    /// Removes every key (what an nginx reload does to shared memory).
    pub fn wipe(&self) {
        self.slots.borrow_mut().clear();
    }

    /// Makes every call fail with a host error (InternalFailure, 10) while `failing`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// Successful writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// Writes refused for a CAS mismatch so far.
    pub fn mismatches(&self) -> u64 {
        self.mismatches.get()
    }

    fn bump_cas(&self) -> u32 {
        let c = self.next_cas.get();
        // Skip 0 (means "no cas") and u32::MAX (the insert-if-absent marker).
        let next = match c.wrapping_add(1) {
            0 | u32::MAX => 1,
            n => n,
        };
        self.next_cas.set(next);
        c
    }
}

impl SharedData for MemoryShared {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, HostError> {
        if self.failing.get() {
            return Err(HostError(10));
        }
        let slot = (self.slot_of)(key);
        Ok(self.slots.borrow().get(&slot).cloned())
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        let hook = self.before_set.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook();
            *self.before_set.borrow_mut() = Some(hook);
        }
        if self.failing.get() {
            return Err(SetError::Host(HostError(10)));
        }
        let slot = (self.slot_of)(key);
        let current = self.slots.borrow().get(&slot).map(|(_, c)| *c);
        let ok = match (self.rules, current) {
            (CasRules::Envoy, None) => true,
            (CasRules::Envoy, Some(cur)) => cas == 0 || cas == cur,
            (CasRules::Nginx, None) => cas == 0,
            (CasRules::Nginx, Some(cur)) => cas == cur,
        };
        if !ok {
            self.mismatches.set(self.mismatches.get() + 1);
            return Err(SetError::CasMismatch);
        }
        let new_cas = self.bump_cas();
        self.slots.borrow_mut().insert(slot, (value.to_vec(), new_cas));
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_rules() {
        let s = MemoryShared::new(CasRules::Envoy);
        assert_eq!(s.set("k", b"a", 7), Ok(()), "missing key: any cas writes");
        let cas = s.get("k").unwrap().unwrap().1;
        assert_eq!(s.set("k", b"b", cas + 1), Err(SetError::CasMismatch));
        assert_eq!(s.set("k", b"b", u32::MAX), Err(SetError::CasMismatch));
        assert_eq!(s.set("k", b"c", 0), Ok(()), "cas 0 is unconditional");
        let cas = s.get("k").unwrap().unwrap().1;
        assert_eq!(s.set("k", b"d", cas), Ok(()));
        assert_eq!(s.get("k").unwrap().unwrap().0, b"d");
    }

    #[test]
    fn nginx_rules_and_collisions() {
        let s = MemoryShared::with_slots(CasRules::Nginx, |k| k.trim_end_matches(['1', '2']).to_owned());
        assert_eq!(s.set("k1", b"a", u32::MAX), Err(SetError::CasMismatch));
        assert_eq!(s.set("k1", b"a", 0), Ok(()));
        assert_eq!(s.set("k1", b"b", 0), Err(SetError::CasMismatch), "0 only inserts");
        // k2 collides with k1: it sees k1's value.
        assert_eq!(s.get("k2").unwrap().unwrap().0, b"a");
        s.wipe();
        assert_eq!(s.get("k1"), Ok(None));
    }
}
