//! Reading a series from CSV: a header line, then one row per point. The
//! time column (the first) is optional to parse; when it parses, missing
//! steps are found and filled, and times that go backwards are errors.

use crate::gaps;
use crate::Error;

/// A series read from CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvSeries {
    /// The column's header.
    pub name: String,
    /// Values, gaps filled.
    pub values: Vec<f64>,
    /// Seconds between points, when the first column holds times.
    pub step: Option<i64>,
    /// Time of the first point (seconds since the epoch, UTC), when known.
    pub start: Option<i64>,
    /// Points that were missing (empty cells or skipped times) and filled.
    pub filled: usize,
}

/// Splits one CSV line into fields (RFC 4180 quoting; `""` is a quote).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The time column's format: `YYYY-MM-DD[ T]HH:MM[:SS]` in UTC, or seconds
/// since the epoch.
pub use wirewatch_units::parse_naive_utc as parse_time;

/// Finds the column: a 1-based number, the exact header, or a
/// case-insensitive prefix of exactly one header.
fn column_index(header: &[String], column: &str) -> Result<usize, String> {
    if let Ok(k) = column.parse::<usize>() {
        if k >= 1 && k <= header.len() {
            return Ok(k - 1);
        }
        return Err(format!(
            "column {k} does not exist (the header has {})",
            header.len()
        ));
    }
    if let Some(i) = header.iter().position(|h| h.trim() == column) {
        return Ok(i);
    }
    let low = column.to_lowercase();
    let hits: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].trim().to_lowercase().starts_with(&low))
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!(
            "no column '{column}' (columns: {})",
            header
                .iter()
                .map(|h| quoted_header(h))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!("'{column}' starts more than one column name")),
    }
}

/// Names a header for an error: quoted, cut at 24 characters.
fn quoted_header(h: &str) -> String {
    let h = h.trim();
    if h.chars().count() > 24 {
        format!("'{}…'", h.chars().take(24).collect::<String>())
    } else {
        format!("'{h}'")
    }
}

/// The column to read when none is named: the only column whose cells
/// are all numbers (a first column of times, even Unix seconds, does not
/// count when another column is numeric), as its 1-based number. An error
/// lists the numeric columns when there are several, every column when
/// there is none.
pub fn only_numeric_column(text: &str, file: &str) -> Result<String, Error> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(head) = lines.next() else {
        return Err(Error::Csv(format!("{file}: empty file")));
    };
    let header = fields(head);
    // Per column: (every non-empty cell a number, some cell not empty).
    let mut numeric = vec![(true, false); header.len()];
    let mut first_is_time = true;
    for line in lines {
        let f = fields(line);
        for (k, state) in numeric.iter_mut().enumerate() {
            let cell = f.get(k).map_or("", |c| c.trim());
            if !cell.is_empty() {
                state.0 &= cell.parse::<f64>().is_ok();
                state.1 = true;
            }
        }
        first_is_time &= f.first().and_then(|c| parse_time(c)).is_some();
    }
    let mut found: Vec<usize> = (0..header.len())
        .filter(|&k| numeric[k] == (true, true))
        .collect();
    if first_is_time && found.len() > 1 && found[0] == 0 {
        found.remove(0);
    }
    let names = |ks: &mut dyn Iterator<Item = usize>| {
        ks.map(|k| format!("{} {}", k + 1, quoted_header(&header[k])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match found.as_slice() {
        [k] => Ok((k + 1).to_string()),
        [] => Err(Error::Csv(format!(
            "{file}: no column holds only numbers (columns: {}); give --column",
            names(&mut (0..header.len()))
        ))),
        _ => Err(Error::Csv(format!(
            "{file}: {} numeric columns ({}): give --column NAME or NUMBER",
            found.len(),
            names(&mut found.iter().copied())
        ))),
    }
}

/// Reads `column` of CSV `text` (from `file`, named in errors). Empty
/// cells and missing time steps are gaps, filled one `season` earlier
/// (or by a line); a cell that is not a number is an error naming its line.
pub fn read(
    text: &str,
    file: &str,
    column: &str,
    season: Option<usize>,
) -> Result<CsvSeries, Error> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, head)) = lines.next() else {
        return Err(Error::Csv(format!("{file}: empty file")));
    };
    let header = fields(head);
    let col = column_index(&header, column).map_err(|e| Error::Csv(format!("{file}: {e}")))?;
    let mut times: Vec<Option<i64>> = Vec::new();
    // The file's line number of each row.
    let mut line_of: Vec<usize> = Vec::new();
    let mut vals: Vec<Option<f64>> = Vec::new();
    let mut all_times = col != 0;
    for (i, line) in lines {
        let f = fields(line);
        let cell = f.get(col).map(|s| s.trim()).unwrap_or("");
        let v = if cell.is_empty() {
            None
        } else {
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
                Ok(v) => {
                    return Err(Error::Csv(format!(
                    "{file} line {}: '{v}' in column '{}' is not a traffic amount (finite, ≥ 0)",
                    i + 1,
                    header[col].trim()
                )))
                }
                Err(_) => {
                    return Err(Error::Csv(format!(
                        "{file} line {}: '{}' in column '{}' is not a number",
                        i + 1,
                        cell.chars().take(40).collect::<String>(),
                        header[col].trim().chars().take(40).collect::<String>()
                    )))
                }
            }
        };
        let t = if all_times {
            f.first().and_then(|s| parse_time(s))
        } else {
            None
        };
        if t.is_none() {
            all_times = false;
        }
        if let (Some(t), Some(Some(prev))) = (t, times.last()) {
            if t <= *prev {
                return Err(Error::Csv(format!(
                    "{file} line {}: time '{}' is not after the row before it",
                    i + 1,
                    f[0].trim()
                )));
            }
        }
        times.push(t);
        vals.push(v);
        line_of.push(i + 1);
    }
    if vals.is_empty() {
        return Err(Error::Csv(format!("{file}: no rows after the header")));
    }
    let (mut values, mut missing, step, start) = if all_times && times.len() >= 2 {
        let ts: Vec<i64> = times.iter().map(|t| t.unwrap()).collect();
        // The step is the most common difference.
        let mut d: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
        d.sort_unstable();
        let mut step = d[0];
        let (mut best, mut run) = (0, 0);
        for k in 0..d.len() {
            run = if k > 0 && d[k] == d[k - 1] {
                run + 1
            } else {
                1
            };
            if run > best {
                best = run;
                step = d[k];
            }
        }
        let n = ((ts[ts.len() - 1] - ts[0]) / step + 1) as usize;
        if n > 50_000_000 {
            return Err(Error::Csv(format!(
                "{file}: {n} points at a {step} s step is too many"
            )));
        }
        let mut values = vec![0.0; n];
        let mut missing = vec![true; n];
        let mut owner = vec![0usize; n];
        for ((t, v), line) in ts.iter().zip(&vals).zip(&line_of) {
            let k = (((t - ts[0]) as f64 / step as f64).round() as usize).min(n - 1);
            if owner[k] != 0 {
                return Err(Error::Csv(format!(
                    "{file} line {line}: its time falls on the same {step} s step as line {}'s",
                    owner[k]
                )));
            }
            owner[k] = *line;
            if let Some(v) = v {
                values[k] = *v;
                missing[k] = false;
            }
        }
        (values, missing, Some(step), Some(ts[0]))
    } else {
        (
            vals.iter().map(|v| v.unwrap_or(0.0)).collect::<Vec<_>>(),
            vals.iter().map(|v| v.is_none()).collect::<Vec<_>>(),
            None,
            None,
        )
    };
    if missing.iter().all(|m| *m) {
        return Err(Error::Csv(format!(
            "{file}: column '{}' has no values",
            header[col].trim()
        )));
    }
    // Leading gaps have nothing before them: drop them.
    let lead = missing.iter().take_while(|m| **m).count();
    values.drain(..lead);
    missing.drain(..lead);
    let filled = gaps::fill(&mut values, &missing, season);
    Ok(CsvSeries {
        name: header[col].trim().to_string(),
        values,
        step,
        start: start.map(|s| s + lead as i64 * step.unwrap_or(0)),
        filled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_headers_gaps_and_names_bad_lines() {
        let text = "Time,\"traffic, in bits\",\n2005-01-01 00:00:00,10,\n2005-01-01 01:00:00,20,\n2005-01-01 03:00:00,40,\n2005-01-01 04:00:00,,\n2005-01-01 05:00:00,60";
        let s = read(text, "f.csv", "traffic", None).unwrap();
        assert_eq!(s.name, "traffic, in bits");
        assert_eq!(s.step, Some(3600));
        assert_eq!(s.values, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        assert_eq!(s.filled, 2);
        assert_eq!(read(text, "f.csv", "2", None).unwrap().values.len(), 6);
        let bad = "t,v\n1,2\n2,abc\n";
        assert_eq!(
            read(bad, "f.csv", "v", None).unwrap_err().to_string(),
            "f.csv line 3: 'abc' in column 'v' is not a number"
        );
        let back = "t,v\n5,2\n4,3\n";
        assert!(read(back, "f.csv", "v", None)
            .unwrap_err()
            .to_string()
            .contains("line 3"));
        assert!(read(bad, "f.csv", "x", None)
            .unwrap_err()
            .to_string()
            .contains("no column 'x'"));
        assert_eq!(parse_time("1970-01-02 00:00:01"), Some(86_401));
    }

    #[test]
    fn the_only_numeric_column_is_the_default() {
        let dated = "Time,bits\n2005-01-01 00:00:00,10\n2005-01-01 01:00:00,20\n";
        assert_eq!(only_numeric_column(dated, "f.csv").unwrap(), "2");
        // Unix seconds in the first column are times, not the series.
        let unix = "t,v\n3600,1\n7200,\n10800,3\n";
        assert_eq!(only_numeric_column(unix, "f.csv").unwrap(), "2");
        let bare = "v\n1\n2\n";
        assert_eq!(only_numeric_column(bare, "f.csv").unwrap(), "1");
        let two = "Time,in,out,label\n2005-01-01 00:00:00,1,2,x\n";
        assert_eq!(
            only_numeric_column(two, "f.csv").unwrap_err().to_string(),
            "f.csv: 2 numeric columns (2 'in', 3 'out'): give --column NAME or NUMBER"
        );
        let none = "a,b\nx,y\n";
        assert_eq!(
            only_numeric_column(none, "f.csv").unwrap_err().to_string(),
            "f.csv: no column holds only numbers (columns: 1 'a', 2 'b'); give --column"
        );
    }
}
