//! CSV files: vendor files with a header (Yahoo, Kaggle, our exports) and
//! Binance kline dumps (no header, 12 columns, ms or µs open times).

use super::layout::{ColumnOverrides, ColumnRef, Columns, Field};
use super::rows::{Parsed, RejectReason, RowSink, parse_number};
use super::timestamp::TextStampParser;
use super::{ImportError, Layout, SourceFormat};
use engine::Timeframe;
use std::io::Read;
use std::path::Path;

/// Comma, semicolon or tab: whichever the first line has most of.
fn sniff_delimiter(first_line: &[u8]) -> u8 {
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first_line.iter().filter(|b| *b == d).count())
        .unwrap_or(b',')
}

/// Whether the first header cell is empty (a BOM and blanks count as empty).
fn unnamed_first(headers: &[String]) -> bool {
    headers
        .first()
        .is_some_and(|h| h.trim().trim_start_matches('\u{feff}').trim().is_empty())
}

/// Whether the header or the overrides already say where the time is.
fn names_time(headers: &[String], overrides: &ColumnOverrides) -> bool {
    overrides.0.iter().any(|(f, _)| *f == Field::Time)
        || headers.iter().any(|h| Field::is_time_alias(h))
}

/// A cell that reads as a time. Short integers are a row number (pandas'
/// default index), not epoch seconds.
fn looks_like_time(cell: &str) -> bool {
    let t = cell.trim();
    if t.bytes().all(|b| b.is_ascii_digit()) && t.len() < 9 {
        return false;
    }
    TextStampParser::default().parse(t).is_some()
}

pub fn read(
    path: &Path,
    tf: Timeframe,
    forced: Option<SourceFormat>,
    overrides: &ColumnOverrides,
    mut progress: impl FnMut(u64),
) -> Result<(Parsed, Layout), ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io)?;
    head.truncate(n);
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = sniff_delimiter(first_line);

    let file = std::fs::File::open(path).map_err(io)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let csv_err = |source: csv::Error| ImportError::Csv {
        path: path.to_path_buf(),
        line: source.position().map(|p| p.line()).unwrap_or(0),
        message: source.to_string(),
    };

    let mut record = csv::StringRecord::new();
    if !rdr.read_record(&mut record).map_err(csv_err)? {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    let first_is_data = record
        .get(0)
        .is_some_and(|f| f.trim().parse::<i64>().is_ok())
        && record.len() >= 6;
    let binance = match forced {
        Some(SourceFormat::BinanceKlines) => true,
        Some(SourceFormat::Csv) => false,
        _ => first_is_data,
    };
    let layout_err = |message: String| ImportError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let (columns, headers, pending_first) = if binance {
        (
            Columns::positional(overrides).map_err(layout_err)?,
            None,
            Some(record.clone()),
        )
    } else {
        let headers: Vec<String> = record.iter().map(str::to_owned).collect();
        let mut overrides = overrides.clone();
        let mut pending = None;
        // pandas' `to_csv()` writes a date index as a first column with no
        // name: take it for the time when no other column is one and the
        // first row's cell reads as a time.
        if unnamed_first(&headers) && !names_time(&headers, &overrides) {
            let mut peek = csv::StringRecord::new();
            if rdr.read_record(&mut peek).map_err(csv_err)? {
                if peek.get(0).is_some_and(looks_like_time) {
                    overrides.0.push((Field::Time, ColumnRef::Index(0)));
                }
                pending = Some(peek);
            }
        }
        (
            Columns::from_header(&headers, &overrides).map_err(layout_err)?,
            Some(headers),
            pending,
        )
    };

    let need = columns.max_index() + 1;
    let mut sink = RowSink::new(tf);
    let mut stamps = TextStampParser::default();
    let mut handle = |rec: &csv::StringRecord, line: u64, sink: &mut RowSink| {
        if rec.len() < need {
            // A blank trailing line is not a row.
            if rec.len() <= 1 && rec.get(0).is_none_or(|f| f.trim().is_empty()) {
                return;
            }
            return sink.reject(
                line,
                RejectReason::FieldCount {
                    got: rec.len(),
                    need,
                },
            );
        }
        let raw_time = rec.get(columns.get(Field::Time)).unwrap_or("");
        let Some(stamp) = stamps.parse(raw_time) else {
            return sink.reject(
                line,
                RejectReason::BadTime {
                    value: raw_time.chars().take(40).collect(),
                },
            );
        };
        let mut v = [0.0; 5];
        for (slot, f) in v.iter_mut().zip([
            Field::Open,
            Field::High,
            Field::Low,
            Field::Close,
            Field::Volume,
        ]) {
            match parse_number(f.name(), rec.get(columns.get(f)).unwrap_or("")) {
                Ok(x) => *slot = x,
                Err(r) => return sink.reject(line, r),
            }
        }
        sink.push(line, stamp, v);
    };
    if let Some(first) = pending_first {
        let line = first.position().map_or(1, |p| p.line());
        handle(&first, line, &mut sink);
    }
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                handle(&record, line, &mut sink);
                if sink.rows_read().is_multiple_of(65_536) {
                    progress(record.position().map(|p| p.byte()).unwrap_or(0));
                }
            }
            Ok(false) => break,
            // Invalid UTF-8 and the like: reject the row, keep reading.
            Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                sink.reject(
                    line,
                    RejectReason::BadTime {
                        value: format!("unreadable row: {e}"),
                    },
                );
            }
            Err(e) => return Err(csv_err(e)),
        }
    }
    let layout = Layout {
        format: if binance {
            SourceFormat::BinanceKlines
        } else {
            SourceFormat::Csv
        },
        columns: columns.describe(headers.as_deref()),
        time_format: stamps
            .format()
            .map(str::to_owned)
            .or_else(|| Some("epoch (unit by magnitude)".into())),
    };
    Ok((sink.finish(), layout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_binance_klines_with_ms_and_us_times() {
        let f = tmp(concat!(
            "1609459200000,28923.63,29031.34,28690.17,28995.13,2311.811445,1609459259999,66768830.34,58389,1215.359238,35103542.13,0\n",
            "1609459260000000,28995.13,29470.00,28960.35,29409.99,4132.890,1609459319999999,120000000.0,100000,2000.0,59000000.0,0\n",
        ));
        let (p, layout) = read(
            f.path(),
            Timeframe::M1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(layout.format, SourceFormat::BinanceKlines);
        assert_eq!(
            p.candles.iter().map(|c| c.open_time).collect::<Vec<_>>(),
            vec![1_609_459_200_000, 1_609_459_260_000]
        );
        assert_eq!(p.candles[1].close, 29409.99);
        assert_eq!(p.lines, vec![1, 2]);
    }

    #[test]
    fn rejects_bad_rows_with_line_numbers_and_keeps_the_rest() {
        let f = tmp(
            "Date;Open;High;Low;Close;Volume\n2021-01-01;1;2;0.5;1.5;10\n2021-01-02;1;2;;1.5;10\nnot-a-date;1;2;0.5;1.5;10\n2021-01-04;1;2;0.5\n2021-01-05;1;2;0.5;1.5;x\n\n2021-01-06;1;2;0.5;1.5;10\n",
        );
        let (p, layout) = read(
            f.path(),
            Timeframe::D1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(layout.format, SourceFormat::Csv);
        assert_eq!(p.candles.len(), 2);
        let lines: Vec<_> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.message.clone()))
            .collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], (3, "low is empty".to_string()));
        assert!(lines[1].1.contains("not-a-date") && lines[1].0 == 4);
        assert!(lines[2].1.contains("fields") && lines[2].0 == 5);
        assert!(lines[3].1.contains("volume") && lines[3].0 == 6);
    }

    /// What `df.to_csv()` writes for a frame indexed by date: the first header cell is empty.
    #[test]
    fn takes_an_unnamed_date_index_for_the_time() {
        let f = tmp(
            ",Open,High,Low,Close,Adj Close,Volume\n2021-01-04,1,2,0.5,1.5,1.4,10\n2021-01-05,1.5,2.5,1,2,1.9,11\n",
        );
        let (p, layout) = read(
            f.path(),
            Timeframe::D1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(p.candles.len(), 2, "{:?}", p.rejected);
        assert_eq!(p.candles[0].open_time, 1_609_718_400_000);
        assert_eq!(p.candles[1].close, 2.0);
        assert_eq!(p.lines, vec![2, 3]);
        assert!(
            layout.columns.starts_with("time=#0, open=Open"),
            "{}",
            layout.columns
        );
        // Intraday with an offset, as pandas writes a tz-aware index.
        let f = tmp(",open,high,low,close,volume\n2021-01-04 10:00:00+01:00,1,2,0.5,1.5,10\n");
        let (p, _) = read(
            f.path(),
            Timeframe::H1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(p.candles[0].open_time, 1_609_750_800_000);
    }

    /// pandas' default index (row numbers) is not a time: the named Date column is.
    #[test]
    fn a_row_number_index_is_not_a_time() {
        let f = tmp(
            ",Date,Open,High,Low,Close,Volume\n0,2021-01-04,1,2,0.5,1.5,10\n1,2021-01-05,1,2,0.5,1.5,10\n",
        );
        let (p, layout) = read(
            f.path(),
            Timeframe::D1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(p.candles.len(), 2);
        assert!(
            layout.columns.starts_with("time=Date"),
            "{}",
            layout.columns
        );
        // Row numbers and no time column anywhere: the error says what is missing.
        let f = tmp(",Open,High,Low,Close,Volume\n0,1,2,0.5,1.5,10\n");
        let err = read(
            f.path(),
            Timeframe::D1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot find column(s) time"), "{err}");
    }

    #[test]
    fn missing_columns_is_a_clear_error() {
        let f = tmp("When,Price\n2021-01-01,1\n");
        let err = read(
            f.path(),
            Timeframe::D1,
            None,
            &ColumnOverrides::default(),
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cannot find column") && err.contains("When"),
            "{err}"
        );
    }
}
