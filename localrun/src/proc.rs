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
