//! The department directory as data (`config/directory.toml`): the deployment's counties
//! (division code, name, parent), each county's departments (code, name, review parent,
//! contacts) and the roles routing needs (纪委监委, 政法 organs, arbitration, ...).
//!
//! Parsing validates everything at once and reports every problem with its path, e.g.
//! `county[411282].department[rsj].contacts.mobile: mobile_format: ...`. Messages never echo
//! contact values.
//!
//! Review hierarchy (Art 35–36 "next-higher organ"): a department's parent for review is its
//! county's people's government (role `government`, `gov` by default) unless the department
//! names another organ in `review_parent`; a county's government's parent is the government of
//! the parent county (the city); the city government has no parent in the directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::petition::CadreLevel;
use crate::subject;
use crate::validation::ValidationError;

/// One organ: a department of a county, written `411282:rsj`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganRef {
    pub county: CountyCode,
    pub dept: String,
}

impl OrganRef {
    pub fn new(county: CountyCode, dept: impl Into<String>) -> Self {
        Self {
            county,
            dept: dept.into(),
        }
    }

    /// Parses `411282:rsj`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let (county, dept) = raw.split_once(':').ok_or_else(|| {
            ValidationError::new(
                "organ",
                "organ_format",
                "must be `<county code>:<department code>`, e.g. 411282:rsj",
            )
        })?;
        let county = CountyCode::parse(county)?;
        subject::token("dept", dept).map_err(|_| {
            ValidationError::new(
                "organ",
                "department_code",
                "department code must be lowercase ASCII letters, digits or '_'",
            )
        })?;
        Ok(Self::new(county, dept))
    }
}

impl fmt::Display for OrganRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.county, self.dept)
    }
}

impl TryFrom<String> for OrganRef {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OrganRef> for String {
    fn from(value: OrganRef) -> Self {
        value.to_string()
    }
}

/// Where a department's notices go. Both optional; at least one is recommended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Department {
    /// Lowercase ASCII slug, a subject token (`rsj`).
    pub code: String,
    /// Short Chinese name (`人社局`).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Explicit next-higher organ for review; `None` = the default rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_parent: Option<OrganRef>,
    pub contacts: Contacts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct County {
    pub code: CountyCode,
    pub name: String,
    /// The city a county belongs to; `None` for the city itself.
    pub parent: Option<CountyCode>,
    pub departments: Vec<Department>,
    /// The cadre levels this county's 纪委监委 manages (干部管理权限, Art 22 para 2): an
    /// accusation against a cadre of another level goes to the commission that manages it.
    /// Default: a county's manages village, town and county-department cadres; the city's also
    /// county leaders and city-department cadres (city leaders are the province's).
    pub discipline_manages: Vec<CadreLevel>,
}

impl County {
    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.code == code)
    }
}

/// Department codes that play a part in routing. Every one must exist in the city (the
/// fallback level); a county lacking one falls back to the city's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Roles {
    /// 人民政府: the default review parent (Art 35–36).
    pub government: String,
    /// 信访局: the bureau that decides objections (Art 23 para 3).
    pub petition_bureau: String,
    /// 纪委监委: accusations against officials (Art 22 para 2, Art 30).
    pub discipline: String,
    /// 政法委: litigation matters without a more specific organ.
    pub political_legal: String,
    pub court: String,
    pub procuratorate: String,
    pub police: String,
    /// Seat of the 劳动人事争议仲裁委员会 (Art 31(2)).
    pub labour_arbitration: String,
    /// Seat of the 农村土地承包仲裁委员会 (Art 31(2)).
    pub rural_land_arbitration: String,
    /// 党员申诉、复审 (Art 31(3)).
    pub party_appeal: String,
    /// 行政复议机构 (Art 31(4)).
    pub administrative_reconsideration: String,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            government: "gov".into(),
            petition_bureau: "xfj".into(),
            discipline: "jwjw".into(),
            political_legal: "zfw".into(),
            court: "fy".into(),
            procuratorate: "jcy".into(),
            police: "gaj".into(),
            labour_arbitration: "rsj".into(),
            rural_land_arbitration: "nyncj".into(),
            party_appeal: "zzb".into(),
            administrative_reconsideration: "sfj".into(),
        }
    }
}

impl Roles {
    fn all(&self) -> [(&'static str, &str); 11] {
        [
            ("government", &self.government),
            ("petition_bureau", &self.petition_bureau),
            ("discipline", &self.discipline),
            ("political_legal", &self.political_legal),
            ("court", &self.court),
            ("procuratorate", &self.procuratorate),
            ("police", &self.police),
            ("labour_arbitration", &self.labour_arbitration),
            ("rural_land_arbitration", &self.rural_land_arbitration),
            ("party_appeal", &self.party_appeal),
            (
                "administrative_reconsideration",
                &self.administrative_reconsideration,
            ),
        ]
    }
}

/// A validated directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directory {
    pub name: String,
    pub roles: Roles,
    pub counties: Vec<County>,
}

/// Every problem found in a directory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryErrors(pub Vec<ValidationError>);

impl fmt::Display for DirectoryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "directory has {} error(s):", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  {}: {}: {}", e.field, e.rule, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for DirectoryErrors {}

// ---- file format -----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    directory: RawHeader,
    #[serde(default)]
    roles: Roles,
    #[serde(default)]
    county: Vec<RawCounty>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounty {
    code: String,
    name: String,
    #[serde(default)]
    parent: Option<String>,
    /// Cadre levels (`village`, `town`, `county_department`, `county_leader`,
    /// `city_department`, `city_leader`) this county's 纪委监委 manages; default by level.
    #[serde(default)]
    discipline_manages: Option<Vec<String>>,
    #[serde(default)]
    department: Vec<RawDepartment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    code: String,
    name: String,
    #[serde(default)]
    full_name: Option<String>,
    /// `411200:rsj`, or a bare code for a department of the same county.
    #[serde(default)]
    review_parent: Option<String>,
    #[serde(default)]
    contacts: Contacts,
}

/// The deepest review chain the directory may describe; deeper means a cycle or a typo.
const MAX_REVIEW_DEPTH: usize = 8;

impl Directory {
    /// Parses and validates a `directory.toml`.
    pub fn from_toml_str(raw: &str) -> Result<Directory, DirectoryErrors> {
        let file: RawFile = toml::from_str(raw).map_err(|e| {
            DirectoryErrors(vec![ValidationError::new(
                "directory",
                "toml",
                e.to_string(),
            )])
        })?;
        let mut errors = Vec::new();
        let mut counties: Vec<County> = Vec::new();
        let mut seen_counties = BTreeSet::new();
        for (i, rc) in file.county.into_iter().enumerate() {
            let at = format!(
                "county[{}]",
                if rc.code.is_empty() {
                    i.to_string()
                } else {
                    rc.code.clone()
                }
            );
            let code = match CountyCode::parse(rc.code.trim()) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(ValidationError::new(
                        format!("{at}.code"),
                        e.rule,
                        e.message,
                    ));
                    continue;
                }
            };
            if !seen_counties.insert(code.clone()) {
                errors.push(ValidationError::new(
                    format!("{at}.code"),
                    "duplicate",
                    "county code listed twice",
                ));
                continue;
            }
            if rc.name.trim().is_empty() {
                errors.push(ValidationError::new(
                    format!("{at}.name"),
                    "required",
                    "must not be empty",
                ));
            }
            let parent = match rc
                .parent
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None => None,
                Some(p) => match CountyCode::parse(p) {
                    Ok(p) if p == code => {
                        errors.push(ValidationError::new(
                            format!("{at}.parent"),
                            "self_parent",
                            "a county cannot be its own parent",
                        ));
                        None
                    }
                    Ok(p) => Some(p),
                    Err(e) => {
                        errors.push(ValidationError::new(
                            format!("{at}.parent"),
                            e.rule,
                            e.message,
                        ));
                        None
                    }
                },
            };
            let discipline_manages = match &rc.discipline_manages {
                None => default_discipline_levels(parent.is_none()),
                Some(raw) => {
                    let mut levels = Vec::new();
                    for (k, l) in raw.iter().enumerate() {
                        match CadreLevel::parse(l.trim()) {
                            Ok(level) if !levels.contains(&level) => levels.push(level),
                            Ok(_) => errors.push(ValidationError::new(
                                format!("{at}.discipline_manages[{k}]"),
                                "duplicate",
                                "cadre level listed twice",
                            )),
                            Err(e) => errors.push(ValidationError::new(
                                format!("{at}.discipline_manages[{k}]"),
                                e.rule,
                                e.message,
                            )),
                        }
                    }
                    levels
                }
            };
            let mut departments: Vec<Department> = Vec::new();
            for (j, rd) in rc.department.into_iter().enumerate() {
                let dat = format!(
                    "{at}.department[{}]",
                    if rd.code.is_empty() {
                        j.to_string()
                    } else {
                        rd.code.clone()
                    }
                );
                if let Some(d) = parse_department(&code, rd, &dat, &mut errors) {
                    if departments.iter().any(|x| x.code == d.code) {
                        errors.push(ValidationError::new(
                            format!("{dat}.code"),
                            "duplicate",
                            "department code listed twice in this county",
                        ));
                    } else {
                        departments.push(d);
                    }
                }
            }
            counties.push(County {
                code,
                name: rc.name.trim().to_owned(),
                parent,
                departments,
                discipline_manages,
            });
        }
        let dir = Directory {
            name: file.directory.name.trim().to_owned(),
            roles: file.roles,
            counties,
        };
        dir.check_structure(&mut errors);
        if errors.is_empty() {
            Ok(dir)
        } else {
            Err(DirectoryErrors(errors))
        }
    }

    fn check_structure(&self, errors: &mut Vec<ValidationError>) {
        if self.counties.is_empty() {
            errors.push(ValidationError::new(
                "county",
                "required",
                "the directory lists no county",
            ));
            return;
        }
        for (role, code) in self.roles.all() {
            if subject::token("dept", code).is_err() {
                errors.push(ValidationError::new(
                    format!("roles.{role}"),
                    "department_code",
                    "must be a lowercase ASCII department code",
                ));
            }
        }
        let roots: Vec<&County> = self
            .counties
            .iter()
            .filter(|c| c.parent.is_none())
            .collect();
        if roots.len() != 1 {
            errors.push(ValidationError::new(
                "county",
                "one_city",
                format!(
                    "exactly one county must have no parent (the city); found {}",
                    roots.len()
                ),
            ));
        }
        for c in &self.counties {
            let at = format!("county[{}]", c.code);
            if let Some(p) = &c.parent {
                match self.county(p) {
                    None => errors.push(ValidationError::new(
                        format!("{at}.parent"),
                        "unknown_county",
                        format!("parent {p} is not listed in the directory"),
                    )),
                    Some(pc) if pc.parent.is_some() => errors.push(ValidationError::new(
                        format!("{at}.parent"),
                        "parent_not_city",
                        format!("parent {p} must be the city (a county without a parent)"),
                    )),
                    Some(_) => {}
                }
            }
            if c.department(&self.roles.government).is_none() {
                errors.push(ValidationError::new(
                    format!("{at}.department"),
                    "government_missing",
                    format!(
                        "every county needs its people's government organ `{}` (roles.government), the default review parent",
                        self.roles.government
                    ),
                ));
            }
            for d in &c.departments {
                if let Some(rp) = &d.review_parent {
                    let dat = format!("{at}.department[{}].review_parent", d.code);
                    if self.organ(rp).is_none() {
                        errors.push(ValidationError::new(
                            dat,
                            "unknown_organ",
                            format!("{rp} is not a department in the directory"),
                        ));
                    } else if rp.county == c.code && rp.dept == d.code {
                        errors.push(ValidationError::new(
                            dat,
                            "self_parent",
                            "a department cannot review its own decisions",
                        ));
                    }
                }
            }
        }
        if roots.len() == 1 && errors.is_empty() {
            let city = roots[0];
            for (role, code) in self.roles.all() {
                if city.department(code).is_none() {
                    errors.push(ValidationError::new(
                        format!("roles.{role}"),
                        "role_missing_in_city",
                        format!(
                            "department `{code}` must exist in the city {} (the fallback for counties without one)",
                            city.code
                        ),
                    ));
                }
            }
            // Every review chain must end (no cycles through explicit parents).
            for c in &self.counties {
                for d in &c.departments {
                    let start = OrganRef::new(c.code.clone(), d.code.clone());
                    let mut cur = start.clone();
                    let mut seen = BTreeSet::from([start.clone()]);
                    while let Some(next) = self.review_parent(&cur) {
                        if !seen.insert(next.clone()) || seen.len() > MAX_REVIEW_DEPTH {
                            errors.push(ValidationError::new(
                                format!("county[{}].department[{}].review_parent", c.code, d.code),
                                "review_cycle",
                                "the chain of review parents does not reach the city government",
                            ));
                            break;
                        }
                        cur = next;
                    }
                }
            }
        }
    }

    pub fn county(&self, code: &CountyCode) -> Option<&County> {
        self.counties.iter().find(|c| &c.code == code)
    }

    /// The city: the one county without a parent.
    pub fn city(&self) -> &County {
        // Validation guarantees exactly one root and at least one county.
        self.counties
            .iter()
            .find(|c| c.parent.is_none())
            .unwrap_or(&self.counties[0])
    }

    pub fn organ(&self, organ: &OrganRef) -> Option<&Department> {
        self.county(&organ.county)?.department(&organ.dept)
    }

    /// The county whose departments handle matters of `code`: itself when listed, else the
    /// city (属地管理 with the city as the fallback level).
    pub fn handling_county(&self, code: &CountyCode) -> &County {
        self.county(code).unwrap_or_else(|| self.city())
    }

    /// `dept` of `county` if it exists there, else the nearest ancestor county's (the city's).
    pub fn resolve(&self, county: &CountyCode, dept: &str) -> Option<OrganRef> {
        let mut cur = Some(self.handling_county(county));
        let mut hops = 0;
        while let Some(c) = cur {
            if c.department(dept).is_some() {
                return Some(OrganRef::new(c.code.clone(), dept));
            }
            hops += 1;
            if hops > MAX_REVIEW_DEPTH {
                return None;
            }
            cur = c.parent.as_ref().and_then(|p| self.county(p));
        }
        None
    }

    /// The 纪委监委 with authority over a cadre of `level` for a matter of `county` (Art 22
    /// para 2, 按照管理权限): the matter's own county's commission when it manages that level,
    /// else the nearest ancestor's (the city's) that does. `None` when no commission in the
    /// directory manages the level (a province-managed cadre).
    pub fn discipline_with_authority(
        &self,
        county: &CountyCode,
        level: CadreLevel,
    ) -> Option<OrganRef> {
        let mut cur = Some(self.handling_county(county));
        let mut hops = 0;
        while let Some(c) = cur {
            if c.discipline_manages.contains(&level) {
                // A county without its own commission uses the nearest ancestor's.
                return self.resolve(&c.code, &self.roles.discipline);
            }
            hops += 1;
            if hops > MAX_REVIEW_DEPTH {
                return None;
            }
            cur = c.parent.as_ref().and_then(|p| self.county(p));
        }
        None
    }

    /// The next-higher organ for review (复查/复核) of a decision by `organ`.
    pub fn review_parent(&self, organ: &OrganRef) -> Option<OrganRef> {
        let county = self.county(&organ.county)?;
        let dept = county.department(&organ.dept)?;
        if let Some(explicit) = &dept.review_parent {
            return Some(explicit.clone());
        }
        if dept.code != self.roles.government {
            return Some(OrganRef::new(
                county.code.clone(),
                self.roles.government.clone(),
            ));
        }
        let parent = county.parent.as_ref()?;
        Some(OrganRef::new(parent.clone(), self.roles.government.clone()))
    }

    /// Human name of an organ: county name + department name (`灵宝市人社局`).
    pub fn organ_name(&self, organ: &OrganRef) -> String {
        match (self.county(&organ.county), self.organ(organ)) {
            (Some(c), Some(d)) => format!("{}{}", c.name, d.name),
            (Some(c), None) => format!("{}{}", c.name, organ.dept),
            _ => organ.to_string(),
        }
    }

    pub fn department_count(&self) -> usize {
        self.counties.iter().map(|c| c.departments.len()).sum()
    }

    /// Every organ, in file order.
    pub fn organs(&self) -> impl Iterator<Item = (OrganRef, &Department)> + '_ {
        self.counties.iter().flat_map(|c| {
            c.departments
                .iter()
                .map(move |d| (OrganRef::new(c.code.clone(), d.code.clone()), d))
        })
    }

    /// A canonical JSON form: equal for directories that mean the same, whatever the file's
    /// formatting or comments. Hash it to detect changes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// What changed from `old` to `self`, one line per change. Contact values are not shown.
    pub fn diff(&self, old: &Directory) -> Vec<String> {
        let mut out = Vec::new();
        if self.name != old.name {
            out.push("directory name changed".to_owned());
        }
        if self.roles != old.roles {
            for ((role, new), (_, was)) in self.roles.all().iter().zip(old.roles.all().iter()) {
                if new != was {
                    out.push(format!("role {role}: {was} -> {new}"));
                }
            }
        }
        let old_counties: BTreeMap<&CountyCode, &County> =
            old.counties.iter().map(|c| (&c.code, c)).collect();
        let new_counties: BTreeMap<&CountyCode, &County> =
            self.counties.iter().map(|c| (&c.code, c)).collect();
        for (code, c) in &new_counties {
            let Some(was) = old_counties.get(code) else {
                out.push(format!(
                    "county {code} {} added with {} department(s)",
                    c.name,
                    c.departments.len()
                ));
                continue;
            };
            if c.name != was.name {
                out.push(format!("county {code} renamed {} -> {}", was.name, c.name));
            }
            if c.parent != was.parent {
                out.push(format!("county {code} parent changed"));
            }
            if c.discipline_manages != was.discipline_manages {
                out.push(format!(
                    "county {code} discipline_manages changed: {}",
                    c.discipline_manages
                        .iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for d in &c.departments {
                match was.department(&d.code) {
                    None => out.push(format!("department {code}:{} {} added", d.code, d.name)),
                    Some(w) => {
                        let mut what = Vec::new();
                        if d.name != w.name || d.full_name != w.full_name {
                            what.push("name");
                        }
                        if d.review_parent != w.review_parent {
                            what.push("review parent");
                        }
                        if d.contacts.email != w.contacts.email {
                            what.push("email");
                        }
                        if d.contacts.mobile != w.contacts.mobile {
                            what.push("mobile");
                        }
                        if !what.is_empty() {
                            out.push(format!(
                                "department {code}:{} changed: {}",
                                d.code,
                                what.join(", ")
                            ));
                        }
                    }
                }
            }
            for w in &was.departments {
                if c.department(&w.code).is_none() {
                    out.push(format!("department {code}:{} {} removed", w.code, w.name));
                }
            }
        }
        for (code, c) in &old_counties {
            if !new_counties.contains_key(code) {
                out.push(format!("county {code} {} removed", c.name));
            }
        }
        out
    }
}

/// The cadre levels a county's (or, for the city, the city's) 纪委监委 manages when the
/// directory does not say: county commissions manage village, town and county-department
/// cadres; county leaders and city-department cadres are managed by the city; city leaders by
/// the province (outside the directory).
pub fn default_discipline_levels(city: bool) -> Vec<CadreLevel> {
    let mut levels = vec![
        CadreLevel::Village,
        CadreLevel::Town,
        CadreLevel::CountyDepartment,
    ];
    if city {
        levels.extend([CadreLevel::CountyLeader, CadreLevel::CityDepartment]);
    }
    levels
}

fn parse_department(
    county: &CountyCode,
    rd: RawDepartment,
    at: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<Department> {
    let before = errors.len();
    let code = rd.code.trim().to_owned();
    if subject::token("dept", &code).is_err() {
        errors.push(ValidationError::new(
            format!("{at}.code"),
            "department_code",
            "must be lowercase ASCII letters, digits or '_' (a NATS subject token), at most 64 bytes",
        ));
    }
    if rd.name.trim().is_empty() {
        errors.push(ValidationError::new(
            format!("{at}.name"),
            "required",
            "must not be empty",
        ));
    }
    let review_parent = match rd
        .review_parent
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => {
            let parsed = if raw.contains(':') {
                OrganRef::parse(raw)
            } else {
                subject::token("dept", raw)
                    .map(|_| OrganRef::new(county.clone(), raw))
                    .map_err(|_| {
                        ValidationError::new("organ", "department_code", "not a department code")
                    })
            };
            match parsed {
                Ok(o) => Some(o),
                Err(e) => {
                    errors.push(ValidationError::new(
                        format!("{at}.review_parent"),
                        e.rule,
                        format!(
                            "{}; write `<county>:<dept>` or a department code of this county",
                            e.message
                        ),
                    ));
                    None
                }
            }
        }
    };
    let contacts = Contacts {
        email: rd
            .contacts
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty()),
        mobile: rd
            .contacts
            .mobile
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty()),
    };
    if let Some(e) = &contacts.email
        && !valid_email(e)
    {
        errors.push(ValidationError::new(
            format!("{at}.contacts.email"),
            "email_format",
            "must be an address like name@example.gov.cn",
        ));
    }
    if let Some(m) = &contacts.mobile
        && !valid_mobile(m)
    {
        errors.push(ValidationError::new(
            format!("{at}.contacts.mobile"),
            "mobile_format",
            "must be an 11-digit mainland mobile number starting with 13-19",
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(Department {
        code,
        name: rd.name.trim().to_owned(),
        full_name: rd
            .full_name
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        review_parent,
        contacts,
    })
}

/// A plain address check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn valid_email(raw: &str) -> bool {
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        && raw.len() <= 254
}

/// Mainland mobile: 11 ASCII digits, `1[3-9]xxxxxxxxx`.
pub fn valid_mobile(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[directory]
name = "demo"

[[county]]
code = "411200"
name = "三门峡市"

[[county.department]]
code = "gov"
name = "人民政府"
[[county.department]]
code = "xfj"
name = "信访局"
[[county.department]]
code = "jwjw"
name = "纪委监委"
[[county.department]]
code = "zfw"
name = "政法委"
[[county.department]]
code = "fy"
name = "法院"
[[county.department]]
code = "jcy"
name = "检察院"
[[county.department]]
code = "gaj"
name = "公安局"
[[county.department]]
code = "rsj"
name = "人社局"
contacts = { email = "rsj-411200@example.gov.cn", mobile = "13900000001" }
[[county.department]]
code = "nyncj"
name = "农业农村局"
[[county.department]]
code = "zzb"
name = "组织部"
[[county.department]]
code = "sfj"
name = "司法局"

[[county]]
code = "411282"
name = "灵宝市"
parent = "411200"

[[county.department]]
code = "gov"
name = "人民政府"
[[county.department]]
code = "rsj"
name = "人社局"
[[county.department]]
code = "gaj"
name = "公安局"
review_parent = "411200:gaj"
"#;

    fn c(s: &str) -> CountyCode {
        CountyCode::parse(s).unwrap()
    }

    #[test]
    fn parses_and_answers_questions() {
        let d = Directory::from_toml_str(SMALL).unwrap();
        assert_eq!(d.city().code, c("411200"));
        assert_eq!(d.department_count(), 14);
        assert_eq!(
            d.resolve(&c("411282"), "rsj"),
            Some(OrganRef::parse("411282:rsj").unwrap())
        );
        // Not in the county: the city's.
        assert_eq!(
            d.resolve(&c("411282"), "jwjw"),
            Some(OrganRef::parse("411200:jwjw").unwrap())
        );
        // Unknown county: handled by the city.
        assert_eq!(d.handling_county(&c("411299")).code, c("411200"));
        assert_eq!(d.resolve(&c("411282"), "nope"), None);
        assert_eq!(
            d.organ_name(&OrganRef::parse("411282:rsj").unwrap()),
            "灵宝市人社局"
        );
    }

    #[test]
    fn review_parents_follow_the_government_chain_unless_configured() {
        let d = Directory::from_toml_str(SMALL).unwrap();
        let p = |s: &str| {
            d.review_parent(&OrganRef::parse(s).unwrap())
                .map(|o| o.to_string())
        };
        assert_eq!(p("411282:rsj").as_deref(), Some("411282:gov"));
        assert_eq!(p("411282:gov").as_deref(), Some("411200:gov"));
        assert_eq!(p("411200:gov"), None);
        assert_eq!(p("411282:gaj").as_deref(), Some("411200:gaj"));
        assert_eq!(p("411200:rsj").as_deref(), Some("411200:gov"));
    }

    #[test]
    fn reports_every_error_with_its_path_and_without_values() {
        let bad = r#"
[[county]]
code = "41120"
name = "x"
[[county]]
code = "411282"
name = ""
parent = "411299"
[[county.department]]
code = "RSJ"
name = "人社局"
[[county.department]]
code = "zjj"
name = "住建局"
contacts = { email = "not-an-email", mobile = "12345" }
[[county.department]]
code = "mzj"
name = "民政局"
review_parent = "411200:"
"#;
        let errs = Directory::from_toml_str(bad).unwrap_err();
        let rules: Vec<(&str, &str)> = errs.0.iter().map(|e| (e.field.as_str(), e.rule)).collect();
        for want in [
            ("county[41120].code", "division_code"),
            ("county[411282].name", "required"),
            ("county[411282].department[RSJ].code", "department_code"),
            (
                "county[411282].department[zjj].contacts.email",
                "email_format",
            ),
            (
                "county[411282].department[zjj].contacts.mobile",
                "mobile_format",
            ),
            (
                "county[411282].department[mzj].review_parent",
                "department_code",
            ),
            ("county[411282].parent", "unknown_county"),
            ("county[411282].department", "government_missing"),
        ] {
            assert!(rules.contains(&want), "missing {want:?} in {rules:?}");
        }
        let text = errs.to_string();
        assert!(
            !text.contains("12345") && !text.contains("not-an-email"),
            "{text}"
        );
    }

    #[test]
    fn roles_must_exist_in_the_city_and_cycles_are_refused() {
        let no_court = SMALL.replace("code = \"fy\"", "code = \"fyy\"");
        let errs = Directory::from_toml_str(&no_court).unwrap_err();
        assert!(
            errs.0
                .iter()
                .any(|e| e.field == "roles.court" && e.rule == "role_missing_in_city")
        );

        let cycle = SMALL.replace(
            "code = \"rsj\"\nname = \"人社局\"\ncontacts",
            "code = \"rsj\"\nname = \"人社局\"\nreview_parent = \"411282:gaj\"\ncontacts",
        );
        // 411200:rsj -> 411282:gaj -> 411200:gaj -> 411200:gov: not a cycle.
        assert!(Directory::from_toml_str(&cycle).is_ok());
        let cycle = SMALL
            .replace(
                "code = \"rsj\"\nname = \"人社局\"\ncontacts",
                "code = \"rsj\"\nname = \"人社局\"\nreview_parent = \"411282:gaj\"\ncontacts",
            )
            .replace(
                "review_parent = \"411200:gaj\"",
                "review_parent = \"411200:rsj\"",
            );
        let errs = Directory::from_toml_str(&cycle).unwrap_err();
        assert!(errs.0.iter().any(|e| e.rule == "review_cycle"), "{errs}");
    }

    #[test]
    fn unknown_keys_and_two_cities_are_errors() {
        assert!(
            Directory::from_toml_str("[[county]]\ncode = \"411200\"\nname = \"x\"\nbogus = 1\n")
                .is_err()
        );
        let two = SMALL.replace("parent = \"411200\"\n", "");
        let errs = Directory::from_toml_str(&two).unwrap_err();
        assert!(errs.0.iter().any(|e| e.rule == "one_city"));
    }

    #[test]
    fn diff_names_changes_without_contact_values() {
        let old = Directory::from_toml_str(SMALL).unwrap();
        let new_text = SMALL.replace("13900000001", "13900000002").replace(
            "code = \"gaj\"\nname = \"公安局\"\nreview_parent",
            "code = \"gaj\"\nname = \"公安分局\"\nreview_parent",
        ) + "[[county.department]]\ncode = \"mzj\"\nname = \"民政局\"\n";
        let new = Directory::from_toml_str(&new_text).unwrap();
        let diff = new.diff(&old);
        assert!(
            diff.contains(&"department 411200:rsj changed: mobile".to_owned()),
            "{diff:?}"
        );
        assert!(
            diff.contains(&"department 411282:gaj changed: name".to_owned()),
            "{diff:?}"
        );
        assert!(
            diff.contains(&"department 411282:mzj 民政局 added".to_owned()),
            "{diff:?}"
        );
        assert!(!diff.iter().any(|l| l.contains("1390000")));
        assert!(old.diff(&old).is_empty());
        assert_ne!(old.canonical_json(), new.canonical_json());
    }

    #[test]
    fn contact_formats() {
        assert!(valid_mobile("13900001234"));
        for bad in ["1390000123", "23900001234", "12900001234", "1390000123a"] {
            assert!(!valid_mobile(bad), "{bad}");
        }
        assert!(valid_email("rsj-411282@example.gov.cn"));
        for bad in ["a@b", "@b.cn", "a b@c.cn", "a@b.cn.", "a@@b.cn"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn shipped_directory_is_valid() {
        let raw = include_str!("../../../config/directory.toml");
        let d = Directory::from_toml_str(raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.counties.len(), 7);
        let tsv = include_str!("../../../config/departments.tsv");
        let codes: Vec<&str> = tsv
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .filter(|c| !c.is_empty())
            .collect();
        for county in &d.counties {
            for code in &codes {
                assert!(
                    county.department(code).is_some(),
                    "{} lacks {code}",
                    county.code
                );
            }
            assert!(county.department("gov").is_some());
        }
        // The shipped directory states the management levels (Art 22 para 2).
        let lingbao = d.county(&c("411282")).unwrap();
        assert!(
            !lingbao
                .discipline_manages
                .contains(&CadreLevel::CountyLeader)
        );
        assert!(
            d.city()
                .discipline_manages
                .contains(&CadreLevel::CountyLeader)
        );
    }

    /// Art 22 para 2: accusations go to the 纪委监委 that manages the accused by level.
    #[test]
    fn the_commission_with_authority_follows_the_management_level() {
        let d = Directory::from_toml_str(SMALL).unwrap();
        let who = |county: &str, level| {
            d.discipline_with_authority(&c(county), level)
                .map(|o| o.to_string())
        };
        // 灵宝市 has no commission of its own in SMALL: the city's stands in for it.
        assert_eq!(
            who("411282", CadreLevel::Village).as_deref(),
            Some("411200:jwjw")
        );
        assert_eq!(
            who("411282", CadreLevel::CountyLeader).as_deref(),
            Some("411200:jwjw")
        );
        // City leaders are managed by the province: no commission in the directory.
        assert_eq!(who("411282", CadreLevel::CityLeader), None);
        assert_eq!(who("411200", CadreLevel::CityLeader), None);
        // With its own commission a county keeps its cadres and passes its leaders up.
        let with_own = SMALL.replace(
            "code = \"411282\"\nname = \"灵宝市\"\nparent = \"411200\"\n",
            "code = \"411282\"\nname = \"灵宝市\"\nparent = \"411200\"\n\n[[county.department]]\ncode = \"jwjw\"\nname = \"纪委监委\"\n",
        );
        let d = Directory::from_toml_str(&with_own).unwrap();
        let who = |level| {
            d.discipline_with_authority(&c("411282"), level)
                .map(|o| o.to_string())
        };
        assert_eq!(who(CadreLevel::Town).as_deref(), Some("411282:jwjw"));
        assert_eq!(
            who(CadreLevel::CountyDepartment).as_deref(),
            Some("411282:jwjw")
        );
        assert_eq!(
            who(CadreLevel::CountyLeader).as_deref(),
            Some("411200:jwjw")
        );
        assert_eq!(
            who(CadreLevel::CityDepartment).as_deref(),
            Some("411200:jwjw")
        );
        // A deployment may say otherwise, level by level; bad levels name their path.
        let custom = with_own.replace(
            "parent = \"411200\"\n",
            "parent = \"411200\"\ndiscipline_manages = [\"village\", \"town\", \"county_department\", \"county_leader\"]\n",
        );
        let d = Directory::from_toml_str(&custom).unwrap();
        assert_eq!(
            d.discipline_with_authority(&c("411282"), CadreLevel::CountyLeader)
                .map(|o| o.to_string())
                .as_deref(),
            Some("411282:jwjw")
        );
        let bad = with_own.replace(
            "parent = \"411200\"\n",
            "parent = \"411200\"\ndiscipline_manages = [\"town\", \"mayor\", \"town\"]\n",
        );
        let e = Directory::from_toml_str(&bad).unwrap_err().to_string();
        assert!(
            e.contains("county[411282].discipline_manages[1]: unknown_value"),
            "{e}"
        );
        assert!(
            e.contains("county[411282].discipline_manages[2]: duplicate"),
            "{e}"
        );
    }
}
