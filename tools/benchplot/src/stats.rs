//! Small-sample statistics: median, min, max and a seeded percentile
//! bootstrap interval of the median.

use serde_json::{json, Value};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2000;
/// Coverage of the intervals.
pub const LEVEL: f64 = 0.95;
/// Base seed of every bootstrap (each interval mixes in its own key, so
/// intervals are independent of each other and of the order they are
/// computed in, and a rerun gives the same numbers).
pub const SEED: u64 = 0x5eed_b007_57a7_0001;

/// splitmix64: a tiny, seedable generator (no dependency).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is below 2^-50 here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// FNV-1a of a key: the per-interval part of the bootstrap seed.
pub fn key_seed(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        ^ SEED
}

/// Median of `v` (the mean of the two middle values for an even count).
/// `None` for an empty slice. NaNs are not expected.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

/// Percentile `q` in `[0, 1]` of sorted `s` (linear interpolation).
fn percentile(s: &[f64], q: f64) -> f64 {
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// A percentile bootstrap interval of the median of `v`, seeded by `key`.
pub fn bootstrap_median(v: &[f64], key: &str) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    if v.len() == 1 {
        return Some((v[0], v[0]));
    }
    let mut rng = Rng::new(key_seed(key));
    let mut meds = Vec::with_capacity(RESAMPLES);
    let mut sample = vec![0.0; v.len()];
    for _ in 0..RESAMPLES {
        for x in sample.iter_mut() {
            *x = v[rng.below(v.len())];
        }
        meds.push(median(&sample).expect("non-empty"));
    }
    meds.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    Some((percentile(&meds, tail), percentile(&meds, 1.0 - tail)))
}

/// What the reports say about a set of samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub samples: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// 95 % percentile-bootstrap interval of the median.
    pub lo: f64,
    pub hi: f64,
}

impl Summary {
    /// The summary of `samples` (None if there are none), its bootstrap
    /// seeded by `key`.
    pub fn of(samples: Vec<f64>, key: &str) -> Option<Summary> {
        let median = median(&samples)?;
        let (lo, hi) = bootstrap_median(&samples, key)?;
        let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Summary { samples, median, min, max, lo, hi })
    }

    /// JSON: n, median, min, max, ci95, and the samples if `with_samples`.
    pub fn json(&self, with_samples: bool) -> Value {
        let mut v = json!({
            "n": self.samples.len(),
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "ci95": [self.lo, self.hi],
        });
        if with_samples {
            v["samples"] = json!(self.samples);
        }
        v
    }

    /// A count's compact form: the number if it never varied, else
    /// `[median, min, max]` (no interval; event counts are reported as
    /// median and range).
    pub fn compact(&self) -> Value {
        if self.min == self.max {
            json!(self.median)
        } else {
            json!([self.median, self.min, self.max])
        }
    }

    /// Reads back what [`Summary::json`] or [`Summary::compact`] wrote
    /// (samples may be absent; a compact form's interval is its range).
    pub fn from_json(v: &Value) -> Option<Summary> {
        if let Some(x) = v.as_f64() {
            return Some(Summary { samples: vec![], median: x, min: x, max: x, lo: x, hi: x });
        }
        if let Some(a) = v.as_array() {
            let (median, min, max) = (a.first()?.as_f64()?, a.get(1)?.as_f64()?, a.get(2)?.as_f64()?);
            return Some(Summary { samples: vec![], median, min, max, lo: min, hi: max });
        }
        let ci = v.get("ci95")?.as_array()?;
        Some(Summary {
            samples: v
                .get("samples")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
            median: v.get("median")?.as_f64()?,
            min: v.get("min")?.as_f64()?,
            max: v.get("max")?.as_f64()?,
            lo: ci.first()?.as_f64()?,
            hi: ci.get(1)?.as_f64()?,
        })
    }

    /// Whether the two intervals are disjoint (the only case in which the
    /// reports call a difference a trend).
    pub fn separated_from(&self, other: &Summary) -> bool {
        self.hi < other.lo || other.hi < self.lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_median() {
        let v: Vec<f64> = (0..41).map(|i| (f64::from(i) * 0.37).sin() * 3.0 + 3.0).collect();
        let a = bootstrap_median(&v, "k").unwrap();
        assert_eq!(a, bootstrap_median(&v, "k").unwrap(), "same key, same interval");
        assert_ne!(key_seed("k"), key_seed("other"), "the key enters the seed");
        let m = median(&v).unwrap();
        assert!(a.0 <= m && m <= a.1, "{a:?} vs {m}");
        assert!(a.1 - a.0 < 4.0, "{a:?}");
        assert_eq!(bootstrap_median(&[5.0], "k"), Some((5.0, 5.0)));
        assert_eq!(bootstrap_median(&[], "k"), None);
    }

    #[test]
    fn interval_narrows_with_more_samples() {
        let mut rng = Rng::new(7);
        let draw = |rng: &mut Rng, n: usize| -> Vec<f64> {
            (0..n).map(|_| (rng.next_u64() % 1000) as f64 / 100.0).collect()
        };
        let small = draw(&mut rng, 9);
        let large = draw(&mut rng, 900);
        let (a, b) = (bootstrap_median(&small, "s").unwrap(), bootstrap_median(&large, "l").unwrap());
        assert!(b.1 - b.0 < (a.1 - a.0) / 3.0, "{a:?} {b:?}");
    }

    #[test]
    fn summary_round_trips_and_compares() {
        let s = Summary::of(vec![1.0, 2.0, 3.0, 4.0, 5.0], "x").unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Summary::from_json(&s.json(true)), Some(s.clone()));
        let c = Summary::from_json(&s.compact()).unwrap();
        assert_eq!((c.median, c.min, c.max, c.lo, c.hi), (3.0, 1.0, 5.0, 1.0, 5.0));
        let one = Summary::of(vec![2.0, 2.0], "o").unwrap();
        assert_eq!(one.compact(), json!(2.0));
        let far = Summary::of(vec![10.0, 11.0, 12.0], "y").unwrap();
        assert!(s.separated_from(&far) && far.separated_from(&s));
        assert!(!s.separated_from(&s));
        assert!(Summary::of(vec![], "z").is_none());
    }
}
