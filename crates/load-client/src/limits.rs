//! Process limits a load generator runs into first.
//!
//! Every connection costs a file descriptor, and the embedded server's
//! connections live in the same process. The default soft limit (often
//! 1024) would turn a 5000-request unbounded case into a flood of
//! `too_many_open_files` errors that say more about the shell than about the
//! server, so the client raises its soft limit to the hard limit at start,
//! as wrk and oha users are told to do by hand. A hard limit set by the user
//! is respected: past it, errors are counted as `too_many_open_files`.

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft
/// limit, or `None` if it could not be read or changed.
#[allow(unsafe_code)]
pub fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    #[test]
    #[allow(unsafe_code)]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let soft = super::raise_open_files_limit().expect("readable limit");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
