//! The department directory (`config/departments.tsv`): which codes a rule may route to, and the
//! Chinese names the labelled data and the clerks use.

use super::RulesError;

/// The shipped directory, so the embedded classifier validates against the same codes the
/// routing service loads.
const EMBEDDED_TSV: &str = include_str!("../../../../config/departments.tsv");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Lowercase ASCII slug, e.g. `rsj`.
    pub code: String,
    /// Short Chinese name, e.g. `人社局`.
    pub name: String,
}

/// The deployment's departments, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departments {
    list: Vec<Department>,
}

impl Departments {
    /// Parses the tab-separated directory: a header line, then `code  name  full_name  handles`.
    /// Only the first two columns matter here.
    pub fn from_tsv(tsv: &str) -> Result<Self, RulesError> {
        let mut list: Vec<Department> = Vec::new();
        for (n, line) in tsv.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let mut cols = line.split('\t');
            let code = cols.next().unwrap_or("").trim();
            let name = cols.next().unwrap_or("").trim();
            let valid_code = !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_code || name.is_empty() {
                return Err(RulesError::invalid(
                    format!("departments line {}", n + 1),
                    "expected a lowercase ASCII code and a name separated by a tab",
                ));
            }
            if list.iter().any(|d| d.code == code) {
                return Err(RulesError::invalid(
                    format!("departments line {}", n + 1),
                    format!("duplicate department code `{code}`"),
                ));
            }
            list.push(Department {
                code: code.to_owned(),
                name: name.to_owned(),
            });
        }
        if list.is_empty() {
            return Err(RulesError::invalid("departments", "no departments listed"));
        }
        Ok(Self { list })
    }

    /// The directory shipped in `config/departments.tsv`.
    pub fn embedded() -> Self {
        // The shipped file is checked by a unit test, so this cannot fail at run time.
        Self::from_tsv(EMBEDDED_TSV).unwrap_or_else(|_| Self { list: Vec::new() })
    }

    pub fn contains(&self, code: &str) -> bool {
        self.list.iter().any(|d| d.code == code)
    }

    /// Code for a Chinese short name (`人社局` -> `rsj`).
    pub fn code_of(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.code.as_str())
    }

    pub fn name_of(&self, code: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|d| d.code == code)
            .map(|d| d.name.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Department> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_directory_parses() {
        let d = Departments::from_tsv(EMBEDDED_TSV).expect("shipped departments.tsv");
        assert!(d.contains("rsj"));
        assert_eq!(d.code_of("纪委监委"), Some("jwjw"));
        assert_eq!(d.name_of("xfj"), Some("信访局"));
        assert_eq!(Departments::embedded(), d);
    }

    #[test]
    fn rejects_duplicates_and_bad_codes() {
        let dup = "code\tname\nrsj\t人社局\nrsj\t别的\n";
        assert!(Departments::from_tsv(dup).is_err());
        let bad = "code\tname\nRSJ\t人社局\n";
        assert!(Departments::from_tsv(bad).is_err());
    }
}
