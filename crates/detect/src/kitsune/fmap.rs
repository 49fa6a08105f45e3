//! The feature map: which features each autoencoder sees.
//!
//! During the feature-map grace period the detector accumulates online
//! correlation statistics over the features (as Kitsune's corClust does);
//! then features are clustered agglomeratively by correlation distance
//! `1 − corr` (single linkage, the reference's default)
//! and the dendrogram is cut top-down until every group has at most
//! `max_ae` features. Correlated features land in one group, so each small
//! autoencoder models one facet of the traffic.

/// Online sums for the correlation distance between features.
#[derive(Clone, Debug)]
pub struct CorrStats {
    n: usize,
    count: f64,
    sum: Vec<f64>,
    /// Sum of squared residuals per feature.
    srs: Vec<f64>,
    /// Sum of residual products, upper triangle row-major (`i < j`).
    prod: Vec<f64>,
    res: Vec<f64>,
}

impl CorrStats {
    /// Empty statistics over `n` features.
    pub fn new(n: usize) -> CorrStats {
        CorrStats {
            n,
            count: 0.0,
            sum: vec![0.0; n],
            srs: vec![0.0; n],
            prod: vec![0.0; n * n.saturating_sub(1) / 2],
            res: vec![0.0; n],
        }
    }

    /// Adds one feature vector (extra values are ignored, missing ones
    /// count as 0).
    pub fn update(&mut self, x: &[f64]) {
        self.count += 1.0;
        for i in 0..self.n {
            let v = x.get(i).copied().unwrap_or(0.0);
            let v = if v.is_finite() { v } else { 0.0 };
            self.sum[i] += v;
            let r = v - self.sum[i] / self.count;
            self.res[i] = r;
            self.srs[i] += r * r;
        }
        let mut k = 0;
        for i in 0..self.n {
            let ri = self.res[i];
            let row = &mut self.prod[k..k + self.n - i - 1];
            for (p, rj) in row.iter_mut().zip(&self.res[i + 1..]) {
                *p += ri * rj;
            }
            k += self.n - i - 1;
        }
    }

    /// Vectors seen.
    pub fn count(&self) -> u64 {
        self.count as u64
    }

    /// The correlation distance matrix (`n × n`, row-major): `1 − corr`,
    /// in `[0, 2]`; a feature that never varied is at distance 1 from all.
    pub fn distances(&self) -> Vec<f64> {
        let n = self.n;
        let mut d = vec![0.0; n * n];
        let sd: Vec<f64> = self.srs.iter().map(|s| s.sqrt()).collect();
        let mut k = 0;
        for i in 0..n {
            for j in i + 1..n {
                let den = sd[i] * sd[j];
                let c = if den > 0.0 { self.prod[k] / den } else { 0.0 };
                let v = (1.0 - c).clamp(0.0, 2.0);
                let v = if v.is_finite() { v } else { 1.0 };
                d[i * n + j] = v;
                d[j * n + i] = v;
                k += 1;
            }
        }
        d
    }

    /// Clusters the features into groups of at most `max_group`.
    pub fn cluster(&self, max_group: usize) -> Vec<Vec<usize>> {
        cluster(&self.distances(), self.n, max_group)
    }
}

/// A dendrogram node: a leaf (a feature) or a merge of two nodes.
enum Node {
    Leaf(usize),
    Merge(Box<Node>, Box<Node>, usize),
}

impl Node {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(_) => 1,
            Node::Merge(_, _, c) => *c,
        }
    }

    fn leaves(&self, out: &mut Vec<usize>) {
        match self {
            Node::Leaf(i) => out.push(*i),
            Node::Merge(a, b, _) => {
                a.leaves(out);
                b.leaves(out);
            }
        }
    }

    fn split(self, max: usize, out: &mut Vec<Vec<usize>>) {
        if self.count() <= max {
            let mut g = Vec::with_capacity(self.count());
            self.leaves(&mut g);
            out.push(g);
            return;
        }
        if let Node::Merge(a, b, _) = self {
            a.split(max, out);
            b.split(max, out);
        }
    }
}

/// Single-linkage agglomerative clustering of `n` points with distance
/// matrix `d` (`n × n`), cut into groups of at most `max_group` points.
/// Ties go to the lowest pair of indices, so the result is deterministic.
pub fn cluster(d: &[f64], n: usize, max_group: usize) -> Vec<Vec<usize>> {
    let max_group = max_group.max(1);
    if n == 0 {
        return Vec::new();
    }
    let mut dist: Vec<f64> = d.to_vec();
    dist.resize(n * n, 1.0);
    let mut nodes: Vec<Option<Node>> = (0..n).map(|i| Some(Node::Leaf(i))).collect();
    let mut alive: Vec<usize> = (0..n).collect();
    while alive.len() > 1 {
        let mut best = (f64::INFINITY, alive[0], alive[1]);
        for (ai, &i) in alive.iter().enumerate() {
            for &j in &alive[ai + 1..] {
                let v = dist[i * n + j];
                if v < best.0 {
                    best = (v, i, j);
                }
            }
        }
        let (_, i, j) = best;
        // Single linkage: the merged cluster (kept at i) is as close to k
        // as the closer of its parts.
        for &k in &alive {
            if k != i && k != j {
                let v = dist[i * n + k].min(dist[j * n + k]);
                dist[i * n + k] = v;
                dist[k * n + i] = v;
            }
        }
        let (a, b) = match (nodes[i].take(), nodes[j].take()) {
            (Some(a), Some(b)) => (a, b),
            _ => break,
        };
        let c = a.count() + b.count();
        nodes[i] = Some(Node::Merge(Box::new(a), Box::new(b), c));
        alive.retain(|&k| k != j);
    }
    let mut out = Vec::new();
    for node in nodes.into_iter().flatten() {
        node.split(max_group, &mut out);
    }
    pack(out, max_group)
}

/// Packs groups of fewer than half of `max_group` features together (in
/// order, up to `max_group` per pack). Single linkage peels features that
/// correlate with nothing — constants, mostly — off one at a time; dozens
/// of one-feature autoencoders model nothing a shared one cannot, and
/// they widen the output layer, whose cost grows with the square of the
/// number of groups.
fn pack(groups: Vec<Vec<usize>>, max_group: usize) -> Vec<Vec<usize>> {
    let small = |g: &Vec<usize>| 2 * g.len() < max_group;
    let (mut out, smalls): (Vec<_>, Vec<_>) = groups.into_iter().partition(|g| !small(g));
    let mut bin: Vec<usize> = Vec::new();
    for g in smalls {
        if bin.len() + g.len() > max_group {
            out.push(std::mem::take(&mut bin));
        }
        bin.extend(g);
    }
    if !bin.is_empty() {
        out.push(bin);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlated_features_group_together() {
        // Features 0 and 2 move together, 1 and 3 together; 4 moves
        // against 0 (distance 2: anti-correlation is not similarity).
        let mut s = CorrStats::new(5);
        for k in 0..200 {
            let a = (k as f64 * 0.37).sin();
            let b = (k as f64 * 1.91).cos();
            s.update(&[a, b, 2.0 * a + 1.0, 3.0 * b - 1.0, -a]);
        }
        let d = s.distances();
        assert!(d[2] < 1e-9, "{}", d[2]);
        assert!(d[5 + 3] < 1e-9, "{}", d[5 + 3]);
        assert!(d[4] > 1.99, "{}", d[4]);
        let mut c = CorrStats::new(2);
        c.update(&[1.0, 3.0]);
        c.update(&[2.0, 3.0]);
        assert_eq!(c.distances()[1], 1.0, "a constant is at distance 1");
        let mut g = s.cluster(2);
        for x in &mut g {
            x.sort();
        }
        g.sort();
        assert_eq!(g, vec![vec![0, 2], vec![1, 3], vec![4]]);
        // With room for 5, the small groups share.
        assert_eq!(s.cluster(5).iter().map(Vec::len).sum::<usize>(), 5);
        assert!(s.cluster(5).len() < 3);
    }

    #[test]
    fn groups_cover_every_feature_once_and_respect_the_cap() {
        let n = 23;
        let mut s = CorrStats::new(n);
        for k in 0..100 {
            let x: Vec<f64> = (0..n).map(|i| ((k * (i + 1)) as f64 * 0.1).sin()).collect();
            s.update(&x);
        }
        for max in [1, 3, 10, 50] {
            let g = s.cluster(max);
            let mut all: Vec<usize> = g.iter().flatten().copied().collect();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            assert!(g.iter().all(|x| !x.is_empty() && x.len() <= max));
        }
    }
}
