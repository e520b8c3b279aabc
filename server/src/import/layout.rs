//! Which column holds what: detected from a header, overridable by flags.

use serde::Serialize;
use std::fmt;

/// The six fields a candle needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Time,
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Time,
        Field::Open,
        Field::High,
        Field::Low,
        Field::Close,
        Field::Volume,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Open => "open",
            Field::High => "high",
            Field::Low => "low",
            Field::Close => "close",
            Field::Volume => "volume",
        }
    }

    fn parse(s: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s.trim().to_ascii_lowercase())
    }

    /// Whether a header names the time (any spelling).
    pub fn is_time_alias(header: &str) -> bool {
        let n = normalise(header);
        Field::Time.aliases().iter().any(|a| *a == n)
    }

    /// Header spellings seen in the wild, after [`normalise`].
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Time => &[
                "datetime",
                "date",
                "time",
                "timestamp",
                "opentime",
                "ts",
                "t",
                "unix",
                "datetimeutc",
                "timeutc",
            ],
            Field::Open => &["open", "o", "openprice"],
            Field::High => &["high", "h", "highprice"],
            Field::Low => &["low", "l", "lowprice"],
            Field::Close => &["close", "c", "closeprice"],
            Field::Volume => &["volume", "vol", "v", "basevolume", "volumebase"],
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Adj Close` → `adjclose`, `open_time` → `opentime`.
fn normalise(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A user's override for one field: a header name or a 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    Name(String),
    Index(usize),
}

/// Parsed `--columns time=Date,open=Open,...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnOverrides(pub Vec<(Field, ColumnRef)>);

impl ColumnOverrides {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("--columns entry {part:?} is not FIELD=COLUMN"))?;
            let field = Field::parse(k).ok_or_else(|| {
                format!(
                    "--columns: unknown field {k:?} (expected time, open, high, low, close, volume)"
                )
            })?;
            let v = v.trim();
            let col = match v.parse::<usize>() {
                Ok(i) => ColumnRef::Index(i),
                Err(_) => ColumnRef::Name(v.to_owned()),
            };
            out.push((field, col));
        }
        Ok(ColumnOverrides(out))
    }
}

/// Resolved positions of the six fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub idx: [usize; 6],
}

impl Columns {
    /// Binance kline files: open time, open, high, low, close, volume, …
    pub const BINANCE: Columns = Columns {
        idx: [0, 1, 2, 3, 4, 5],
    };

    pub fn get(&self, f: Field) -> usize {
        self.idx[f as usize]
    }

    pub fn max_index(&self) -> usize {
        self.idx.iter().copied().max().unwrap_or(0)
    }

    /// Maps header names to fields; overrides win. Errors name what is missing
    /// and list the headers that were there.
    pub fn from_header(headers: &[String], overrides: &ColumnOverrides) -> Result<Columns, String> {
        let norm: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
        let mut idx = [usize::MAX; 6];
        for f in Field::ALL {
            if let Some(i) = f
                .aliases()
                .iter()
                .find_map(|a| norm.iter().position(|h| h == a))
            {
                idx[f as usize] = i;
            }
        }
        for (f, r) in &overrides.0 {
            idx[*f as usize] = match r {
                ColumnRef::Index(i) if *i < headers.len() => *i,
                ColumnRef::Index(i) => {
                    return Err(format!(
                        "--columns {f}={i}: the file has only {} columns",
                        headers.len()
                    ));
                }
                ColumnRef::Name(n) => headers
                    .iter()
                    .position(|h| h.trim() == n || normalise(h) == normalise(n))
                    .ok_or_else(|| {
                        format!(
                            "--columns {f}={n}: no such column; the header has {}",
                            headers.join(", ")
                        )
                    })?,
            };
        }
        let missing: Vec<&str> = Field::ALL
            .iter()
            .filter(|f| idx[**f as usize] == usize::MAX)
            .map(|f| f.name())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "cannot find column(s) {} in the header [{}]; name them with --columns, e.g. --columns time=Date,volume=Vol",
                missing.join(", "),
                headers.join(", ")
            ));
        }
        Ok(Columns { idx })
    }

    /// Positions for a file without a header: overrides must be indexes.
    pub fn positional(overrides: &ColumnOverrides) -> Result<Columns, String> {
        let mut c = Columns::BINANCE;
        for (f, r) in &overrides.0 {
            match r {
                ColumnRef::Index(i) => c.idx[*f as usize] = *i,
                ColumnRef::Name(n) => {
                    return Err(format!(
                        "--columns {f}={n}: this file has no header; give a 0-based column number"
                    ));
                }
            }
        }
        Ok(c)
    }

    /// `time=Date, open=Open, …` for the report.
    pub fn describe(&self, headers: Option<&[String]>) -> String {
        Field::ALL
            .iter()
            .map(|f| {
                let i = self.get(*f);
                match headers
                    .and_then(|h| h.get(i))
                    .filter(|n| !normalise(n).is_empty())
                {
                    Some(name) => format!("{f}={name}"),
                    None => format!("{f}=#{i}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detects_each_shipped_layout() {
        struct Case {
            header: &'static [&'static str],
            expect: [usize; 6],
        }
        let cases = [
            // Yahoo: Adj Close must not be taken for Close.
            Case {
                header: &[
                    "Date",
                    "Open",
                    "High",
                    "Low",
                    "Close",
                    "Adj Close",
                    "Volume",
                ],
                expect: [0, 1, 2, 3, 4, 6],
            },
            // NVDA's different column order.
            Case {
                header: &[
                    "Date",
                    "Adj Close",
                    "Close",
                    "High",
                    "Low",
                    "Open",
                    "Volume",
                ],
                expect: [0, 5, 3, 4, 2, 6],
            },
            Case {
                header: &[
                    "Datetime",
                    "Open",
                    "High",
                    "Low",
                    "Close",
                    "Adj Close",
                    "Volume",
                ],
                expect: [0, 1, 2, 3, 4, 6],
            },
            Case {
                header: &[
                    "\u{feff}open_time",
                    "open",
                    "high",
                    "low",
                    "close",
                    "volume",
                ],
                expect: [0, 1, 2, 3, 4, 5],
            },
        ];
        for c in cases {
            let got = Columns::from_header(&h(c.header), &ColumnOverrides::default()).unwrap();
            assert_eq!(got.idx, c.expect, "{:?}", c.header);
        }
    }

    #[test]
    fn overrides_and_errors() {
        let headers = h(&["When", "O", "H", "L", "C", "Qty"]);
        let err = Columns::from_header(&headers, &ColumnOverrides::default()).unwrap_err();
        assert!(
            err.contains("time") && err.contains("volume") && err.contains("When"),
            "{err}"
        );
        let ov = ColumnOverrides::parse("time=When,volume=5").unwrap();
        assert_eq!(
            Columns::from_header(&headers, &ov).unwrap().idx,
            [0, 1, 2, 3, 4, 5]
        );
        assert!(ColumnOverrides::parse("price=Close").is_err());
        assert!(ColumnOverrides::parse("time").is_err());
        assert!(
            Columns::from_header(&headers, &ColumnOverrides::parse("time=Nope").unwrap()).is_err()
        );
    }
}
