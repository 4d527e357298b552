// SPDX-License-Identifier: GPL-2.0

//! A domain's user-space view of Xen, for the test tools (`tools/testing/xen-netif/hostile/`
//! in a guest, `tools/testing/xen-netif/rxpeek/` and `tools/testing/xen-netif/hostile-backend/`
//! in dom0): XenStore through `/dev/xen/xenbus` (with watches), granted pages through
//! `/dev/xen/gntalloc`, another domain's grants mapped read-only or read-write through
//! `/dev/xen/gntdev`, and event channels through `/dev/xen/evtchn` (unbound and
//! interdomain ports, notifications, waiting for events with a timeout).
//!
//! It lives in `common/` because it holds `unsafe` code (the device ioctls, the mappings,
//! and the volatile accesses to pages a peer shares with us); the tools on top of it are
//! safe Rust.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

/// XenStore wire message types (`xs_wire.h`).
mod xs_type {
    pub const DIRECTORY: u32 = 1;
    pub const READ: u32 = 2;
    pub const WATCH: u32 = 4;
    pub const UNWATCH: u32 = 5;
    pub const WRITE: u32 = 11;
    pub const RM: u32 = 13;
    pub const WATCH_EVENT: u32 = 15;
    pub const ERROR: u32 = 16;
}

/// Waits until `fd` is readable or `timeout` has passed; `Ok(true)` when readable.
fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid, initialised `pollfd` that lives across the call, and
        // the count passed is 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A XenStore watch event: the path that changed and the watch's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The node that changed (or was removed), at or below the watched path.
    pub path: String,
    /// The token the watch was registered with.
    pub token: String,
}

/// A XenStore connection over the guest's `/dev/xen/xenbus`. Relative paths are relative
/// to the domain's home, `/local/domain/<domid>`.
pub struct XenStore {
    dev: File,
    next_req: u32,
    /// Watch events that arrived while waiting for a reply, oldest first.
    events: VecDeque<WatchEvent>,
}

impl XenStore {
    /// Opens `/dev/xen/xenbus`.
    pub fn open() -> io::Result<Self> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/xenbus")?;
        Ok(Self {
            dev,
            next_req: 1,
            events: VecDeque::new(),
        })
    }

    /// Reads one message: its type and body.
    fn read_msg(&mut self) -> io::Result<(u32, Vec<u8>)> {
        let mut hdr = [0u8; 16];
        self.dev.read_exact(&mut hdr)?;
        let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let mut body = vec![0u8; word(12) as usize];
        self.dev.read_exact(&mut body)?;
        Ok((word(0), body))
    }

    /// Queues a watch event's body (`path\0token\0`).
    fn queue_event(&mut self, body: &[u8]) {
        let mut parts = body
            .split(|&b| b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let path = parts.next().unwrap_or_default();
        let token = parts.next().unwrap_or_default();
        self.events.push_back(WatchEvent { path, token });
    }

    fn call(&mut self, msg_type: u32, payload: &[u8]) -> io::Result<Vec<u8>> {
        let req = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("payload too long"))?;
        let mut msg = Vec::with_capacity(16 + payload.len());
        for word in [msg_type, req, 0, len] {
            msg.extend_from_slice(&word.to_le_bytes());
        }
        msg.extend_from_slice(payload);
        self.dev.write_all(&msg)?;
        loop {
            let (msg_type, body) = self.read_msg()?;
            match msg_type {
                xs_type::WATCH_EVENT => {
                    self.queue_event(&body);
                    continue;
                }
                xs_type::ERROR => {
                    let text = String::from_utf8_lossy(&body);
                    let text = text.trim_end_matches('\0');
                    return Err(if text == "ENOENT" {
                        io::Error::new(io::ErrorKind::NotFound, "ENOENT")
                    } else {
                        io::Error::other(format!("xenstore: {text}"))
                    });
                }
                _ => return Ok(body),
            }
        }
    }

    /// Reads `path`; `None` when the node does not exist.
    pub fn read(&mut self, path: &str) -> io::Result<Option<String>> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        match self.call(xs_type::READ, &p) {
            Ok(v) => Ok(Some(
                String::from_utf8_lossy(&v)
                    .trim_end_matches('\0')
                    .to_string(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `value` to `path`.
    pub fn write(&mut self, path: &str, value: &str) -> io::Result<()> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value.as_bytes());
        self.call(xs_type::WRITE, &p).map(|_| ())
    }

    /// Removes `path` and everything below it; a node that does not exist is not an error.
    pub fn remove(&mut self, path: &str) -> io::Result<()> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        match self.call(xs_type::RM, &p) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The names of `path`'s children; `None` when the node does not exist.
    pub fn directory(&mut self, path: &str) -> io::Result<Option<Vec<String>>> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        match self.call(xs_type::DIRECTORY, &p) {
            Ok(v) => Ok(Some(
                v.split(|&b| b == 0)
                    .filter(|n| !n.is_empty())
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn watch_msg(&mut self, msg_type: u32, path: &str, token: &str) -> io::Result<()> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(token.as_bytes());
        p.push(0);
        self.call(msg_type, &p).map(|_| ())
    }

    /// Watches `path` and everything below it; events carry `token`. XenStore fires a new
    /// watch once right away.
    pub fn watch(&mut self, path: &str, token: &str) -> io::Result<()> {
        self.watch_msg(xs_type::WATCH, path, token)
    }

    /// Removes the watch on `path` with `token`.
    pub fn unwatch(&mut self, path: &str, token: &str) -> io::Result<()> {
        self.watch_msg(xs_type::UNWATCH, path, token)
    }

    /// The next watch event, waiting up to `timeout` for one (`None`: none came).
    pub fn next_event(&mut self, timeout: Duration) -> io::Result<Option<WatchEvent>> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        if !wait_readable(self.dev.as_raw_fd(), timeout)? {
            return Ok(None);
        }
        let (msg_type, body) = self.read_msg()?;
        if msg_type == xs_type::WATCH_EVENT {
            self.queue_event(&body);
        }
        // Anything else would be a reply to no request of ours: ignored.
        Ok(self.events.pop_front())
    }
}

const GNTALLOC_FLAG_WRITABLE: u16 = 1;
/// `_IOC(_IOC_NONE, 'G', 5, sizeof(struct ioctl_gntalloc_alloc_gref))`, the struct being 24 bytes.
const IOCTL_GNTALLOC_ALLOC_GREF: libc::Ioctl = (24 << 16) | ((b'G' as libc::Ioctl) << 8) | 5;
/// `_IOC(_IOC_NONE, 'E', 2, sizeof(struct ioctl_evtchn_bind_unbound_port))`.
const IOCTL_EVTCHN_BIND_UNBOUND_PORT: libc::Ioctl = (4 << 16) | ((b'E' as libc::Ioctl) << 8) | 2;
/// `_IOC(_IOC_NONE, 'E', 4, sizeof(struct ioctl_evtchn_notify))`.
const IOCTL_EVTCHN_NOTIFY: libc::Ioctl = (4 << 16) | ((b'E' as libc::Ioctl) << 8) | 4;
/// `_IOC(_IOC_NONE, 'E', 1, sizeof(struct ioctl_evtchn_bind_interdomain))`, 8 bytes.
const IOCTL_EVTCHN_BIND_INTERDOMAIN: libc::Ioctl = (8 << 16) | ((b'E' as libc::Ioctl) << 8) | 1;
/// `_IOC(_IOC_NONE, 'E', 3, sizeof(struct ioctl_evtchn_unbind))`.
const IOCTL_EVTCHN_UNBIND: libc::Ioctl = (4 << 16) | ((b'E' as libc::Ioctl) << 8) | 3;

/// Size of a page, granted or not.
pub const PAGE: usize = 4096;

/// `count` zeroed pages granted (writable) to one domain, mapped into this process.
/// Closing the device ends the grants (the kernel defers it while the peer still maps a
/// page).
pub struct GrantedPages {
    dev: File,
    base: *mut u8,
    grefs: Vec<u32>,
}

impl GrantedPages {
    /// Allocates and grants `count` pages to `domid`.
    pub fn alloc(domid: u16, count: usize) -> io::Result<Self> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntalloc")?;
        let n = u32::try_from(count).map_err(|_| io::Error::other("too many pages"))?;
        // struct ioctl_gntalloc_alloc_gref: u16 domid, u16 flags, u32 count, u64 index,
        // u32 gref_ids[count] from byte 16; as u64 words so that the buffer is aligned.
        let mut arg = vec![0u64; 3 + count.div_ceil(2)];
        arg[0] =
            u64::from(domid) | (u64::from(GNTALLOC_FLAG_WRITABLE) << 16) | (u64::from(n) << 32);
        // SAFETY: `arg` is an aligned buffer of 24 + 4 * count bytes or more, the layout
        // IOCTL_GNTALLOC_ALLOC_GREF reads and writes for `count` grants.
        let rc =
            unsafe { libc::ioctl(dev.as_raw_fd(), IOCTL_GNTALLOC_ALLOC_GREF, arg.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let index = arg[1];
        let grefs = (0..count)
            .map(|i| {
                let word = arg[2 + i / 2];
                (if i % 2 == 0 { word } else { word >> 32 }) as u32
            })
            .collect();
        let offset =
            libc::off_t::try_from(index).map_err(|_| io::Error::other("bad gntalloc index"))?;
        // SAFETY: maps the `count` pages the ioctl above allocated at `index`; the kernel
        // checks the range, and a failure is reported as MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                count * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                dev.as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            dev,
            base: base.cast(),
            grefs,
        })
    }

    /// Grant reference of page `i`.
    pub fn gref(&self, i: usize) -> u32 {
        self.grefs[i]
    }

    fn at(&self, page: usize, offset: usize, len: usize) -> *mut u8 {
        assert!(
            page < self.grefs.len() && offset + len <= PAGE,
            "access outside the granted pages"
        );
        // SAFETY: the assertion keeps the result inside the mapping of `len()` pages.
        unsafe { self.base.add(page * PAGE + offset) }
    }

    /// Copies `data` into page `page` at `offset`.
    pub fn write_bytes(&self, page: usize, offset: usize, data: &[u8]) {
        let dst = self.at(page, offset, data.len());
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `at` checked that `offset + data.len()` fits the page; the peer may
            // write the page concurrently, hence volatile byte stores.
            unsafe { dst.add(i).write_volatile(*b) };
        }
    }

    /// Copies `N` bytes out of page `page` at `offset`, once.
    pub fn read_bytes<const N: usize>(&self, page: usize, offset: usize) -> [u8; N] {
        let src = self.at(page, offset, N);
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: as in `write_bytes`; volatile loads, each byte read once.
            *b = unsafe { src.add(i).read_volatile() };
        }
        out
    }

    /// Reads the little-endian `u32` at `offset` (4-byte aligned) of page `page`.
    pub fn read_u32(&self, page: usize, offset: usize) -> u32 {
        let p = self.at(page, offset, 4);
        assert!(offset.is_multiple_of(4));
        // SAFETY: in bounds (checked by `at`) and aligned; a volatile load of a word the
        // peer writes. The acquire fence orders the slot reads that follow it.
        let v = unsafe { p.cast::<u32>().read_volatile() };
        fence(Ordering::Acquire);
        u32::from_le(v)
    }

    /// Writes `value` as the little-endian `u32` at `offset` of page `page`, after every
    /// earlier store (a producer index publishes the slots written before it).
    pub fn write_u32(&self, page: usize, offset: usize, value: u32) {
        let p = self.at(page, offset, 4);
        assert!(offset.is_multiple_of(4));
        fence(Ordering::Release);
        // SAFETY: in bounds and aligned, as in `read_u32`.
        unsafe { p.cast::<u32>().write_volatile(value.to_le()) };
        fence(Ordering::SeqCst);
    }
}

impl Drop for GrantedPages {
    fn drop(&mut self) {
        // SAFETY: `base` is the mapping made in `alloc`, of exactly this length, and no
        // reference into it outlives `self`.
        unsafe { libc::munmap(self.base.cast(), self.grefs.len() * PAGE) };
        let _ = &self.dev;
    }
}

/// `_IOC(_IOC_NONE, 'G', 0, sizeof(struct ioctl_gntdev_map_grant_ref))`, the struct being 24
/// bytes (with its one-element `refs` array).
const IOCTL_GNTDEV_MAP_GRANT_REF: libc::Ioctl = (24 << 16) | ((b'G' as libc::Ioctl) << 8);
/// `_IOC(_IOC_NONE, 'G', 1, sizeof(struct ioctl_gntdev_unmap_grant_ref))`, 16 bytes.
const IOCTL_GNTDEV_UNMAP_GRANT_REF: libc::Ioctl = (16 << 16) | ((b'G' as libc::Ioctl) << 8) | 1;

/// `/dev/xen/gntdev`: maps pages other domains granted to this one (dom0 maps what a guest
/// granted to its backend in dom0). Mappings borrow it: each is unmapped before it closes.
pub struct GrantMapper {
    dev: File,
}

impl GrantMapper {
    /// Opens `/dev/xen/gntdev`.
    pub fn open() -> io::Result<Self> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntdev")?;
        Ok(Self { dev })
    }

    /// Maps the pages that domain `domid` granted (to this domain) as `grefs`, read-only and
    /// contiguous, in that order. Fails as a whole when any grant cannot be mapped (a bad or
    /// ended grant, one granted to another domain).
    pub fn map_readonly(&self, domid: u16, grefs: &[u32]) -> io::Result<ForeignPages<'_>> {
        self.map(domid, grefs, false)
    }

    /// Maps the pages that domain `domid` granted as `grefs` readable and writable,
    /// contiguous, in that order. Fails as a whole when any grant cannot be mapped, which
    /// includes a grant the domain made read-only.
    pub fn map_writable(&self, domid: u16, grefs: &[u32]) -> io::Result<WritablePages<'_>> {
        self.map(domid, grefs, true).map(WritablePages)
    }

    fn map(&self, domid: u16, grefs: &[u32], writable: bool) -> io::Result<ForeignPages<'_>> {
        if grefs.is_empty() {
            return Err(io::Error::other("no grant to map"));
        }
        let count = u32::try_from(grefs.len()).map_err(|_| io::Error::other("too many grants"))?;
        let len = grefs
            .len()
            .checked_mul(PAGE)
            .ok_or_else(|| io::Error::other("too many grants"))?;
        // struct ioctl_gntdev_map_grant_ref: u32 count, u32 pad, u64 index (out), then
        // `count` struct ioctl_gntdev_grant_ref { u32 domid; u32 ref; } from byte 16; as u64
        // words so that the buffer is aligned.
        let mut arg = vec![0u64; 2 + grefs.len()];
        arg[0] = u64::from(count);
        for (word, gref) in arg[2..].iter_mut().zip(grefs) {
            *word = u64::from(domid) | (u64::from(*gref) << 32);
        }
        // SAFETY: `arg` is an aligned buffer of 16 + 8 * count bytes, the layout
        // IOCTL_GNTDEV_MAP_GRANT_REF reads (count and refs) and writes (index); the kernel
        // copies `count` refs and checks `count` against its own limit.
        let rc = unsafe {
            libc::ioctl(
                self.dev.as_raw_fd(),
                IOCTL_GNTDEV_MAP_GRANT_REF,
                arg.as_mut_ptr(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let index = arg[1];
        // From here on the refs sit in the device's table; `unmap` takes them out again.
        let offset = match libc::off_t::try_from(index) {
            Ok(o) => o,
            Err(_) => {
                self.unmap(index, count);
                return Err(io::Error::other("bad gntdev index"));
            }
        };
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a new shared mapping of exactly the `count` pages the ioctl above inserted
        // at `index`, at an address the kernel chooses (so nothing of ours is replaced). gntdev
        // maps the grants here, read-only unless the mapping has PROT_WRITE (then writable,
        // which the hypervisor refuses for a read-only grant), or fails the call, which
        // reports MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                self.dev.as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            self.unmap(index, count);
            return Err(err);
        }
        Ok(ForeignPages {
            mapper: self,
            base: base.cast(),
            pages: grefs.len(),
            index,
        })
    }

    /// Takes the `count` refs at `index` out of the device's table (after their mapping,
    /// if any, is gone).
    fn unmap(&self, index: u64, count: u32) {
        // struct ioctl_gntdev_unmap_grant_ref: u64 index, u32 count, u32 pad.
        let mut arg = [index, u64::from(count)];
        // SAFETY: `arg` is an aligned 16-byte buffer in the layout the ioctl reads.
        unsafe {
            libc::ioctl(
                self.dev.as_raw_fd(),
                IOCTL_GNTDEV_UNMAP_GRANT_REF,
                arg.as_mut_ptr(),
            )
        };
    }
}

/// Pages of another domain mapped by [`GrantMapper::map_readonly`] (or, wrapped in
/// [`WritablePages`], by [`GrantMapper::map_writable`]); dropping it unmaps them and frees
/// the device's table entries. The granting domain may write the pages at any time: every
/// read is a volatile copy out of the mapping, and no reference into it is handed out.
///
/// # Invariants
///
/// `base` is the start of a live shared mapping of `pages` pages made by `mapper`'s device
/// at `index`; it stays mapped until `drop`.
pub struct ForeignPages<'a> {
    mapper: &'a GrantMapper,
    base: *mut u8,
    pages: usize,
    index: u64,
}

impl ForeignPages<'_> {
    /// Number of pages mapped.
    pub fn pages(&self) -> usize {
        self.pages
    }

    fn at(&self, page: usize, offset: usize, len: usize) -> *mut u8 {
        assert!(
            page < self.pages && offset <= PAGE && len <= PAGE - offset,
            "access outside the mapped pages"
        );
        // SAFETY: the assertion keeps the range inside the mapping of `pages` pages.
        unsafe { self.base.add(page * PAGE + offset) }
    }

    /// Copies `N` bytes out of page `page` at `offset`, each byte read once (a ring slot).
    pub fn read_bytes<const N: usize>(&self, page: usize, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        self.read_into(page, offset, &mut out);
        out
    }

    /// Copies `out.len()` bytes out of page `page` from `offset`, each byte read once.
    pub fn read_into(&self, page: usize, offset: usize, out: &mut [u8]) {
        let src = self.at(page, offset, out.len());
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: `at` checked that `offset + out.len()` fits the page, which is mapped
            // readable for as long as `self` lives; the granting domain may write it
            // concurrently, hence volatile byte loads.
            *b = unsafe { src.add(i).read_volatile() };
        }
    }

    /// Reads the little-endian `u32` at `offset` (4-byte aligned) of page `page`, then an
    /// acquire fence, so that the reads after it (ring slots after an index) see what the
    /// writer published before the index.
    pub fn read_u32(&self, page: usize, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4), "unaligned u32");
        let p = self.at(page, offset, 4);
        // SAFETY: in bounds (checked by `at`) and aligned (the mapping is page-aligned); a
        // volatile load of a word the granting domain writes.
        let v = unsafe { p.cast::<u32>().read_volatile() };
        fence(Ordering::Acquire);
        u32::from_le(v)
    }
}

impl Drop for ForeignPages<'_> {
    fn drop(&mut self) {
        // SAFETY: `base` is the mapping made in `map`, of exactly this length (type
        // invariant), and no reference into it outlives `self` (reads and writes copy).
        unsafe { libc::munmap(self.base.cast(), self.pages * PAGE) };
        // gntdev wants the mapping gone before the refs leave its table. `pages` came from
        // a `u32` count.
        self.mapper.unmap(self.index, self.pages as u32);
    }
}

/// Pages of another domain mapped readable and writable by [`GrantMapper::map_writable`]:
/// the reads of [`ForeignPages`] (through `Deref`) plus volatile writes. The granting domain
/// may read and write the pages concurrently; no reference into them is handed out.
pub struct WritablePages<'a>(ForeignPages<'a>);

impl<'a> std::ops::Deref for WritablePages<'a> {
    type Target = ForeignPages<'a>;

    fn deref(&self) -> &ForeignPages<'a> {
        &self.0
    }
}

impl WritablePages<'_> {
    /// Copies `data` into page `page` from `offset`, each byte written once.
    pub fn write_from(&self, page: usize, offset: usize, data: &[u8]) {
        let dst = self.0.at(page, offset, data.len());
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `at` checked that `offset + data.len()` fits the page, which is mapped
            // writable (PROT_WRITE, `map_writable`) for as long as `self` lives; the
            // granting domain may access it concurrently, hence volatile byte stores.
            unsafe { dst.add(i).write_volatile(*b) };
        }
    }

    /// Writes `value` as the little-endian `u32` at `offset` (4-byte aligned) of page
    /// `page`, after every earlier store (a producer index publishes the slots written
    /// before it), followed by a full fence (so that reading the peer's event index next
    /// sees what it wrote after seeing this).
    pub fn write_u32(&self, page: usize, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4), "unaligned u32");
        let p = self.0.at(page, offset, 4);
        fence(Ordering::Release);
        // SAFETY: in bounds (checked by `at`), aligned (the mapping is page-aligned) and
        // mapped writable; a volatile store of a word the granting domain reads.
        unsafe { p.cast::<u32>().write_volatile(value.to_le()) };
        fence(Ordering::SeqCst);
    }
}

/// The guest's event channel device; ports bound through it close with it.
pub struct EventChannels {
    dev: File,
}

impl EventChannels {
    /// Opens `/dev/xen/evtchn`.
    pub fn open() -> io::Result<Self> {
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/evtchn")?;
        Ok(Self { dev })
    }

    /// Allocates a port that domain `remote` may bind to; returns the local port number.
    pub fn alloc_unbound(&self, remote: u16) -> io::Result<u32> {
        let mut arg: libc::c_uint = remote.into();
        // SAFETY: the ioctl reads one `unsigned int` (struct ioctl_evtchn_bind_unbound_port)
        // from a valid pointer and returns the port.
        let rc = unsafe {
            libc::ioctl(
                self.dev.as_raw_fd(),
                IOCTL_EVTCHN_BIND_UNBOUND_PORT,
                &mut arg,
            )
        };
        u32::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    /// Binds a local port to port `remote_port` of domain `remote`, which that domain
    /// allocated for us (an unbound port); returns the local port number.
    pub fn bind_interdomain(&self, remote: u16, remote_port: u32) -> io::Result<u32> {
        // struct ioctl_evtchn_bind_interdomain { unsigned int remote_domain, remote_port; }
        let mut arg: [libc::c_uint; 2] = [remote.into(), remote_port];
        // SAFETY: the ioctl reads the 8-byte struct from a valid, aligned pointer and
        // returns the local port.
        let rc = unsafe {
            libc::ioctl(
                self.dev.as_raw_fd(),
                IOCTL_EVTCHN_BIND_INTERDOMAIN,
                arg.as_mut_ptr(),
            )
        };
        u32::try_from(rc).map_err(|_| io::Error::last_os_error())
    }

    /// Unbinds local `port` (closing the device unbinds every port left).
    pub fn unbind(&self, port: u32) -> io::Result<()> {
        let mut arg: libc::c_uint = port;
        // SAFETY: the ioctl reads one `unsigned int` (struct ioctl_evtchn_unbind).
        let rc = unsafe { libc::ioctl(self.dev.as_raw_fd(), IOCTL_EVTCHN_UNBIND, &mut arg) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for events on the ports bound through this device; returns the
    /// ports that fired (empty on timeout), each unmasked again so that it can fire anew.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u32>> {
        if !wait_readable(self.dev.as_raw_fd(), timeout)? {
            return Ok(Vec::new());
        }
        let mut buf = [0u8; 4 * 64];
        let n = self.dev.read(&mut buf)?;
        let ports: Vec<u32> = buf[..n - n % 4]
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if !ports.is_empty() {
            // Writing the ports back unmasks them (and sends their late EOI).
            self.dev.write_all(&buf[..ports.len() * 4])?;
        }
        Ok(ports)
    }

    /// Signals `port`.
    pub fn notify(&self, port: u32) -> io::Result<()> {
        let mut arg: libc::c_uint = port;
        // SAFETY: the ioctl reads one `unsigned int` (struct ioctl_evtchn_notify).
        let rc = unsafe { libc::ioctl(self.dev.as_raw_fd(), IOCTL_EVTCHN_NOTIFY, &mut arg) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
