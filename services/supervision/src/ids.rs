//! Deterministic event ids. A timer that fires twice (two instances, a lease that expired
//! mid-fire, a retried transaction) must produce the same envelope ids, so JetStream's
//! duplicate window and every consumer's inbox drop the copy. Envelopes require UUIDv7, so the
//! id is a well-formed v7: the 48-bit timestamp is the deadline's due time and the other 74
//! bits come from a SHA-256 of what identifies the firing.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A UUIDv7 made only from `millis` and `parts`: the same inputs always give the same id.
pub fn deterministic_v7(millis: i64, parts: &[&[u8]]) -> Uuid {
    let mut h = Sha256::new();
    for p in parts {
        // Length-prefixed so ("ab","c") and ("a","bc") differ.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis.max(0) as u64, &rand).into_uuid()
}

/// The id of one event caused by one firing: deadline, phase (`warning`/`overdue`), the due
/// time it fired for (a moved deadline fires anew) and the copy (`deadline`, `dept`, ...).
pub fn firing_event_id(deadline: Uuid, phase: &str, due_ms: i64, copy: &str) -> Uuid {
    deterministic_v7(
        due_ms,
        &[
            deadline.as_bytes(),
            phase.as_bytes(),
            &due_ms.to_be_bytes(),
            copy.as_bytes(),
        ],
    )
}

/// The 48-bit millisecond timestamp of a v7 id.
pub fn millis_of(id: Uuid) -> i64 {
    (id.as_u128() >> 80) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_v7_and_differ_by_every_part() {
        let d = Uuid::now_v7();
        let a = firing_event_id(d, "overdue", 1_780_000_000_000, "deadline");
        assert_eq!(
            a,
            firing_event_id(d, "overdue", 1_780_000_000_000, "deadline")
        );
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(millis_of(a), 1_780_000_000_000);
        assert_ne!(
            a,
            firing_event_id(d, "warning", 1_780_000_000_000, "deadline")
        );
        assert_ne!(
            a,
            firing_event_id(d, "overdue", 1_780_000_000_001, "deadline")
        );
        assert_ne!(a, firing_event_id(d, "overdue", 1_780_000_000_000, "dept"));
        assert_ne!(
            a,
            firing_event_id(Uuid::now_v7(), "overdue", 1_780_000_000_000, "deadline")
        );
        assert_ne!(
            deterministic_v7(1, &[b"ab", b"c"]),
            deterministic_v7(1, &[b"a", b"bc"])
        );
        // Parses back through the envelope check.
        let env = xinfang_domain::envelope::Envelope::with_id(
            a,
            "overdue",
            None,
            xinfang_domain::county::CountyCode::parse("411282").unwrap(),
            chrono::Utc::now(),
            serde_json::json!({}),
        )
        .unwrap();
        let back: xinfang_domain::envelope::Envelope =
            xinfang_domain::envelope::Envelope::from_bytes(&env.to_bytes().unwrap()).unwrap();
        assert_eq!(back.id, a);
    }
}
