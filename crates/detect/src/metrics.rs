//! Evaluation metrics over per-packet scores and labels (`true` =
//! attack). Pure functions; higher scores mean "more anomalous". NaN
//! scores sort above every number (they count as the most anomalous), so
//! a detector cannot hide a broken score.

use std::cmp::Ordering;

fn cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Indices of `scores` from the highest score down (stable among ties).
fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| cmp(scores[b], scores[a]));
    idx
}

/// Area under the ROC curve: the probability that a random attack packet
/// scores above a random benign one, ties counting one half (the
/// Mann–Whitney statistic with average ranks). `None` when either class
/// is missing. Extra scores or labels beyond the shorter slice are ignored.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let (scores, labels) = (&scores[..n], &labels[..n]);
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| cmp(scores[a], scores[b]));
    // Sum of the positives' ranks (1-based), ties sharing their average.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && cmp(scores[idx[j]], scores[idx[i]]) == Ordering::Equal {
            j += 1;
        }
        let avg = (i + 1 + j) as f64 / 2.0;
        let p = idx[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum += avg * p as f64;
        i = j;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// Average precision: the mean of the precision at each attack packet's
/// score, i.e. `Σ (Rₖ − Rₖ₋₁)·Pₖ` over the distinct score thresholds from
/// the highest down (tied scores form one threshold). `None` without any
/// attack packet.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let (scores, labels) = (&scores[..n], &labels[..n]);
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let idx = order_desc(scores);
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        let mut new_tp = 0;
        while j < n && cmp(scores[idx[j]], scores[idx[i]]) == Ordering::Equal {
            if labels[idx[j]] {
                new_tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        tp += new_tp;
        if new_tp > 0 {
            let precision = tp as f64 / (tp + fp) as f64;
            ap += precision * new_tp as f64 / pos as f64;
        }
        i = j;
    }
    Some(ap)
}

/// Precision and recall when every packet scoring at or above
/// `threshold` is called an attack. With no packet called an attack,
/// precision is 1 (no false alarm was raised); with no attack packet,
/// recall is 0.
pub fn precision_recall_at(scores: &[f64], labels: &[bool], threshold: f64) -> (f64, f64) {
    let (mut tp, mut fp, mut pos) = (0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        let called = cmp(s, threshold) != Ordering::Less;
        pos += l as usize;
        if called && l {
            tp += 1;
        } else if called {
            fp += 1;
        }
    }
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let recall = if pos == 0 {
        0.0
    } else {
        tp as f64 / pos as f64
    };
    (precision, recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_perfect_inverted_and_missing_class() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }

    #[test]
    fn auc_by_hand_with_ties() {
        // Positives 0.8, 0.4 ; negatives 0.4, 0.3, 0.1.
        // Pairs: 0.8 beats all 3; 0.4 ties one (½) and beats two → 5.5 / 6.
        let s = [0.8, 0.4, 0.4, 0.3, 0.1];
        let l = [true, true, false, false, false];
        assert!(close(roc_auc(&s, &l).unwrap(), 5.5 / 6.0));
        // Everything tied: ½.
        assert!(close(
            roc_auc(&[1.0; 4], &[true, false, true, false]).unwrap(),
            0.5
        ));
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: P N P N → precisions at hits 1/1 and 2/3 → (1 + 2/3)/2.
        let s = [0.9, 0.8, 0.7, 0.6];
        let l = [true, false, true, false];
        assert!(close(
            average_precision(&s, &l).unwrap(),
            (1.0 + 2.0 / 3.0) / 2.0
        ));
        // A tie between a hit and a miss counts as one threshold: P=1/2.
        let s = [0.5, 0.5];
        let l = [true, false];
        assert!(close(average_precision(&s, &l).unwrap(), 0.5));
        assert_eq!(average_precision(&[0.1], &[false]), None);
    }

    #[test]
    fn precision_recall_by_hand() {
        let s = [0.9, 0.8, 0.7, 0.6];
        let l = [true, false, true, false];
        let (p, r) = precision_recall_at(&s, &l, 0.75);
        assert!(close(p, 0.5) && close(r, 0.5));
        let (p, r) = precision_recall_at(&s, &l, 0.7);
        assert!(close(p, 2.0 / 3.0) && close(r, 1.0));
        assert_eq!(precision_recall_at(&s, &l, 2.0), (1.0, 0.0));
    }

    #[test]
    fn nan_counts_as_most_anomalous() {
        assert_eq!(roc_auc(&[f64::NAN, 0.1], &[true, false]), Some(1.0));
    }
}
