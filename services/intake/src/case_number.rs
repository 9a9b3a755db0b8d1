//! Case numbers `XF-<county>-<yyyy>-<seq>` (gap-free per county and year) and query codes.

use rand::Rng;
use xinfang_domain::county::CountyCode;

/// The start of a statement that takes the next number of county `$3` and year `$1` inside the
/// registering transaction, as `next.case_no` (the same text as [`format`]). The row lock
/// serialises registrations of one county and year across instances until commit; a
/// rollback returns the number, so the sequence has no gaps. The registration's insert
/// follows it in the same statement: the lock is taken as late in the transaction as it can be.
pub const TAKE_NEXT: &str = "with taken as (
         insert into case_sequences (county, year, last) values ($3, $1, 1)
         on conflict (county, year) do update set last = case_sequences.last + 1
         returning last
     ), next as (
         select 'XF-' || $3 || '-' || lpad($1::text, 4, '0') || '-'
                || lpad(last::text, greatest(6, length(last::text)), '0') as case_no
         from taken
     )";

pub fn format(county: &CountyCode, year: i32, seq: i64) -> String {
    format!("XF-{county}-{year:04}-{seq:06}")
}

/// Letters and digits a person cannot confuse (no 0/O, 1/I/L).
const QUERY_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// An 8-character query code (查询码), ~39 bits of randomness.
pub fn query_code() -> String {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| QUERY_ALPHABET[rng.random_range(0..QUERY_ALPHABET.len())] as char)
        .collect()
}

/// True if `raw` has the shape of a query code (checked before any lookup).
pub fn is_query_code(raw: &str) -> bool {
    raw.len() == 8 && raw.bytes().all(|b| QUERY_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_codes() {
        let c = CountyCode::parse("411282").unwrap();
        assert_eq!(format(&c, 2026, 42), "XF-411282-2026-000042");
        for _ in 0..100 {
            let q = query_code();
            assert!(is_query_code(&q), "{q}");
        }
        assert!(!is_query_code("ABCDEFG0"));
        assert!(!is_query_code("abcdefgh"));
    }
}
