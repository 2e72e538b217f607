//! CPU time of a process (user + system, all threads) from `/proc/<pid>/stat`, for the client's
//! own cost and, with `--server-pid`, the server's cost per operation. Read from /proc rather
//! than getrusage so that no libc binding is needed and other processes can be measured too.

use std::time::Duration;

/// Clock ticks per second of the `utime`/`stime` fields: Linux's USER_HZ, fixed at 100 on
/// every architecture this tool builds for (x86, arm, riscv), whatever the kernel's HZ.
const USER_HZ: u64 = 100;

/// CPU time used so far by `pid` (None: this process), or None if /proc cannot tell.
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// Total CPU time of several processes; None if any of them cannot be read.
pub fn processes_cpu(pids: &[u32]) -> Option<Duration> {
    pids.iter()
        .map(|&pid| process_cpu(Some(pid)))
        .sum::<Option<Duration>>()
}

/// utime + stime of a `stat` line. The command name (field 2) is in parentheses and may hold
/// spaces or ')' itself, so fields are counted after the last ')'.
fn parse_stat(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // After ')': state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.checked_add(stime)?;
    Some(Duration::from_millis(ticks.saturating_mul(1000 / USER_HZ)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime() {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(3_250)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn reads_this_process() {
        let own = process_cpu(None);
        assert!(own.is_some());
        let me = std::process::id();
        assert!(processes_cpu(&[me, me]).is_some());
        assert_eq!(processes_cpu(&[u32::MAX]), None);
    }
}
