// SPDX-License-Identifier: MPL-2.0
//! Network namespaces that belong to this process alone.
//!
//! A namespace here has no name (nothing under `/run/netns`): it is held by
//! a file descriptor and by whatever thread or process is inside it. When
//! the last of those goes — the handle dropped, the process ended or killed
//! — the kernel removes the namespace with every device in it. So there is
//! nothing to clean up by hand and nothing left behind on any exit path.
//!
//! Entering is per thread: a socket belongs to the namespace of the thread
//! that created it, whichever thread uses it later, and a thread or child
//! process starts in the namespace of the thread that made it.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};

use nix::sched::{setns, unshare, CloneFlags};

/// A network namespace of this process's own.
#[derive(Debug)]
pub struct Namespace {
    handle: OwnedFd,
}

impl Namespace {
    /// A new, empty network namespace (only a loopback device, down).
    /// Needs CAP_NET_ADMIN (root).
    pub fn new() -> io::Result<Self> {
        // A thread of its own unshares, so the caller's thread stays where
        // it is; the handle outlives that thread.
        let made = std::thread::Builder::new()
            .name("linkem-netns".into())
            .spawn(|| -> io::Result<OwnedFd> {
                unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                Ok(File::open("/proc/thread-self/ns/net")?.into())
            })?
            .join()
            .map_err(|_| io::Error::other("the namespace thread panicked"))??;
        Ok(Namespace { handle: made })
    }

    /// Moves the calling thread into this namespace, for good.
    pub fn enter(&self) -> io::Result<()> {
        setns(self.handle.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
    }

    /// Runs `f` on a new thread inside this namespace and returns what it
    /// returns; the caller's thread stays where it is.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> io::Result<R> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("linkem-enter".into())
                .spawn_scoped(scope, || -> io::Result<R> {
                    self.enter()?;
                    Ok(f())
                })?
                .join()
                .map_err(|_| io::Error::other("a thread inside the namespace panicked"))?
        })
    }

    /// Brings the namespace's loopback device up, so that a program
    /// inside reaches its own addresses (a server and its client on the
    /// same side of a link: packets to a local address go through `lo`).
    pub fn loopback_up(&self) -> io::Result<()> {
        self.run(|| {
            // SAFETY: a plain datagram socket, closed on every path below.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is ours and open.
            let _socket = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            // SAFETY: an all-zero ifreq is valid; the name "lo" and its NUL fit.
            let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
            for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
                *dst = *src as libc::c_char;
            }
            // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write `req`, which
            // lives across both calls.
            unsafe {
                if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
                    return Err(io::Error::last_os_error());
                }
                req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
                if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        })?
    }

    /// Starts `command` inside this namespace.
    pub fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        self.run(|| command.spawn())?
    }

    /// The namespace's inode number: what `/proc/<pid>/ns/net` links of
    /// tasks inside it name (`net:[<inode>]`).
    pub fn inode(&self) -> io::Result<u64> {
        Ok(File::from(self.handle.try_clone()?).metadata()?.ino())
    }

    /// Writes `value` to the sysctl at `path` (under /proc/sys/net) as seen
    /// from inside this namespace.
    pub fn sysctl(&self, path: &str, value: &str) -> io::Result<()> {
        self.run(|| std::fs::write(path, value))?
    }
}

/// The inode of the namespace the calling thread is in.
pub fn current_inode() -> io::Result<u64> {
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}
