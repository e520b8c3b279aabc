//! News and social sentiment as bar features: tickers found in text, an
//! offline lexicon scorer, and per-bar aggregates joined without look-ahead.
//!
//! The scorer is VADER's lexicon (C. J. Hutto, MIT licence, shipped in
//! `engine/data/lexicon/`) with a finance overlay of our own, and VADER's
//! core rules: a negation in the three words before flips and damps a
//! word (× −0.74), a booster before it adds ±0.293, a clause after "but"
//! weighs 1.5 × and the one before 0.5 ×, and the sum is normalised to
//! (−1, 1) by x / √(x² + 15). It leaves out VADER's capitals, punctuation
//! and idiom rules: headlines are often all capitals, and emphasis says
//! little about direction.

use crate::TimeMs;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const N_SCALAR: f64 = -0.74;
const B_INCR: f64 = 0.293;
const ALPHA: f64 = 15.0;

static LEXICON: LazyLock<HashMap<String, f64>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for text in [
        include_str!("../../data/lexicon/vader.tsv"),
        include_str!("../../data/lexicon/finance.tsv"),
    ] {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((w, v)) = line.split_once('\t')
                && let Ok(v) = v.trim().parse::<f64>()
            {
                m.insert(w.trim().to_ascii_lowercase(), v);
            }
        }
    }
    m
});

const NEGATE: &[&str] = &[
    "aint", "arent", "cannot", "cant", "couldnt", "didnt", "doesnt", "dont", "hadnt", "hasnt",
    "havent", "isnt", "mightnt", "mustnt", "neither", "never", "none", "nor", "not", "nothing",
    "nowhere", "shouldnt", "wasnt", "werent", "without", "wont", "wouldnt", "rarely", "seldom",
    "despite", "no",
];

const BOOST_UP: &[&str] = &[
    "absolutely",
    "completely",
    "considerably",
    "deeply",
    "enormously",
    "entirely",
    "especially",
    "exceptionally",
    "extremely",
    "greatly",
    "highly",
    "hugely",
    "incredibly",
    "massively",
    "really",
    "remarkably",
    "so",
    "strongly",
    "substantially",
    "totally",
    "tremendously",
    "very",
    "sharply",
];
const BOOST_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kinda",
    "less",
    "little",
    "marginally",
    "occasionally",
    "partly",
    "scarcely",
    "slightly",
    "somewhat",
    "sort",
];

/// Lower-case words, apostrophes dropped (`didn't` → `didnt`).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '$'))
        .map(|w| w.replace('\'', "").to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A text's sentiment in (−1, 1) (VADER's "compound"), 0 for none.
pub fn score(text: &str) -> f64 {
    let ws = words(text);
    let mut vals: Vec<f64> = Vec::with_capacity(ws.len());
    for (i, w) in ws.iter().enumerate() {
        let Some(&base) = LEXICON.get(w.trim_start_matches('$')) else {
            vals.push(0.0);
            continue;
        };
        let mut v = base;
        for back in 1..=3 {
            let Some(prev) = i.checked_sub(back).map(|j| ws[j].as_str()) else {
                break;
            };
            // Boosters count less the farther they are (VADER: 1, 0.95, 0.9).
            let damp = [1.0, 0.95, 0.9][back - 1];
            if BOOST_UP.contains(&prev) {
                v += v.signum() * B_INCR * damp;
            } else if BOOST_DOWN.contains(&prev) {
                v -= v.signum() * B_INCR * damp;
            }
            if NEGATE.contains(&prev) {
                v *= N_SCALAR;
            }
        }
        vals.push(v);
    }
    if let Some(b) = ws.iter().position(|w| w == "but") {
        for (i, v) in vals.iter_mut().enumerate() {
            *v *= if i < b { 0.5 } else { 1.5 };
        }
    }
    let sum: f64 = vals.iter().sum();
    if sum == 0.0 {
        0.0
    } else {
        sum / (sum * sum + ALPHA).sqrt()
    }
}

/// Upper-case words that are not tickers when written bare.
const NOT_TICKERS: &[&str] = &[
    "CEO", "CFO", "USA", "IPO", "ETF", "EPS", "GDP", "CPI", "FED", "SEC", "NYSE", "YOLO", "ATH",
    "IMO", "THE", "FOR", "ALL", "NEW", "NOW", "BIG", "OUT", "AND",
];

/// Tickers of `universe` a text mentions: any `$TICKER` (in any case), and
/// bare ones in capitals of three letters or more (shorter bare capitals —
/// V, MA, KO, GS — are everyday words or initials too often to count).
pub fn tickers(text: &str, universe: &HashSet<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '$')) {
        let (cashtag, word) = match raw.strip_prefix('$') {
            Some(w) => (true, w),
            None => (false, raw),
        };
        if word.is_empty() {
            continue;
        }
        let upper = word.to_ascii_uppercase();
        let bare_ok = word == upper && upper.len() >= 3 && !NOT_TICKERS.contains(&upper.as_str());
        if universe.contains(upper.as_str()) && (cashtag || bare_ok) && !out.contains(&upper) {
            out.push(upper);
        }
    }
    out
}

/// One scored item about one symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    /// When it was published (ms): it counts from then on, never before.
    pub time: TimeMs,
    pub score: f64,
}

/// Sentiment known at one bar's close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarSentiment {
    /// Mean score of the items published during the bar (None: no item).
    pub mean: Option<f64>,
    pub count: u32,
    /// The bar's count over the mean count of the `window` bars before it
    /// (None until that window has passed); 1 is an ordinary bar.
    pub abnormal_volume: Option<f64>,
}

/// Per-bar sentiment of `items` for bars opening at `opens` (ascending,
/// each `dur` long): bar i sees the items published in `[open_i, open_i +
/// dur)`, i.e. before its close, and nothing later.
pub fn per_bar(opens: &[TimeMs], dur: i64, items: &[Item], window: usize) -> Vec<BarSentiment> {
    let mut sorted: Vec<Item> = items
        .iter()
        .copied()
        .filter(|i| i.score.is_finite())
        .collect();
    sorted.sort_by_key(|i| i.time);
    let mut out = Vec::with_capacity(opens.len());
    let mut counts: Vec<u32> = Vec::with_capacity(opens.len());
    let mut k = 0;
    for &open in opens {
        let close = open + dur;
        while k < sorted.len() && sorted[k].time < open {
            k += 1;
        }
        let start = k;
        while k < sorted.len() && sorted[k].time < close {
            k += 1;
        }
        let bar = &sorted[start..k];
        let count = bar.len() as u32;
        let mean =
            (!bar.is_empty()).then(|| bar.iter().map(|i| i.score).sum::<f64>() / f64::from(count));
        let abnormal_volume = (window > 0 && counts.len() >= window).then(|| {
            let past = &counts[counts.len() - window..];
            let m = past.iter().map(|c| f64::from(*c)).sum::<f64>() / window as f64;
            // A quiet window counts as one item per window, not as zero.
            f64::from(count) / m.max(1.0 / window as f64)
        });
        counts.push(count);
        out.push(BarSentiment {
            mean,
            count,
            abnormal_volume,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compound(x: f64) -> f64 {
        x / (x * x + ALPHA).sqrt()
    }

    #[test]
    fn scores_finance_headlines_in_the_right_direction() {
        assert!(score("Nvidia beats estimates and raises guidance, shares surge") > 0.6);
        assert!(score("Intel misses, cuts outlook; stock plunges on weak demand") < -0.6);
        assert_eq!(score("Apple to report earnings on Thursday"), 0.0);
        // Negation flips and damps.
        let good = score("results were good");
        let not_good = score("results weren't good");
        assert!(good > 0.0 && not_good < 0.0 && not_good.abs() < good.abs());
        // After "but" counts more.
        assert!(score("revenue was great but the outlook is terrible") < 0.0);
        // By hand, from the overlay's valences.
        assert!((score("surge") - compound(1.9)).abs() < 1e-12);
        assert!((score("very bullish") - compound(2.2 + 0.293)).abs() < 1e-12);
        assert!((score("not bullish") - compound(2.2 * N_SCALAR)).abs() < 1e-12);
    }

    #[test]
    fn finds_tickers_without_everyday_words() {
        let u: HashSet<&str> = ["AAPL", "NVDA", "V", "MA", "AMD", "ALL"]
            .into_iter()
            .collect();
        assert_eq!(
            tickers("$NVDA and AAPL up; AMD too", &u),
            vec!["NVDA", "AAPL", "AMD"]
        );
        assert_eq!(
            tickers("V and MA report; $V beats", &u),
            vec!["V"],
            "short ones only as cashtags"
        );
        assert!(tickers("ALL IN on the plan, aapl in lower case", &u).is_empty());
        assert_eq!(tickers("$aapl", &u), vec!["AAPL"], "cashtags in any case");
    }

    #[test]
    fn a_bar_sees_only_what_was_published_before_its_close() {
        let h = 3_600_000;
        let opens: Vec<TimeMs> = (0..6).map(|i| i * h).collect();
        let items = vec![
            Item {
                time: 10,
                score: 0.5,
            },
            Item {
                time: h - 1,
                score: -0.1,
            },
            // Published at the second bar's open: the second bar's, not the first's.
            Item {
                time: h,
                score: 0.9,
            },
            Item {
                time: 5 * h + 1,
                score: -1.0,
            },
        ];
        let s = per_bar(&opens, h, &items, 2);
        assert_eq!(s[0].count, 2);
        assert!((s[0].mean.unwrap() - 0.2).abs() < 1e-12);
        assert_eq!((s[1].count, s[1].mean), (1, Some(0.9)));
        assert_eq!((s[2].count, s[2].mean), (0, None));
        assert_eq!(s[1].abnormal_volume, None, "no window yet");
        // Bar 2: no item against a mean of 1.5 over bars 0 and 1.
        assert_eq!(s[2].abnormal_volume, Some(0.0));
        assert_eq!(s[5].count, 1);
        // An item published later changes nothing at or before the bar it falls after.
        let mut later = items.clone();
        later.push(Item {
            time: 3 * h + 5,
            score: 1.0,
        });
        let t = per_bar(&opens, h, &later, 2);
        assert_eq!(&t[..3], &s[..3]);
        assert_ne!(t[3], s[3]);
    }
}
