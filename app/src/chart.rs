//! Charts drawn as inline SVG by the same components on the server and in
//! the browser: no chart library, no canvas, readable before hydration.

use crate::types::{Bar, ChartData, PlanView};
use leptos::prelude::*;

const W: f64 = 900.0;
const H: f64 = 320.0;
/// Room on the right for price labels.
const AXIS: f64 = 96.0;
const PAD: f64 = 10.0;

/// Maps a value range onto the SVG's vertical axis (top = high).
#[derive(Debug, Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>) -> Option<Scale> {
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if !lo.is_finite() {
            return None;
        }
        // A flat series still needs a band to draw in.
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-4).max(1e-9);
        Some(Scale {
            lo: lo - pad,
            hi: hi + pad,
        })
    }

    fn y(&self, v: f64) -> f64 {
        PAD + (self.hi - v) / (self.hi - self.lo) * (H - 2.0 * PAD)
    }
}

/// Prices with as many decimals as their size needs.
pub fn price(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Candles with the reader's past signals (triangles) and, when a plan is
/// given, its entry, targets and stop as horizontal levels.
#[component]
pub fn CandleChart(data: ChartData, #[prop(optional)] plan: Option<PlanView>) -> impl IntoView {
    let bars: Vec<Bar> = data.bars.clone();
    if bars.is_empty() {
        return view! { <p class="empty">"No candles stored for this series."</p> }.into_any();
    }
    let levels: Vec<(&'static str, f64, &'static str)> = plan
        .as_ref()
        .map(|p| {
            vec![
                ("entry", p.entry, "level-entry"),
                ("TP1", p.take_profit[0], "level-tp"),
                ("TP2", p.take_profit[1], "level-tp"),
                ("TP3", p.take_profit[2], "level-tp"),
                ("SL", p.stop_loss, "level-sl"),
            ]
        })
        .unwrap_or_default();
    let Some(scale) = Scale::new(
        bars.iter()
            .flat_map(|b| [b.h, b.l])
            .chain(levels.iter().map(|l| l.1)),
    ) else {
        return view! { <p class="empty">"No finite prices to draw."</p> }.into_any();
    };
    let n = bars.len() as f64;
    let step = (W - AXIS) / n;
    let body = (step * 0.7).max(1.0);
    let x = move |i: usize| i as f64 * step + step / 2.0;
    let candles = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let up = b.c >= b.o;
            let (top, bottom) = if up { (b.c, b.o) } else { (b.o, b.c) };
            let y_top = scale.y(top);
            let h = (scale.y(bottom) - y_top).max(1.0);
            view! {
                <g class={if up { "candle up" } else { "candle down" }}>
                    <line x1={x(i)} x2={x(i)} y1={scale.y(b.h)} y2={scale.y(b.l)} />
                    <rect x={x(i) - body / 2.0} y=y_top width=body height=h />
                </g>
            }
        })
        .collect_view();
    let markers = data
        .markers
        .iter()
        .filter_map(|m| {
            let i = bars.iter().position(|b| b.t == m.t)?;
            let long = m.side == "long";
            let bar = bars[i];
            // Below the low for a long, above the high for a short.
            let (tip, dir) = if long {
                (scale.y(bar.l) + 4.0, 1.0)
            } else {
                (scale.y(bar.h) - 4.0, -1.0)
            };
            let cx = x(i);
            let pts = format!(
                "{cx},{tip} {},{} {},{}",
                cx - 5.0,
                tip + dir * 9.0,
                cx + 5.0,
                tip + dir * 9.0
            );
            Some(view! {
                <polygon class={if long { "marker long" } else { "marker short" }} points=pts>
                    <title>{format!("{} signal at {}", m.side, price(m.entry))}</title>
                </polygon>
            })
        })
        .collect_view();
    let level_lines = levels
        .iter()
        .map(|&(name, v, class)| {
            let y = scale.y(v);
            view! {
                <g class=format!("level {class}")>
                    <line x1=0 x2={W - AXIS} y1=y y2=y />
                    <text x={W - AXIS + 4.0} y={y + 4.0}>{format!("{name} {}", price(v))}</text>
                </g>
            }
        })
        .collect_view();
    // Four price ticks on the axis.
    let ticks = (0..=3)
        .map(|k| {
            let v = scale.lo + (scale.hi - scale.lo) * (0.1 + 0.8 * k as f64 / 3.0);
            let y = scale.y(v);
            view! {
                <g class="tick">
                    <line x1=0 x2={W - AXIS} y1=y y2=y />
                    <text x={W - AXIS + 4.0} y={y + 4.0}>{price(v)}</text>
                </g>
            }
        })
        .collect_view();
    let first = crate::types::format_utc(bars[0].t);
    let last = crate::types::format_utc(bars[bars.len() - 1].t);
    let title = format!(
        "{} {} · {} bars · {first} → {last} UTC",
        data.symbol,
        data.timeframe,
        bars.len()
    );
    view! {
        <figure class="chart">
            <svg
                class="candles"
                viewBox=format!("0 0 {W} {H}")
                preserveAspectRatio="none"
                role="img"
                aria-label=title.clone()
                data-bars=bars.len()
                data-markers=data.markers.len()
            >
                {ticks}
                {candles}
                {level_lines}
                {markers}
            </svg>
            <figcaption class="muted small">{title}</figcaption>
        </figure>
    }
    .into_any()
}

/// One line of a [`LineChart`]: its label, CSS class, and (t, value) points.
pub type Line = (String, &'static str, Vec<(i64, f64)>);

/// One or more lines over time: an equity curve beside buy-and-hold, a
/// drawdown, training losses by epoch.
#[component]
pub fn LineChart(
    series: Vec<Line>,
    #[prop(optional)] height: Option<f64>,
    #[prop(optional, into)] id: Option<String>,
) -> impl IntoView {
    let h = height.unwrap_or(220.0);
    let all = || series.iter().flat_map(|s| s.2.iter());
    let (t0, t1) = all().fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let Some(scale) = Scale::new(all().map(|p| p.1)) else {
        return view! { <p class="empty">"Nothing to draw."</p> }.into_any();
    };
    let span = (t1 - t0).max(1) as f64;
    let y = move |v: f64| PAD + (scale.hi - v) / (scale.hi - scale.lo) * (h - 2.0 * PAD);
    let x = move |t: i64| (t - t0) as f64 / span * (W - AXIS);
    let lines = series
        .iter()
        .map(|(label, class, pts)| {
            let d = pts
                .iter()
                .enumerate()
                .map(|(i, &(t, v))| {
                    format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(t), y(v))
                })
                .collect::<String>();
            view! {
                <path class=format!("line {class}") d=d>
                    <title>{label.clone()}</title>
                </path>
            }
        })
        .collect_view();
    let ticks = (0..=3)
        .map(|k| {
            let v = scale.lo + (scale.hi - scale.lo) * (0.1 + 0.8 * k as f64 / 3.0);
            view! {
                <g class="tick">
                    <line x1=0 x2={W - AXIS} y1={y(v)} y2={y(v)} />
                    <text x={W - AXIS + 4.0} y={y(v) + 4.0}>{price(v)}</text>
                </g>
            }
        })
        .collect_view();
    let legend = series
        .iter()
        .map(|(label, class, _)| view! { <span class=format!("legend {class}")>{label.clone()}</span> })
        .collect_view();
    view! {
        <figure class="chart" id=id>
            <svg class="lines" viewBox=format!("0 0 {W} {h}") preserveAspectRatio="none" role="img">
                {ticks}
                {lines}
            </svg>
            <figcaption class="muted small">{legend}</figcaption>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_maps_high_to_top_and_pads_flat_series() {
        let s = Scale::new([10.0, 20.0].into_iter()).unwrap();
        assert!(s.y(20.0) < s.y(10.0), "higher prices are drawn higher");
        assert!(s.y(20.0) > PAD && s.y(10.0) < H - PAD, "5 % headroom");
        let flat = Scale::new([5.0, 5.0].into_iter()).unwrap();
        assert!(flat.hi > flat.lo);
        assert!(Scale::new([f64::NAN].into_iter()).is_none());
    }

    #[test]
    fn prices_keep_the_digits_their_size_needs() {
        assert_eq!(price(104_321.7), "104322");
        assert_eq!(price(187.456), "187.46");
        assert_eq!(price(0.123456), "0.1235");
    }
}
