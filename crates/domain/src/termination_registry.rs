//! The provincial terminated-matters registry (省级终结库, issue #15 item 6): the exchange
//! format `xf-termination/1` (docs/termination-registry.md) in which a deployment exports every
//! matter it terminated after 复核 (Art 36 para 3) and imports the province's list, so that a
//! new petition on a matter terminated elsewhere in the province is proposed for 不再受理 like a
//! local repeat.
//!
//! One record per matter, as a JSON line or a CSV row (same fields, flattened). Reading is
//! strict: every field is checked and an error names the field (JSON path, or CSV column) and
//! never echoes the value. Writing is canonical: a record serialises to the same bytes every
//! time, so re-exporting a matter gives identical lines.

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::appeal::{EXTERNAL_PREFIX, ReviewOutcome};
use crate::classify::similarity::{FINGERPRINT_VERSION, Fingerprint, SLOTS};
use crate::county::CountyCode;
use crate::directory::OrganRef;
use crate::petition::{Art31Branch, OpinionOutcome, PetitionType};
use crate::validation::ValidationError;

/// The format and version every record names in its `format` field.
pub const FORMAT: &str = "xf-termination/1";

/// Event kind (`xf.<county>.review.registry_termination`, [`RegistryTermination`]): review
/// imported a matter of the province's list; intake keeps it for the registration check.
pub const REGISTRY_TERMINATION: &str = "registry_termination";

/// Bytes of a stored fingerprint: [`SLOTS`] little-endian `u32`s.
pub const FINGERPRINT_BYTES: usize = SLOTS * 4;

/// Longest sealed identity accepted (base64 characters).
const MAX_SEALED: usize = 8192;
/// Longest name of an organ outside the system (`external:<name>`), in characters.
const MAX_EXTERNAL_NAME: usize = 100;

/// One terminated matter.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Always [`FORMAT`].
    pub format: String,
    /// `XF-<county>-<year>-<seq>`, unique in the province.
    pub case_no: String,
    /// The county that registered the matter (the case number's county).
    pub home_county: CountyCode,
    /// Where the matter arose.
    pub matter_county: CountyCode,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub registered_at: DateTime<Utc>,
    pub petitioner: Petitioner,
    pub fingerprint: RecordFingerprint,
    /// The 信访处理意见 (Art 32), when the exporting deployment knows it.
    pub handling: Option<Level>,
    /// 复查 (Art 35).
    pub review: Option<Level>,
    /// 复核 (Art 36), whose decision terminated the matter.
    pub rereview: Level,
    pub terminated_at: DateTime<Utc>,
}

/// Who petitioned, without saying who: a keyed hash and a sealed identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Petitioner {
    /// HMAC-SHA256 (`security.hash_key`) of `id:<ID number>` (else `mobile:<mobile>`, else
    /// `name:<name>`), 64 lowercase hex digits: intake's petitioner key.
    pub key: String,
    /// Which hash key made `key` (16 hex digits derived from the key, revealing nothing of
    /// it): keys compare only between deployments sharing the province's hash key.
    pub key_id: String,
    /// The petitioner's contact (name, mobile, e-mail) as intake sealed it with the data key
    /// (`xinfang_domain::seal`), absent for a confidential matter or one registered before
    /// the registry existed.
    pub sealed_identity: Option<String>,
    /// Which data key opens `sealed_identity` (16 hex digits), when it is present.
    pub sealed_identity_key_id: Option<String>,
}

/// The MinHash fingerprint of the petition's facts
/// ([`crate::classify::similarity::fingerprint`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFingerprint {
    /// [`FINGERPRINT_VERSION`] of the code that computed it.
    pub version: u32,
    /// The slots as lowercase hex of little-endian `u32`s ([`FINGERPRINT_BYTES`] bytes).
    pub slots: String,
}

/// One level's organ and decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// `<county>:<department>` of the directory, or `external:<name>` above it.
    pub organ: String,
    /// The handling opinion's outcome (`supported`, `explained`, `not_supported`) or the
    /// review decision (`uphold`, `change`, `revoke`).
    pub outcome: Option<String>,
    /// When the opinion or decision was served on the petitioner (China date).
    pub served_on: Option<NaiveDate>,
}

/// `review.registry_termination`: a matter of the province's list as review stored it.
/// (`matter_case_no`, not `case_no`: the matter is no case of this deployment.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryTermination {
    pub matter_case_no: String,
    pub home_county: CountyCode,
    pub petitioner_key: String,
    pub fingerprint_version: u32,
    /// Hex, as in [`RecordFingerprint::slots`].
    pub fingerprint: String,
    pub rereview_organ: String,
    pub terminated_at: DateTime<Utc>,
    /// The list it came from (the operator's label, e.g. the file name).
    pub source: String,
    pub imported_at: DateTime<Utc>,
}

/// Lowercase hex of a fingerprint's slots, little-endian: the bytes review stores.
pub fn fingerprint_hex(fp: &Fingerprint) -> String {
    hex_encode(
        &fp.as_slice()
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// The slots of a stored fingerprint (little-endian bytes), `None` when the length is wrong.
pub fn fingerprint_from_bytes(bytes: &[u8]) -> Option<Fingerprint> {
    if bytes.len() != FINGERPRINT_BYTES {
        return None;
    }
    let slots: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Fingerprint::try_from(slots).ok()
}

/// Lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Bytes of a hex string (either case), `None` when it is not hex.
pub fn hex_decode(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    raw.as_bytes()
        .chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// The CSV columns, in order; each is one field of the JSON record (`petitioner_key` is
/// `petitioner.key`, …). Absent values are empty cells.
pub const CSV_COLUMNS: [&str; 23] = [
    "format",
    "case_no",
    "home_county",
    "matter_county",
    "petition_type",
    "branch",
    "registered_at",
    "petitioner_key",
    "petitioner_key_id",
    "sealed_identity",
    "sealed_identity_key_id",
    "fingerprint_version",
    "fingerprint",
    "handling_organ",
    "handling_outcome",
    "handling_served_on",
    "review_organ",
    "review_outcome",
    "review_served_on",
    "rereview_organ",
    "rereview_outcome",
    "rereview_served_on",
    "terminated_at",
];

/// The JSON path of each CSV column.
const CSV_PATHS: [&str; 23] = [
    "format",
    "case_no",
    "home_county",
    "matter_county",
    "petition_type",
    "branch",
    "registered_at",
    "petitioner.key",
    "petitioner.key_id",
    "petitioner.sealed_identity",
    "petitioner.sealed_identity_key_id",
    "fingerprint.version",
    "fingerprint.slots",
    "handling.organ",
    "handling.outcome",
    "handling.served_on",
    "review.organ",
    "review.outcome",
    "review.served_on",
    "rereview.organ",
    "rereview.outcome",
    "rereview.served_on",
    "terminated_at",
];

/// The CSV header line (no line end).
pub fn csv_header() -> String {
    CSV_COLUMNS.join(",")
}

/// The CSV column of a JSON path (for errors found in a CSV row); the path itself otherwise.
pub fn csv_column(path: &str) -> &str {
    CSV_PATHS
        .iter()
        .position(|p| *p == path)
        .map_or(path, |i| CSV_COLUMNS[i])
}

fn csv_cell(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// RFC 3339 in UTC with microseconds, the one spelling the format writes.
fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Record {
    /// The canonical JSON line (no line end): fields in the documented order, timestamps in
    /// UTC with six decimal places, absent values as `null`.
    pub fn to_json_line(&self) -> String {
        let p = &self.petitioner;
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string());
        let level = |l: &Level| {
            object(&[
                ("organ", json_str(&l.organ)),
                ("outcome", json_opt(l.outcome.as_deref())),
                ("served_on", json_opt(date(l.served_on).as_deref())),
            ])
        };
        let null = || "null".to_owned();
        object(&[
            ("format", json_str(&self.format)),
            ("case_no", json_str(&self.case_no)),
            ("home_county", json_str(self.home_county.as_str())),
            ("matter_county", json_str(self.matter_county.as_str())),
            ("petition_type", json_str(self.petition_type.as_str())),
            ("branch", json_opt(self.branch.map(|b| b.as_str()))),
            ("registered_at", json_str(&timestamp(&self.registered_at))),
            (
                "petitioner",
                object(&[
                    ("key", json_str(&p.key)),
                    ("key_id", json_str(&p.key_id)),
                    ("sealed_identity", json_opt(p.sealed_identity.as_deref())),
                    (
                        "sealed_identity_key_id",
                        json_opt(p.sealed_identity_key_id.as_deref()),
                    ),
                ]),
            ),
            (
                "fingerprint",
                object(&[
                    ("version", self.fingerprint.version.to_string()),
                    ("slots", json_str(&self.fingerprint.slots)),
                ]),
            ),
            ("handling", self.handling.as_ref().map_or_else(null, level)),
            ("review", self.review.as_ref().map_or_else(null, level)),
            ("rereview", level(&self.rereview)),
            ("terminated_at", json_str(&timestamp(&self.terminated_at))),
        ])
    }

    /// The record as a JSON value (the canonical line parsed; object keys then sort).
    pub fn to_value(&self) -> Value {
        // The line is JSON this module wrote: it always parses.
        serde_json::from_str(&self.to_json_line()).unwrap_or(Value::Null)
    }

    /// The CSV row (no line end), columns as [`CSV_COLUMNS`].
    pub fn csv_row(&self) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let lvl = |l: &Option<Level>| match l {
            Some(l) => [l.organ.clone(), opt(&l.outcome), date(l.served_on)],
            None => [String::new(), String::new(), String::new()],
        };
        let [ho, hout, hs] = lvl(&self.handling);
        let [ro, rout, rs] = lvl(&self.review);
        let p = &self.petitioner;
        let cells: [String; 23] = [
            self.format.clone(),
            self.case_no.clone(),
            self.home_county.to_string(),
            self.matter_county.to_string(),
            self.petition_type.as_str().to_owned(),
            self.branch
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
            timestamp(&self.registered_at),
            p.key.clone(),
            p.key_id.clone(),
            opt(&p.sealed_identity),
            opt(&p.sealed_identity_key_id),
            self.fingerprint.version.to_string(),
            self.fingerprint.slots.clone(),
            ho,
            hout,
            hs,
            ro,
            rout,
            rs,
            self.rereview.organ.clone(),
            opt(&self.rereview.outcome),
            date(self.rereview.served_on),
            timestamp(&self.terminated_at),
        ];
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_cell(&mut out, c);
        }
        out
    }

    /// Reads and checks a record given as JSON. The error's field is the JSON path
    /// (`petitioner.key`, `rereview.served_on`, …); values are never echoed.
    pub fn from_json(v: &Value) -> Result<Record, ValidationError> {
        let r = Reader::root(v)?;
        let format = r.string("format")?;
        if format != FORMAT {
            return Err(ValidationError::new(
                "format",
                "unsupported_version",
                format!("this deployment reads {FORMAT} only"),
            ));
        }
        let case_no = r.string("case_no")?;
        let case_county = check_case_no(&case_no)?;
        let home_county = r.county("home_county")?;
        if home_county != case_county {
            return Err(ValidationError::new(
                "home_county",
                "case_no_county",
                "must be the county of the case number",
            ));
        }
        let matter_county = r.county("matter_county")?;
        let petition_type = PetitionType::parse(&r.string("petition_type")?)
            .map_err(|e| renamed(e, "petition_type"))?;
        let branch = r
            .opt_string("branch")?
            .map(|b| Art31Branch::parse(&b).map_err(|e| renamed(e, "branch")))
            .transpose()?;
        let registered_at = r.timestamp("registered_at")?;
        let p = r.object("petitioner")?;
        let key = hex_field(&p.string("key")?, 32, "petitioner.key")?;
        let key_id = hex_field(&p.string("key_id")?, 8, "petitioner.key_id")?;
        let sealed_identity = p
            .opt_string("sealed_identity")?
            .map(|s| check_sealed(&s).map(|()| s))
            .transpose()?;
        let sealed_identity_key_id = p
            .opt_string("sealed_identity_key_id")?
            .map(|s| hex_field(&s, 8, "petitioner.sealed_identity_key_id"))
            .transpose()?;
        if sealed_identity.is_some() != sealed_identity_key_id.is_some() {
            return Err(ValidationError::new(
                "petitioner.sealed_identity_key_id",
                "required_with_sealed_identity",
                "give the data key id with a sealed identity, and neither without one",
            ));
        }
        let f = r.object("fingerprint")?;
        let version = f.integer("version")?;
        if version != i64::from(FINGERPRINT_VERSION) {
            return Err(ValidationError::new(
                "fingerprint.version",
                "unsupported_version",
                format!(
                    "this deployment computes fingerprint version {FINGERPRINT_VERSION}; another version cannot be compared"
                ),
            ));
        }
        let slots = hex_field(&f.string("slots")?, FINGERPRINT_BYTES, "fingerprint.slots")?;
        let handling = r
            .opt_object("handling")?
            .map(|l| l.level(Outcomes::Opinion))
            .transpose()?;
        let review = r
            .opt_object("review")?
            .map(|l| l.level(Outcomes::Review))
            .transpose()?;
        let rereview = r.object("rereview")?.level(Outcomes::Review)?;
        let terminated_at = r.timestamp("terminated_at")?;
        if terminated_at < registered_at {
            return Err(ValidationError::new(
                "terminated_at",
                "before_registration",
                "must not be before registered_at",
            ));
        }
        Ok(Record {
            format,
            case_no,
            home_county,
            matter_county,
            petition_type,
            branch,
            registered_at,
            petitioner: Petitioner {
                key,
                key_id,
                sealed_identity,
                sealed_identity_key_id,
            },
            fingerprint: RecordFingerprint {
                version: FINGERPRINT_VERSION,
                slots,
            },
            handling,
            review,
            rereview,
            terminated_at,
        })
    }

    /// The fingerprint's bytes (checked when the record was read).
    pub fn fingerprint_bytes(&self) -> Vec<u8> {
        hex_decode(&self.fingerprint.slots).unwrap_or_default()
    }
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn json_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_owned(), json_str)
}

/// A JSON object of already-encoded values, keys in the given order.
fn object(fields: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_str(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

fn renamed(mut e: ValidationError, field: &str) -> ValidationError {
    e.field = field.to_owned();
    e
}

/// `XF-<county>-<year>-<seq>`: the county.
fn check_case_no(raw: &str) -> Result<CountyCode, ValidationError> {
    crate::case_no::county_of(raw).ok_or_else(case_no_error)
}

fn case_no_error() -> ValidationError {
    ValidationError::new("case_no", "format", "must look like XF-411282-2026-000001")
}

/// `bytes` bytes of hex, returned lowercase.
fn hex_field(raw: &str, bytes: usize, field: &str) -> Result<String, ValidationError> {
    if raw.len() == bytes * 2 && hex_decode(raw).is_some() {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(ValidationError::new(
            field,
            "hex",
            format!("must be {} hexadecimal digits", bytes * 2),
        ))
    }
}

/// Base64 of nonce ‖ ciphertext ‖ tag (`xinfang_domain::seal`).
fn check_sealed(raw: &str) -> Result<(), ValidationError> {
    let err = || {
        ValidationError::new(
            "petitioner.sealed_identity",
            "sealed",
            "must be a value sealed with the data key (base64 of nonce, ciphertext and tag)",
        )
    };
    if raw.len() > MAX_SEALED {
        return Err(err());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| err())?;
    if bytes.len() < crate::seal::NONCE_LEN + crate::seal::TAG_LEN {
        return Err(err());
    }
    Ok(())
}

fn check_organ(raw: &str, field: &str) -> Result<(), ValidationError> {
    if let Some(name) = raw.strip_prefix(EXTERNAL_PREFIX) {
        let n = name.trim().chars().count();
        if n > 0 && n <= MAX_EXTERNAL_NAME && !name.chars().any(char::is_control) {
            return Ok(());
        }
        return Err(ValidationError::new(
            field,
            "organ_format",
            format!(
                "an organ outside the system is `external:<name>`, 1 to {MAX_EXTERNAL_NAME} characters"
            ),
        ));
    }
    OrganRef::parse(raw)
        .map(|_| ())
        .map_err(|e| renamed(e, field))
}

#[derive(Clone, Copy)]
enum Outcomes {
    Opinion,
    Review,
}

/// Typed access to one JSON object, naming fields by their path.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Reader<'a> {
    fn root(v: &'a Value) -> Result<Self, ValidationError> {
        match v {
            Value::Object(map) => Ok(Self {
                map,
                path: String::new(),
            }),
            _ => Err(ValidationError::new(
                "record",
                "type",
                "must be a JSON object",
            )),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn required(&self, name: &str) -> ValidationError {
        ValidationError::new(self.path(name), "required", "is required")
    }

    fn wrong_type(&self, name: &str, what: &str) -> ValidationError {
        ValidationError::new(self.path(name), "type", format!("must be {what}"))
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, ValidationError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(self.wrong_type(name, "a string")),
        }
    }

    fn string(&self, name: &str) -> Result<String, ValidationError> {
        self.opt_string(name)?.ok_or_else(|| self.required(name))
    }

    fn integer(&self, name: &str) -> Result<i64, ValidationError> {
        match self.present(name) {
            None => Err(self.required(name)),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| self.wrong_type(name, "an integer")),
            // A CSV cell arrives as a string.
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| self.wrong_type(name, "an integer")),
            Some(_) => Err(self.wrong_type(name, "an integer")),
        }
    }

    fn county(&self, name: &str) -> Result<CountyCode, ValidationError> {
        CountyCode::parse(&self.string(name)?).map_err(|e| renamed(e, &self.path(name)))
    }

    fn timestamp(&self, name: &str) -> Result<DateTime<Utc>, ValidationError> {
        DateTime::parse_from_rfc3339(&self.string(name)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ValidationError::new(
                    self.path(name),
                    "timestamp",
                    "must be an RFC 3339 time, e.g. 2026-03-01T08:00:00.000000Z",
                )
            })
    }

    fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, ValidationError> {
        self.opt_string(name)?
            .map(|s| {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
                    ValidationError::new(self.path(name), "date", "must be a date YYYY-MM-DD")
                })
            })
            .transpose()
    }

    fn opt_object(&self, name: &str) -> Result<Option<Reader<'a>>, ValidationError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Reader {
                map,
                path: self.path(name),
            })),
            Some(_) => Err(self.wrong_type(name, "an object")),
        }
    }

    fn object(&self, name: &str) -> Result<Reader<'a>, ValidationError> {
        self.opt_object(name)?.ok_or_else(|| self.required(name))
    }

    fn level(&self, outcomes: Outcomes) -> Result<Level, ValidationError> {
        let organ = self.string("organ")?;
        check_organ(&organ, &self.path("organ"))?;
        let outcome = self
            .opt_string("outcome")?
            .map(|o| match outcomes {
                Outcomes::Opinion => OpinionOutcome::parse(&o)
                    .map(|o| o.as_str().to_owned())
                    .map_err(|e| renamed(e, &self.path("outcome"))),
                Outcomes::Review => ReviewOutcome::parse(&o)
                    .map(|o| o.as_str().to_owned())
                    .map_err(|_| {
                        ValidationError::new(
                            self.path("outcome"),
                            "unknown_value",
                            "must be one of: uphold, change, revoke",
                        )
                    }),
            })
            .transpose()?;
        Ok(Level {
            organ,
            outcome,
            served_on: self.opt_date("served_on")?,
        })
    }
}

/// A record of a file, or why its line cannot be read: `(line, …)`, lines counted from 1.
pub type Parsed = Result<(usize, Record), (usize, ValidationError)>;

/// Reads a whole file: CSV when its first line is the CSV header (or `csv` is set), JSON
/// lines otherwise. Blank lines are skipped. Errors in a CSV row name the column.
pub fn parse_file(text: &str, csv: bool) -> Vec<Parsed> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or_default().trim();
    if csv || first.starts_with("format,") {
        parse_csv(text)
    } else {
        parse_json_lines(text)
    }
}

fn parse_json_lines(text: &str) -> Vec<Parsed> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let line = i + 1;
            let v: Value = serde_json::from_str(l).map_err(|e| {
                (
                    line,
                    ValidationError::new(
                        "record",
                        "json",
                        format!("not valid JSON (column {})", e.column()),
                    ),
                )
            })?;
            Record::from_json(&v)
                .map(|r| (line, r))
                .map_err(|e| (line, e))
        })
        .collect()
}

/// The JSON record a CSV row stands for (empty cells absent).
fn csv_to_json(header: &[String], cells: &[String]) -> Value {
    let mut root = Map::new();
    for (col, cell) in header.iter().zip(cells) {
        let Some(i) = CSV_COLUMNS.iter().position(|c| c == col) else {
            continue;
        };
        if cell.trim().is_empty() {
            continue;
        }
        let mut target = &mut root;
        let mut parts = CSV_PATHS[i].split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                target.insert(part.to_owned(), Value::String(cell.clone()));
            } else {
                let entry = target
                    .entry(part.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(m) = entry else { break };
                target = m;
            }
        }
    }
    Value::Object(root)
}

fn parse_csv(text: &str) -> Vec<Parsed> {
    let rows = match csv_rows(text) {
        Ok(rows) => rows,
        Err((line, message)) => {
            return vec![Err((line, ValidationError::new("record", "csv", message)))];
        }
    };
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else {
        return Vec::new();
    };
    if let Some(missing) = CSV_COLUMNS.iter().find(|c| !header.iter().any(|h| h == *c)) {
        return vec![Err((
            1,
            ValidationError::new(
                *missing,
                "header",
                "the header line lacks this column (see docs/termination-registry.md)",
            ),
        ))];
    }
    rows.filter(|(_, cells)| !(cells.len() == 1 && cells[0].trim().is_empty()))
        .map(|(line, cells)| {
            if cells.len() != header.len() {
                return Err((
                    line,
                    ValidationError::new(
                        "record",
                        "csv",
                        format!("has {} cells, the header {}", cells.len(), header.len()),
                    ),
                ));
            }
            Record::from_json(&csv_to_json(&header, &cells))
                .map(|r| (line, r))
                .map_err(|mut e| {
                    e.field = csv_column(&e.field).to_owned();
                    (line, e)
                })
        })
        .collect()
}

/// RFC 4180 rows with the line each starts on; `Err((line, message))` for an unterminated
/// quote.
/// A CSV row: the line it starts on and its cells.
type CsvRow = (usize, Vec<String>);

fn csv_rows(text: &str) -> Result<Vec<CsvRow>, (usize, String)> {
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut line = 1usize;
    let mut start = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                cell.push(c);
            }
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => cells.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                cells.push(std::mem::take(&mut cell));
                rows.push((start, std::mem::take(&mut cells)));
                line += 1;
                start = line;
            }
            (false, c) => cell.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted cell is not closed".into()));
    }
    if !cell.is_empty() || !cells.is_empty() {
        cells.push(cell);
        rows.push((start, cells));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::similarity::fingerprint;

    const TEXT: &str = "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了。";

    fn record() -> Record {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Record {
            format: FORMAT.into(),
            case_no: "XF-411282-2026-000017".into(),
            home_county: CountyCode::parse("411282").unwrap(),
            matter_county: CountyCode::parse("411282").unwrap(),
            petition_type: PetitionType::Grievance,
            branch: Some(Art31Branch::Residual),
            registered_at: t("2026-01-05T01:02:03.456789Z"),
            petitioner: Petitioner {
                key: "ab".repeat(32),
                key_id: "0123456789abcdef".into(),
                sealed_identity: Some(base64::engine::general_purpose::STANDARD.encode([7u8; 40])),
                sealed_identity_key_id: Some("fedcba9876543210".into()),
            },
            fingerprint: RecordFingerprint {
                version: FINGERPRINT_VERSION,
                slots: fingerprint_hex(&fingerprint(TEXT)),
            },
            handling: Some(Level {
                organ: "411282:zjj".into(),
                outcome: Some("not_supported".into()),
                served_on: NaiveDate::from_ymd_opt(2026, 1, 20),
            }),
            review: Some(Level {
                organ: "411282:gov".into(),
                outcome: Some("uphold".into()),
                served_on: NaiveDate::from_ymd_opt(2026, 2, 20),
            }),
            rereview: Level {
                organ: "external:三门峡市人民政府, 复核".into(),
                outcome: Some("uphold".into()),
                served_on: NaiveDate::from_ymd_opt(2026, 3, 20),
            },
            terminated_at: t("2026-03-20T02:00:00Z"),
        }
    }

    #[test]
    fn json_lines_are_canonical_and_round_trip() {
        let r = record();
        let line = r.to_json_line();
        assert!(
            line.starts_with("{\"format\":\"xf-termination/1\",\"case_no\":"),
            "{line}"
        );
        assert!(line.contains("\"registered_at\":\"2026-01-05T01:02:03.456789Z\""));
        assert!(line.contains("\"terminated_at\":\"2026-03-20T02:00:00.000000Z\""));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v, r.to_value());
        let back = Record::from_json(&v).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_json_line(), line);
        assert_eq!(
            fingerprint_from_bytes(&back.fingerprint_bytes()).unwrap(),
            fingerprint(TEXT)
        );
    }

    #[test]
    fn csv_rows_round_trip_with_quoted_cells() {
        let r = record();
        let text = format!("{}\r\n{}\r\n\r\n", csv_header(), r.csv_row());
        assert!(r.csv_row().contains("\"external:三门峡市人民政府, 复核\""));
        let parsed = parse_file(&text, false);
        assert_eq!(parsed.len(), 1);
        let (line, back) = parsed[0].clone().unwrap();
        assert_eq!(line, 2);
        assert_eq!(back, r);
        // Empty cells are absent values.
        let mut r2 = r.clone();
        r2.review = None;
        r2.branch = None;
        r2.petitioner.sealed_identity = None;
        r2.petitioner.sealed_identity_key_id = None;
        let text = format!("{}\n{}\n", csv_header(), r2.csv_row());
        assert_eq!(parse_file(&text, true)[0].clone().unwrap().1, r2);
    }

    #[test]
    fn errors_name_the_line_and_the_field_without_the_value() {
        let good = record().to_json_line();
        let mut bad: Value = serde_json::from_str(&good).unwrap();
        bad["petitioner"]["key"] = Value::String("not-a-key-secret".into());
        let mut old = serde_json::from_str::<Value>(&good).unwrap();
        old["format"] = "xf-termination/0".into();
        let mut fp = serde_json::from_str::<Value>(&good).unwrap();
        fp["fingerprint"]["slots"] = "abcd".into();
        let mut lvl = serde_json::from_str::<Value>(&good).unwrap();
        lvl["rereview"]["outcome"] = "maybe".into();
        lvl["review"]["served_on"] = "20.02.2026".into();
        let text = format!("{good}\n\n{bad}\n{{oops\n{old}\n{fp}\n{lvl}\n",);
        let parsed = parse_file(&text, false);
        let errors: Vec<(usize, String, &str)> = parsed
            .iter()
            .filter_map(|p| p.as_ref().err())
            .map(|(l, e)| (*l, e.field.clone(), e.rule))
            .collect();
        assert_eq!(
            errors,
            vec![
                (3, "petitioner.key".into(), "hex"),
                (4, "record".into(), "json"),
                (5, "format".into(), "unsupported_version"),
                (6, "fingerprint.slots".into(), "hex"),
                (7, "review.served_on".into(), "date"),
            ]
        );
        for (_, e) in parsed.iter().filter_map(|p| p.as_ref().err()) {
            assert!(!e.message.contains("secret"), "{e}");
        }
        // In CSV the column is named.
        let mut r = record();
        r.petitioner.key = "zz".repeat(32);
        let text = format!("{}\n{}\n", csv_header(), r.csv_row());
        let e = parse_file(&text, false)[0].clone().unwrap_err();
        assert_eq!((e.0, e.1.field.as_str()), (2, "petitioner_key"));
        let text = format!("{}\n\"unclosed\n", csv_header());
        assert_eq!(parse_file(&text, false)[0].clone().unwrap_err().0, 2);
        let text = "format,case_no\nxf-termination/1,XF-411282-2026-1\n";
        assert_eq!(
            parse_file(text, true)[0].clone().unwrap_err().1.field,
            "home_county"
        );
    }

    #[test]
    fn case_numbers_organs_and_dates_are_checked() {
        let base: Value = serde_json::from_str(&record().to_json_line()).unwrap();
        let field = |edit: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            edit(&mut v);
            Record::from_json(&v).unwrap_err().field
        };
        assert_eq!(
            field(&|v| v["case_no"] = "XF-41128-2026-1".into()),
            "case_no"
        );
        assert_eq!(
            field(&|v| v["home_county"] = "411281".into()),
            "home_county"
        );
        assert_eq!(
            field(&|v| v["handling"]["organ"] = "411282".into()),
            "handling.organ"
        );
        assert_eq!(
            field(&|v| v["handling"]["outcome"] = "uphold".into()),
            "handling.outcome"
        );
        assert_eq!(field(&|v| v["rereview"] = Value::Null), "rereview");
        assert_eq!(
            field(&|v| v["terminated_at"] = "2025-01-01T00:00:00Z".into()),
            "terminated_at"
        );
        assert_eq!(
            field(&|v| v["fingerprint"]["version"] = 2.into()),
            "fingerprint.version"
        );
        assert_eq!(
            field(&|v| v["petitioner"]["sealed_identity_key_id"] = Value::Null),
            "petitioner.sealed_identity_key_id"
        );
        assert_eq!(
            field(&|v| v["petitioner"]["sealed_identity"] = "!!".into()),
            "petitioner.sealed_identity"
        );
        assert_eq!(field(&|v| v["branch"] = 6.into()), "branch");
        assert_eq!(Record::from_json(&Value::Null).unwrap_err().field, "record");
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_encode(&[0, 15, 255]), "000fff");
        assert_eq!(hex_decode("000FfF"), Some(vec![0, 15, 255]));
        assert_eq!(hex_decode("0g"), None);
        assert_eq!(hex_decode("abc"), None);
        assert!(fingerprint_from_bytes(&[0; 12]).is_none());
    }
}
