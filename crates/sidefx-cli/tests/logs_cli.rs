//! `sidefx logs --tail N` and `--since DURATION` over the log files of a data dir.

mod common;

use std::time::{Duration, SystemTime};

fn rfc3339(at: SystemTime) -> String {
    // Only the seconds matter to `--since`; build the UTC time from the epoch by hand.
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.000000Z")
}

#[test]
fn logs_show_the_last_lines_or_the_recent_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = SystemTime::now();
    let old = rfc3339(now - Duration::from_secs(3 * 3600));
    let recent = rfc3339(now - Duration::from_secs(60));
    let log = format!(
        "{old}  INFO old one\n{old}  INFO old two\n{recent}  INFO recent one\n{recent}  INFO recent two\n"
    );
    std::fs::write(dir.path().join("worker.log"), log).unwrap();
    let logs = |args: &[&str]| {
        let out = common::sidefx(dir.path(), args, Duration::from_secs(30));
        assert!(out.status.success(), "{}", common::text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tail = logs(&["logs", "worker", "--tail", "1"]);
    assert!(
        tail.contains("recent two") && !tail.contains("recent one"),
        "{tail}"
    );
    let since = logs(&["logs", "worker", "--since", "1h"]);
    assert!(
        since.contains("recent one") && !since.contains("old"),
        "{since}"
    );
    let all = logs(&["logs", "worker"]);
    assert_eq!(all.lines().count(), 4, "{all}");
}
