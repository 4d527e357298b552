// SPDX-License-Identifier: GPL-2.0

//! Receive-side scaling through the control ring (beyond the C netfront): once the backend
//! is connected, the frontend selects Toeplitz hashing, enables every hash type the backend
//! computes, sets a random 40-byte key and a mapping table spread over the connected queues
//! (reference sections 1.10 and 1.11); `ethtool -x/-X` reads and changes key and table,
//! `ethtool -n <dev> rx-flow-hash` reports what is hashed. The key and a table the user set
//! are kept across reconnects while they fit ([`RssSettings::fit`]).
//!
//! The backend's hash arrives on received packets as a `HASH` extra, which `rx.rs` puts in
//! the skb.

use kernel::prelude::*;

use crate::ctrl::{CtrlChannel, CtrlFail};
use crate::netdev::Info;
use crate::xen::net::rss_key_fill;
use crate::xen::protocol::ctrl::{
    ctrl_type, flags_to_enable, hashed_fields, FlowKind, HashAlgorithm, HashedFields, RssSettings,
    TableFit, FRONTEND_MAX_MAPPING_SIZE, MAX_HASH_KEY_SIZE,
};
use crate::xenbus::Netfront;

/// The RSS state of a device, under `Info::rss` (a mutex).
///
/// Taken in process context only, and nothing else is locked under it: by the xenbus
/// handlers in xenwatch (connect installs the channel with the connection mutex held, so
/// connection -> RSS; [`Netfront::rss_apply_after_connect`] without it; `disconnect` takes
/// the channel out with the connection mutex held, after cancelling its requests) and by
/// the ethtool operations (RTNL and the core's `rss_lock` held: RTNL -> RSS). A control
/// request sleeps under it, a whole series of requests bounded by
/// [`crate::ctrl::CTRL_TIMEOUT_MS`]; a disconnect's cancel cuts short an `ethtool`
/// request (the configuration after a connect runs in xenwatch, where the disconnects of
/// backend state changes run too: they come after it, so only its bound limits it).
pub(crate) struct Rss {
    /// The connection's control ring, if the backend offered one and it was set up.
    ctrl: Option<CtrlChannel>,
    /// Key and table, kept across connections.
    settings: RssSettings,
    /// The backend hashes with [`Self::settings`] on this connection: every step of the
    /// configuration succeeded. Only then do the ethtool operations answer.
    active: bool,
    /// The hash types enabled on the backend (valid while `active`).
    flags: u32,
}

impl Rss {
    /// No control ring yet; the kernel's RSS key.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; MAX_HASH_KEY_SIZE];
        rss_key_fill(&mut key);
        Self {
            ctrl: None,
            settings: RssSettings::new(key),
            active: false,
            flags: 0,
        }
    }

    /// Installs a new connection's control channel; gives back the previous one, if any
    /// (`disconnect` normally took it), for the caller to drop outside the lock.
    pub(crate) fn install(&mut self, ch: CtrlChannel) -> Option<CtrlChannel> {
        self.active = false;
        self.ctrl.replace(ch)
    }

    /// Takes the control channel out, for its teardown (after its requests were cancelled).
    pub(crate) fn take_channel(&mut self) -> Option<CtrlChannel> {
        self.active = false;
        self.ctrl.take()
    }
}

/// A failed configuration step: which request, and why.
struct StepFailed(&'static str, CtrlFail);

/// Sends one request and names it on failure.
fn step(
    ch: &mut CtrlChannel,
    what: &'static str,
    type_: u16,
    data: [u32; 3],
) -> Result<u32, StepFailed> {
    ch.request(type_, data).map_err(|e| StepFailed(what, e))
}

/// Sends the key (in the data page) to the backend.
fn send_key(ch: &mut CtrlChannel, key: &[u8; MAX_HASH_KEY_SIZE]) -> Result<(), StepFailed> {
    ch.write_data(key)
        .map_err(|e| StepFailed("SET_HASH_KEY", CtrlFail::Broken(e)))?;
    let gref = ch.data_gref();
    step(
        ch,
        "SET_HASH_KEY",
        ctrl_type::SET_HASH_KEY,
        [gref, MAX_HASH_KEY_SIZE as u32, 0],
    )?;
    Ok(())
}

/// Sends the whole mapping table (in the data page) to the backend, which has it sized.
fn send_table(ch: &mut CtrlChannel, table: &[u32]) -> Result<(), StepFailed> {
    if table.is_empty() {
        return Ok(());
    }
    let mut bytes = [0u8; FRONTEND_MAX_MAPPING_SIZE as usize * 4];
    for (b, q) in bytes.chunks_exact_mut(4).zip(table) {
        for (d, s) in b.iter_mut().zip(q.to_le_bytes()) {
            *d = s;
        }
    }
    ch.write_data(&bytes[..table.len() * 4])
        .map_err(|e| StepFailed("SET_HASH_MAPPING", CtrlFail::Broken(e)))?;
    let gref = ch.data_gref();
    step(
        ch,
        "SET_HASH_MAPPING",
        ctrl_type::SET_HASH_MAPPING,
        [gref, table.len() as u32, 0],
    )?;
    Ok(())
}

impl Rss {
    /// The configuration after a connect, for `queues` connected queues; `active` on
    /// success.
    fn configure(&mut self, queues: u32) -> Result<TableFit, StepFailed> {
        let Some(ch) = self.ctrl.as_mut() else {
            return Err(StepFailed("set-up", CtrlFail::Broken(ENODEV)));
        };
        // The whole configuration, with the best-effort reset after a failure, waits at
        // most `CTRL_TIMEOUT_MS` for the backend (it runs in xenwatch).
        ch.start_series();
        step(
            ch,
            "SET_HASH_ALGORITHM",
            ctrl_type::SET_HASH_ALGORITHM,
            [HashAlgorithm::Toeplitz as u32, 0, 0],
        )?;
        let offered = step(ch, "GET_HASH_FLAGS", ctrl_type::GET_HASH_FLAGS, [0; 3])?;
        let flags = flags_to_enable(offered);
        step(
            ch,
            "SET_HASH_FLAGS",
            ctrl_type::SET_HASH_FLAGS,
            [flags, 0, 0],
        )?;
        send_key(ch, self.settings.key())?;
        let size = step(
            ch,
            "GET_HASH_MAPPING_SIZE",
            ctrl_type::GET_HASH_MAPPING_SIZE,
            [0; 3],
        )?;
        let fit = self.settings.fit(size, queues);
        let table = self.settings.table();
        step(
            ch,
            "SET_HASH_MAPPING_SIZE",
            ctrl_type::SET_HASH_MAPPING_SIZE,
            [table.len() as u32, 0, 0],
        )?;
        send_table(ch, table)?;
        self.flags = flags;
        self.active = true;
        Ok(fit)
    }
}

impl Netfront {
    /// Configures receive-side scaling for the connection just made, if it has a control
    /// ring: Toeplitz, every hash type the backend computes, the key, and the table
    /// (re-spread over the connected queues unless the user's still fits). Called once
    /// the backend is Connected (it serves the ring from then on; the C backend maps it
    /// before it goes Connected), from xenwatch, without the connection mutex (a
    /// disconnect in another thread can cancel the requests; the whole series waits at most
    /// [`crate::ctrl::CTRL_TIMEOUT_MS`] for the backend). A failed step is logged with its
    /// status and leaves RSS off for this connection (the hash algorithm set back to none
    /// if the ring still works); the connection itself goes on.
    pub(crate) fn rss_apply_after_connect(&self) {
        let queues = self.info.active_queues().len() as u32;
        let name = self.info.shared.netdev.name();
        let mut rss = self.info.rss.lock();
        if rss.ctrl.is_none() {
            return;
        }
        rss.active = false;
        match rss.configure(queues) {
            Ok(fit) => {
                let kept = matches!(fit, TableFit::KeptUserTable);
                pr_info!(
                    "{}: RSS on: Toeplitz, hash types {:#x}, {}-entry table over {} queue(s){}\n",
                    name,
                    rss.flags,
                    rss.settings.table().len(),
                    queues,
                    if kept { " (the user's, kept)" } else { "" }
                );
                if let TableFit::Spread {
                    dropped_user_table: true,
                } = fit
                {
                    pr_info!(
                        "{}: the RSS table set with ethtool -X does not fit {} queue(s) of the new connection; spread again\n",
                        name,
                        queues
                    );
                }
            }
            Err(StepFailed(what, why)) => {
                pr_warn!(
                    "{}: control ring: {} failed ({}); going on without RSS\n",
                    name,
                    what,
                    why
                );
                if let (CtrlFail::Status(_), Some(ch)) = (why, rss.ctrl.as_mut()) {
                    // Best effort: the backend back to steering on its own.
                    let _ = ch.request(
                        ctrl_type::SET_HASH_ALGORITHM,
                        [HashAlgorithm::None as u32, 0, 0],
                    );
                }
            }
        }
    }
}

/// The ethtool side (`NetDriver` in `netdev.rs` forwards here). Each runs in process
/// context with RTNL held (`get_rxfh`, `set_rxfh` and `get_rxfh_fields` with the core's
/// `rss_lock` too) and takes the RSS mutex.
impl Info {
    /// `get_rxfh_key_size`: 40 while RSS is on, else 0.
    pub(crate) fn rss_key_size_now(&self) -> u32 {
        if self.rss.lock().active {
            MAX_HASH_KEY_SIZE as u32
        } else {
            0
        }
    }

    /// `get_rxfh_indir_size`: the table's size while RSS is on, else 0.
    pub(crate) fn rss_indir_size_now(&self) -> u32 {
        let rss = self.rss.lock();
        if rss.active {
            rss.settings.table().len() as u32
        } else {
            0
        }
    }

    /// `get_rxfh`: the key and the table; `EOPNOTSUPP` while RSS is off, `EAGAIN` if the
    /// sizes changed since the core asked for them (a reconnect in between).
    pub(crate) fn rss_read(&self, key: Option<&mut [u8]>, indir: Option<&mut [u32]>) -> Result {
        let rss = self.rss.lock();
        if !rss.active {
            return Err(EOPNOTSUPP);
        }
        let table = rss.settings.table();
        if key.as_ref().is_some_and(|k| k.len() != MAX_HASH_KEY_SIZE)
            || indir.as_ref().is_some_and(|t| t.len() != table.len())
        {
            return Err(EAGAIN);
        }
        // Element-wise (the lengths were checked just above).
        for (d, s) in key.into_iter().flatten().zip(rss.settings.key()) {
            *d = *s;
        }
        for (d, s) in indir.into_iter().flatten().zip(table) {
            *d = *s;
        }
        Ok(())
    }

    /// `set_rxfh`: a new key and/or table, sent through the control ring and kept only if
    /// the backend took them (on a failure the old ones stay, on the backend too as far as
    /// it still answers). `EOPNOTSUPP` while RSS is off; `EINVAL` for a table of another
    /// size or naming a queue that is not connected; `EIO` for a refusal, `ETIMEDOUT` when
    /// the backend did not answer (RSS is then off: the ring is not used again).
    pub(crate) fn rss_write(&self, key: Option<&[u8]>, indir: Option<&[u32]>) -> Result {
        let name = self.shared.netdev.name();
        let queues = self.active_queues().len() as u32;
        let mut guard = self.rss.lock();
        let rss = &mut *guard;
        if !rss.active {
            return Err(EOPNOTSUPP);
        }
        let Some(ch) = rss.ctrl.as_mut() else {
            return Err(EOPNOTSUPP);
        };
        // The key, the table and a key put back wait at most `CTRL_TIMEOUT_MS` in all
        // (RTNL is held).
        ch.start_series();
        let key: Option<&[u8; MAX_HASH_KEY_SIZE]> = match key {
            Some(k) => Some(k.try_into().map_err(|_| EINVAL)?),
            None => None,
        };
        if let Some(t) = indir {
            rss.settings.check_table(t, queues).map_err(|_| EINVAL)?;
        }
        let old_key = *rss.settings.key();
        let r = (|| -> Result<(), StepFailed> {
            if let Some(k) = key {
                send_key(ch, k)?;
            }
            if let Some(t) = indir {
                if let Err(e) = send_table(ch, t) {
                    if key.is_some() && matches!(e.1, CtrlFail::Status(_)) {
                        // Best effort: the old key back, so the old configuration stays.
                        let _ = send_key(ch, &old_key);
                    }
                    return Err(e);
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => {
                if let Some(k) = key {
                    rss.settings.set_key(k);
                }
                if let Some(t) = indir {
                    // The size was checked above, under the same lock.
                    rss.settings.set_table(t, queues).map_err(|_| EINVAL)?;
                }
                Ok(())
            }
            Err(StepFailed(what, why)) => {
                pr_warn!(
                    "{}: ethtool -X: control ring {} failed ({}); RSS settings unchanged\n",
                    name,
                    what,
                    why
                );
                if ch.broken().is_some() {
                    rss.active = false;
                    pr_warn!("{}: control ring not used any more; RSS off\n", name);
                }
                Err(why.to_error())
            }
        }
    }

    /// `get_rxfh_fields`: what the backend's hash covers for `flow`; `EOPNOTSUPP` while
    /// RSS is off.
    pub(crate) fn rss_hashed_fields(&self, flow: FlowKind) -> Result<HashedFields> {
        let rss = self.rss.lock();
        if !rss.active {
            return Err(EOPNOTSUPP);
        }
        Ok(hashed_fields(rss.flags, flow))
    }
}
