//! Processes we start, each leading its own process group (PHP's web
//! server forks workers; a daemon may fork helpers), so stopping one stops
//! all it started; and each dies with the process that started it.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Makes `cmd` lead a new process group that dies with us.
pub fn own_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// SIGTERM to the group `child` leads, SIGKILL after `grace`; reaps it.
pub fn stop(child: &mut Child, grace: Duration) {
    let pid = child.id() as i32;
    // SAFETY: signalling a process group we created
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
    }
    let t = Instant::now();
    while t.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: as above; the group may already be gone
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// A child process group stopped when dropped.
pub struct Group(pub Child);

impl Group {
    pub fn spawn(mut cmd: Command) -> std::io::Result<Group> {
        own_group(&mut cmd);
        cmd.spawn().map(Group)
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        stop(&mut self.0, Duration::from_secs(2));
    }
}

/// A process we wait for the end of, by its pidfd (Linux 5.3): no polling
/// by time, the kernel says when it has exited.
pub struct PidWatch {
    fd: std::os::fd::OwnedFd,
}

impl PidWatch {
    /// Watches `pid`; None when there is no such process (it has already
    /// gone and been reaped).
    pub fn open(pid: i32) -> std::io::Result<Option<PidWatch>> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESRCH) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: a new fd we own; nothing else closes it
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
        Ok(Some(PidWatch { fd }))
    }

    /// Whether the process has exited (a zombie not yet reaped has).
    pub fn exited(&self) -> std::io::Result<bool> {
        self.poll(0)
    }

    /// Blocks until the process has exited.
    pub fn wait(&self) -> std::io::Result<()> {
        while !self.poll(-1)? {}
        Ok(())
    }

    fn poll(&self, timeout_ms: i32) -> std::io::Result<bool> {
        use std::os::fd::AsRawFd;
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call's duration
        match unsafe { libc::poll(&mut p, 1, timeout_ms) } {
            n if n > 0 => Ok(true),
            0 => Ok(false),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_sees_the_process_exit_and_not_before() {
        let mut child = Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("cat");
        let w = PidWatch::open(child.id() as i32).unwrap().expect("running");
        assert!(!w.exited().unwrap());
        drop(child.stdin.take()); // cat reads end of input and exits
        w.wait().unwrap();
        assert!(w.exited().unwrap());
        let pid = child.id() as i32;
        child.wait().unwrap();
        // reaped: nothing to watch
        assert!(PidWatch::open(pid).unwrap().is_none());
    }
}
