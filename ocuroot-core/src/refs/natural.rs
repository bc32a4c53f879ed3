//! Natural ordering of ref strings: runs of digits compare as numbers, so `r2` sorts before
//! `r10` and `build/9` before `build/10` (issue 11).
//!
//! [`natural_cmp`] is a total order consistent with string equality: two strings compare
//! equal only when they are identical (`r7` and `r007` are equal as numbers and fall back to
//! byte order). [`Ref`](super::Ref)'s `Ord` uses it field by field, so every sorted list of
//! refs (`state match`, the releases of a commit, the release `release retry` picks) is in
//! natural order.

use std::cmp::Ordering;

/// Compares two strings in natural order: maximal runs of ASCII digits compare by numeric
/// value, everything else byte by byte; ties (`r7` against `r007`) fall back to byte order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < x.len() && x[i].is_ascii_digit() {
                i += 1;
            }
            while j < y.len() && y[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&x[si..i]);
            let db = trim_zeros(&y[sj..j]);
            // Without leading zeros, the longer run is the larger number; equal lengths
            // compare digit by digit.
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = x[i].cmp(&y[j]);
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use test_case::test_case;

    use super::*;

    #[test_case("r2", "r10", Ordering::Less; "numbers not strings")]
    #[test_case("r9", "r12", Ordering::Less; "nine before twelve")]
    #[test_case("r12", "r12", Ordering::Equal; "equal")]
    #[test_case("r7", "r007", Ordering::Greater; "leading zeros tie break by bytes")]
    #[test_case("r1", "r1a", Ordering::Less; "prefix first")]
    #[test_case("build/9/status", "build/10/status", Ordering::Less; "inner run")]
    #[test_case("a", "b", Ordering::Less; "letters")]
    #[test_case("r10", "v1", Ordering::Less; "letters before numbers matter")]
    #[test_case("1", "a", Ordering::Less; "digit byte before letter")]
    #[test_case("", "0", Ordering::Less; "empty first")]
    #[test_case("r99999999999999999999999", "r100000000000000000000000", Ordering::Less; "beyond u64")]
    fn table(a: &str, b: &str, want: Ordering) {
        assert_eq!(natural_cmp(a, b), want);
        assert_eq!(natural_cmp(b, a), want.reverse());
    }

    #[test]
    fn twelve_releases_sort_by_number() {
        let mut ids: Vec<String> = (1..=12).rev().map(|n| format!("r{n}")).collect();
        ids.sort_by(|a, b| natural_cmp(a, b));
        let want: Vec<String> = (1..=12).map(|n| format!("r{n}")).collect();
        assert_eq!(ids, want);
    }

    proptest! {
        #[test]
        fn equal_only_when_identical(a in "[a-c0-2]{0,6}", b in "[a-c0-2]{0,6}") {
            prop_assert_eq!(natural_cmp(&a, &b) == Ordering::Equal, a == b);
            prop_assert_eq!(natural_cmp(&a, &b), natural_cmp(&b, &a).reverse());
        }

        #[test]
        fn transitive(a in "[a0-2]{0,5}", b in "[a0-2]{0,5}", c in "[a0-2]{0,5}") {
            let mut v = [a, b, c];
            v.sort_by(|x, y| natural_cmp(x, y));
            prop_assert_ne!(natural_cmp(&v[0], &v[1]), Ordering::Greater);
            prop_assert_ne!(natural_cmp(&v[1], &v[2]), Ordering::Greater);
            prop_assert_ne!(natural_cmp(&v[0], &v[2]), Ordering::Greater);
        }

        #[test]
        fn numbers_order_as_numbers(n in 0u64..100_000, m in 0u64..100_000) {
            prop_assert_eq!(natural_cmp(&format!("r{n}"), &format!("r{m}")), n.cmp(&m));
        }
    }
}
