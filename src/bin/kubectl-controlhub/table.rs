//! Tables as kubectl prints them: an upper-case header, left-aligned columns three spaces apart,
//! no trailing spaces. Pure: rows in, text out.

/// Space between two columns (kubectl's tabwriter padding).
const GAP: usize = 3;

/// A table with a fixed header.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header, each ending in `\n`.
    pub fn render(&self) -> String {
        let cell = |row: &[String], n: usize| row.get(n).map_or("", String::as_str).to_string();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|n| {
                self.rows
                    .iter()
                    .map(|r| cell(r, n).chars().count())
                    .chain([self.header[n].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        std::iter::once(&header)
            .chain(&self.rows)
            .map(|row| {
                let mut line = String::new();
                for (n, width) in widths.iter().enumerate() {
                    let text = cell(row, n);
                    line.push_str(&text);
                    if n + 1 < widths.len() {
                        let pad = width - text.chars().count() + GAP;
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                format!("{}\n", line.trim_end())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_three_spaces_after_the_widest_cell() {
        let mut table = Table::new(&["NAME", "LABEL", "READY"]);
        table.row(vec!["ci-bot".into(), "CI bot".into(), "True".into()]);
        table.row(vec!["a".into(), "".into(), "False".into()]);
        assert_eq!(
            table.render(),
            "NAME     LABEL    READY\n\
             ci-bot   CI bot   True\n\
             a                 False\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header_and_wide_characters_count_once() {
        assert_eq!(Table::new(&["A", "B"]).render(), "A   B\n");
        let mut table = Table::new(&["X", "Y"]);
        table.row(vec!["é".into(), "1".into()]);
        assert_eq!(table.render(), "X   Y\né   1\n");
    }
}
