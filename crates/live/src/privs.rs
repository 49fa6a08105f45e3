//! Giving up privileges once the packet sockets are open.
//!
//! Root switches to an unprivileged user (default `nobody`) with no
//! supplementary groups; a non-root process that got CAP_NET_RAW from file
//! capabilities clears every capability set. Either way the process keeps
//! the sockets it already has and nothing else.

use std::ffi::{CStr, CString};
use std::io;

/// The account to switch to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Name, or the number as given.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// The process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Looks up a user by name, or takes `uid` or `uid:gid` numbers.
pub fn lookup(user: &str) -> io::Result<Account> {
    if let Some((u, g)) = user.split_once(':') {
        if let (Ok(uid), Ok(gid)) = (u.parse(), g.parse()) {
            return Ok(Account {
                name: user.into(),
                uid,
                gid,
            });
        }
    }
    let cname = CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name contains NUL"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; zero is a valid initial value.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buf` outlives `pw`'s use.
    let r = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut res,
        )
    };
    if r == 0 && !res.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated.
        let name = unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned();
        return Ok(Account {
            name,
            uid: pw.pw_uid,
            gid: pw.pw_gid,
        });
    }
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(Account {
            name: user.into(),
            uid,
            gid: uid,
        });
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no user named '{user}'"),
    ))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// The effective and permitted capability sets of this thread, as 64-bit masks.
pub fn capabilities() -> io::Result<(u64, u64)> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header writes two CapData structs.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
    ))
}

/// CAP_DAC_READ_SEARCH: read any file and directory (for /proc/PID/fd).
pub const CAP_DAC_READ_SEARCH: u32 = 2;
/// CAP_SYS_PTRACE: inspect other users' processes (/proc/PID/fd, ns, exe).
pub const CAP_SYS_PTRACE: u32 = 19;

/// CAP_NET_ADMIN: change the firewall (the responder's nftables table).
pub const CAP_NET_ADMIN: u32 = 12;

/// Sets the effective and permitted sets to `keep`, inheritable to nothing.
fn set_capabilities(keep: u64) -> io::Result<()> {
    set_capability_sets(keep, 0)
}

/// Sets the effective and permitted sets to `keep` and the inheritable set
/// to `inherit`.
fn set_capability_sets(keep: u64, inherit: u64) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let (lo, hi) = (keep as u32, (keep >> 32) as u32);
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: inherit as u32,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: (inherit >> 32) as u32,
        },
    ];
    // SAFETY: capset with a v3 header reads two CapData structs.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears every capability of the calling thread only (capabilities are
/// per thread): after [`drop_to`] kept some for a helper thread started
/// since, the thread that goes on to parse packets gives them up.
pub fn drop_thread_capabilities() -> io::Result<()> {
    set_capabilities(0)?;
    match capabilities()? {
        (0, 0) => Ok(()),
        (eff, perm) => Err(io::Error::other(format!(
            "capabilities remain on this thread (effective {eff:#x}, permitted {perm:#x})"
        ))),
    }
}

/// Keeps only `cap` on the calling thread (capabilities are per thread)
/// and passes it to the programs this thread runs (the ambient set: `nft`
/// for the responder), when the thread has it; other threads are not
/// touched. Returns whether the thread holds it now.
pub fn keep_thread_capability_for_children(cap: u32) -> io::Result<bool> {
    let bit = 1u64 << cap;
    let (_, perm) = capabilities()?;
    if perm & bit == 0 {
        set_capabilities(0)?;
        return Ok(false);
    }
    set_capability_sets(bit, bit).map_err(|e| io::Error::new(e.kind(), format!("capset: {e}")))?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ),
            "PR_CAP_AMBIENT_RAISE",
        )?
    };
    match capabilities()? {
        (eff, perm) if eff == bit && perm == bit => Ok(true),
        (eff, perm) => Err(io::Error::other(format!(
            "capabilities other than the one kept remain on this thread (effective {eff:#x}, permitted {perm:#x})"
        ))),
    }
}

/// Keeps only `keep` of the calling thread's capabilities.
pub fn keep_thread_capabilities(keep: u64) -> io::Result<()> {
    let (_, perm) = capabilities()?;
    set_capabilities(keep & perm)
}

fn check(r: libc::c_int, what: &str) -> io::Result<()> {
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// Drops privileges: as root, becomes `account` (real, effective and saved
/// ids, no supplementary groups); then clears every capability except those
/// in `keep` (a mask of `1 << CAP_*`, and only those the process had) and
/// forbids regaining any (PR_SET_NO_NEW_PRIVS). Returns a sentence saying
/// what the process now runs as.
pub fn drop_to(account: &Account, keep: u64) -> io::Result<String> {
    // SAFETY: getters without preconditions.
    let was_root = unsafe { libc::geteuid() } == 0;
    let keep = keep & capabilities().map_or(0, |(_, perm)| perm);
    if keep != 0 {
        // SAFETY: prctl with integer arguments only; keeps the permitted
        // set across the uid change below.
        unsafe {
            check(
                libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
                "PR_SET_KEEPCAPS",
            )?
        };
    }
    if was_root {
        if account.uid == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--user must name an unprivileged account, not root",
            ));
        }
        // SAFETY: plain system calls on this process's credentials.
        unsafe {
            check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
            check(
                libc::setresgid(account.gid, account.gid, account.gid),
                "setresgid",
            )?;
            check(
                libc::setresuid(account.uid, account.uid, account.uid),
                "setresuid",
            )?;
        }
    }
    set_capabilities(keep).map_err(|e| io::Error::new(e.kind(), format!("capset: {e}")))?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            "PR_SET_NO_NEW_PRIVS",
        )?;
    }
    let (eff, perm) = capabilities()?;
    if eff != keep || perm != keep {
        return Err(io::Error::other(format!(
            "capabilities remain after dropping them (effective {eff:#x}, permitted {perm:#x})"
        )));
    }
    // SAFETY: getters without preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let caps = match keep {
        0 => "no capabilities".to_string(),
        k => {
            let names: Vec<&str> = [
                (CAP_DAC_READ_SEARCH, "cap_dac_read_search"),
                (CAP_NET_ADMIN, "cap_net_admin"),
                (CAP_SYS_PTRACE, "cap_sys_ptrace"),
            ]
            .iter()
            .filter(|(c, _)| k & (1 << c) != 0)
            .map(|(_, n)| *n)
            .collect();
            let mut why = Vec::new();
            if k & !(1 << CAP_NET_ADMIN) != 0 {
                why.push("to find the processes owning sockets");
            }
            if k & (1 << CAP_NET_ADMIN) != 0 {
                why.push("to block addresses");
            }
            format!("only {} ({})", names.join(", "), why.join("; "))
        }
    };
    if was_root {
        Ok(format!(
            "dropped privileges: now user {} (uid {uid}, gid {gid}) with {caps}",
            account.name
        ))
    } else {
        Ok(format!(
            "dropped capabilities: uid {uid}, gid {gid}, {caps} left"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_accounts_parse() {
        assert_eq!(
            lookup("1234:567").unwrap(),
            Account {
                name: "1234:567".into(),
                uid: 1234,
                gid: 567
            }
        );
        assert_eq!(lookup("4321").unwrap().gid, 4321);
        assert!(lookup("no-such-user-wirewatch").is_err());
        assert_eq!(lookup("root").unwrap().uid, 0);
    }

    #[test]
    fn capabilities_can_be_read() {
        // Root in a test container has some; an unprivileged user has none.
        let (eff, perm) = capabilities().unwrap();
        assert_eq!(eff & !perm, 0, "effective is a subset of permitted");
    }

    #[test]
    fn one_thread_keeps_net_admin_for_the_programs_it_runs() {
        let (_, before) = capabilities().unwrap();
        let had = before & (1 << CAP_NET_ADMIN) != 0;
        let child_caps = std::thread::spawn(move || {
            let kept = keep_thread_capability_for_children(CAP_NET_ADMIN).unwrap();
            assert_eq!(kept, had);
            let (eff, perm) = capabilities().unwrap();
            let want = if had { 1u64 << CAP_NET_ADMIN } else { 0 };
            assert_eq!((eff, perm), (want, want));
            // A program this thread runs has it in its effective set
            // (through the ambient set once the process is not root).
            let out = std::process::Command::new("grep")
                .args(["^CapEff:", "/proc/self/status"])
                .output()
                .unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            u64::from_str_radix(text.trim_start_matches("CapEff:").trim(), 16).unwrap()
        })
        .join()
        .unwrap();
        let want = if had { 1u64 << CAP_NET_ADMIN } else { 0 };
        if effective_uid() == 0 {
            // Root's programs get every capability whatever the thread
            // keeps (the live tests check it after --user).
            assert_eq!(child_caps & want, want);
        } else {
            assert_eq!(child_caps, want);
        }
        // The other threads keep what they had.
        assert_eq!(capabilities().unwrap().1, before);
    }
}
