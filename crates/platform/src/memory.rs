//! Hands the allocator's free memory back to the system now and then. glibc keeps what a
//! burst of work freed inside its arenas — one per thread that allocated — so after a load,
//! or a classifier retraining (the new model is built beside the old one), the resident set
//! stays at its peak although the memory is free. `malloc_trim` releases the free pages.
//! Measured on `xinfang up` after 2,000 petitions: 126 → 112 MiB (docs/benchmarks.md,
//! session 8). The fingerprints' segmenter is let go when idle, before a trim.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the process trims. A trim with little to release takes well under a
/// millisecond; one after a burst a few milliseconds.
pub const TRIM_EVERY: Duration = Duration::from_secs(30);

/// How long the fingerprints' segmenter stays without a fingerprint taken before it is let go
/// (rebuilding it costs tens of milliseconds on the next registration).
pub const SEGMENTER_IDLE: Duration = Duration::from_secs(60);

/// Trims every `every` until `shutdown`.
pub async fn trim_periodically(every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        // It walks every arena under its lock: off the async threads. First the fingerprints'
        // jieba goes if no petition came for a while (25 MB of an idle process's ~105 MB).
        let released = tokio::task::spawn_blocking(|| {
            xinfang_domain::classify::similarity::release_idle_segmenter(SEGMENTER_IDLE);
            trim()
        });
        if released.await.is_err() {
            return;
        }
    }
}

/// Returns free heap pages to the system; true when some were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointer of ours; it works on glibc's own arenas under
    // their locks and is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    #[test]
    fn freed_pages_held_by_an_arena_go_back_to_the_system() {
        // 64 MiB in small blocks on a thread of its own (its own arena); everything freed but
        // one block in a thousand, so the arena cannot shrink from its top by itself.
        let kept = std::thread::spawn(|| {
            let blocks: Vec<Box<[u8; 256]>> =
                (0..262_144).map(|i| Box::new([i as u8; 256])).collect();
            blocks
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % 1000 == 0)
                .map(|(_, b)| b)
                .collect::<Vec<_>>()
        })
        .join()
        .expect("the allocating thread");
        let before = rss_kib();
        assert!(trim(), "there was free memory to release");
        let after = rss_kib();
        assert!(
            before.saturating_sub(after) >= 20 * 1024,
            "resident set {before} kB → {after} kB"
        );
        assert_eq!(kept.len(), 263);
    }
}
