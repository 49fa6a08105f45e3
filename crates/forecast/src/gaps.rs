//! Filling gaps: missing points are filled from one season earlier (the
//! same time yesterday, or last week), or by a straight line between the
//! neighbours when there is no earlier season, so that the models, which
//! need a regular series, see a plausible value rather than a zero.

/// Fills the points where `missing` is true, in time order (a gap longer
/// than the season copies the already-filled season before it). Returns
/// how many points were filled.
pub fn fill(values: &mut [f64], missing: &[bool], season: Option<usize>) -> usize {
    assert_eq!(values.len(), missing.len());
    let n = values.len();
    let mut filled = 0;
    let mut i = 0;
    while i < n {
        if !missing[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && missing[j] {
            j += 1;
        }
        // [i, j) is a gap.
        for k in i..j {
            values[k] = match season {
                Some(m) if m > 0 && k >= m => values[k - m],
                _ => {
                    let before = i.checked_sub(1).map(|b| values[b]);
                    let after = (j < n).then(|| values[j]);
                    match (before, after) {
                        (Some(a), Some(b)) => {
                            let t = (k + 1 - i) as f64 / (j + 1 - i) as f64;
                            a + (b - a) * t
                        }
                        (Some(a), None) => a,
                        (None, Some(b)) => b,
                        (None, None) => 0.0,
                    }
                }
            };
            filled += 1;
        }
        i = j;
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_take_last_season_or_a_line() {
        let mut v = vec![1.0, 2.0, 3.0, 0.0, 0.0, 6.0];
        let miss = [false, false, false, true, true, false];
        assert_eq!(fill(&mut v, &miss, Some(3)), 2);
        assert_eq!(v, vec![1.0, 2.0, 3.0, 1.0, 2.0, 6.0]);
        let mut v = vec![1.0, 0.0, 0.0, 4.0];
        fill(&mut v, &[false, true, true, false], None);
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0]);
        // A season longer than the history before the gap: a line.
        let mut v = vec![0.0, 5.0, 0.0];
        fill(&mut v, &[true, false, true], Some(10));
        assert_eq!(v, vec![5.0, 5.0, 5.0]);
    }
}
