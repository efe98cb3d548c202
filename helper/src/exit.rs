//! The helper's exit codes, in one place: `--help` documents them and a test
//! keeps the two in step.

/// How a command ended, as its process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: it did what was asked.
    Success = 0,
    /// 1: the operation failed (a file unreadable or unwritable, a member
    /// unreachable or refusing a write).
    Failed = 1,
    /// 2: bad usage or bad input (not a kubeconfig, no such context, a
    /// malformed address).
    Usage = 2,
    /// 3: a status command reached everything but what it checks is not
    /// healthy.
    Unhealthy = 3,
}

impl Exit {
    pub const ALL: [Exit; 4] = [Exit::Success, Exit::Failed, Exit::Usage, Exit::Unhealthy];

    pub fn code(self) -> u8 {
        self as u8
    }

    /// How `--help` words it.
    pub fn help(self) -> &'static str {
        match self {
            Exit::Success => "0 success",
            Exit::Failed => "1 the operation failed",
            Exit::Usage => "2 bad usage or bad input",
            Exit::Unhealthy => "3 a status command reached everything but it is not healthy",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_start_at_zero() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
        for e in Exit::ALL {
            assert!(e.help().starts_with(&e.code().to_string()));
        }
    }
}
