//! Place names of the deployment (`config/classification/gazetteer.toml`) and the lookup that
//! turns a petition text into the county-level unit where the matter happened.
//!
//! Each county-level unit lists its own names, its towns/townships/streets, notable places, and
//! weaker cues (e.g. `市区`). All occurrences are found; of overlapping ones the stronger kind and
//! then the longer name is kept (so `灵宝市区` is 灵宝, not a bare `市区`); the unit with the
//! strongest single mention wins, ties going to more mentions, then to the earliest one.

use serde::Deserialize;

use super::RulesError;
use crate::county::CountyCode;

/// How a name identifies its unit; the weight comes from `[weights]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// The unit's own name (`灵宝市`, `灵宝`).
    County,
    /// A town, township or street office (`原店镇`).
    Town,
    /// A landmark, road or institution (`函谷关`).
    Place,
    /// A weak hint (`市属`, `市区`).
    Cue,
}

impl PlaceKind {
    /// What the clerk is told the county was read from.
    fn zh(self) -> &'static str {
        match self {
            PlaceKind::County => "县（市、区）名",
            PlaceKind::Town => "乡镇（街道）名",
            PlaceKind::Place => "地名",
            PlaceKind::Cue => "地域提示词",
        }
    }
}

/// One county-level unit.
#[derive(Debug, Clone, PartialEq)]
pub struct CountyEntry {
    pub code: CountyCode,
    pub name: String,
    /// Codes the unit had before (陕县 411222 became 陕州区 411203): still printed in old ID cards.
    pub former_codes: Vec<CountyCode>,
    names: Vec<(String, PlaceKind)>,
    /// Words that say a proposal is about the whole unit (`全市`): listed for the city level.
    scope: Vec<String>,
}

/// The checked gazetteer.
#[derive(Debug, Clone, PartialEq)]
pub struct Gazetteer {
    counties: Vec<CountyEntry>,
    weights: Weights,
}

/// The best county found in a text, with the mention that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceMatch {
    pub county: CountyCode,
    pub county_name: String,
    pub matched: String,
    pub kind: PlaceKind,
}

impl PlaceMatch {
    /// A line for the clerk.
    pub fn reason(&self) -> String {
        format!(
            "事项发生地：{}（{}），依据{}「{}」",
            self.county_name,
            self.county,
            self.kind.zh(),
            self.matched
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Weights {
    county: f32,
    town: f32,
    place: f32,
    cue: f32,
}

impl Weights {
    fn of(&self, kind: PlaceKind) -> f32 {
        match kind {
            PlaceKind::County => self.county,
            PlaceKind::Town => self.town,
            PlaceKind::Place => self.place,
            PlaceKind::Cue => self.cue,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GazetteerFile {
    weights: Weights,
    #[serde(rename = "county")]
    counties: Vec<CountyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountyFile {
    code: String,
    name: String,
    #[serde(default)]
    former_codes: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    towns: Vec<String>,
    #[serde(default)]
    places: Vec<String>,
    #[serde(default)]
    cues: Vec<String>,
    #[serde(default)]
    scope: Vec<String>,
}

/// A mention found in the text.
#[derive(Debug, Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    county: usize,
    name: usize,
}

impl Gazetteer {
    pub fn from_toml_str(toml_text: &str) -> Result<Self, RulesError> {
        let file: GazetteerFile = toml::from_str(toml_text).map_err(|e| RulesError::Parse {
            file: "gazetteer",
            message: e.to_string(),
        })?;
        let w = file.weights;
        for (what, v) in [
            ("county", w.county),
            ("town", w.town),
            ("place", w.place),
            ("cue", w.cue),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 100.0) {
                return Err(RulesError::invalid(
                    "gazetteer.weights",
                    format!("{what} must be a number above 0 and at most 100"),
                ));
            }
        }
        let mut counties = Vec::with_capacity(file.counties.len());
        let mut all_names: Vec<(String, usize)> = Vec::new();
        for (i, c) in file.counties.into_iter().enumerate() {
            let at = format!("gazetteer county {}", c.name);
            let code =
                CountyCode::parse(&c.code).map_err(|e| RulesError::invalid(&at, e.message))?;
            let mut former_codes = Vec::new();
            for f in &c.former_codes {
                former_codes
                    .push(CountyCode::parse(f).map_err(|e| RulesError::invalid(&at, e.message))?);
            }
            let taken = |code: &CountyCode| {
                counties
                    .iter()
                    .any(|e: &CountyEntry| e.code == *code || e.former_codes.contains(code))
            };
            if taken(&code) || former_codes.iter().any(taken) {
                return Err(RulesError::invalid(&at, "duplicate county code"));
            }
            let mut names = Vec::new();
            for (list, kind) in [
                (c.names, PlaceKind::County),
                (c.towns, PlaceKind::Town),
                (c.places, PlaceKind::Place),
                (c.cues, PlaceKind::Cue),
            ] {
                for n in list {
                    let n = n.trim().to_owned();
                    if n.chars().count() < 2 {
                        return Err(RulesError::invalid(
                            &at,
                            format!("place name `{n}` is too short to be unambiguous"),
                        ));
                    }
                    // The same string under two units would make the answer depend on file
                    // order; the data must say which unit it belongs to.
                    if let Some((_, other)) = all_names.iter().find(|(m, _)| *m == n) {
                        if *other != i {
                            return Err(RulesError::invalid(
                                &at,
                                format!("place name `{n}` is listed under two counties"),
                            ));
                        }
                        continue;
                    }
                    all_names.push((n.clone(), i));
                    names.push((n, kind));
                }
            }
            if names.is_empty() {
                return Err(RulesError::invalid(&at, "no names listed"));
            }
            counties.push(CountyEntry {
                code,
                name: c.name,
                former_codes,
                names,
                scope: c
                    .scope
                    .into_iter()
                    .map(|w| w.trim().to_owned())
                    .filter(|w| !w.is_empty())
                    .collect(),
            });
        }
        if counties.is_empty() {
            return Err(RulesError::invalid("gazetteer", "no [[county]] given"));
        }
        Ok(Self {
            counties,
            weights: file.weights,
        })
    }

    pub fn counties(&self) -> &[CountyEntry] {
        &self.counties
    }

    /// Every place name, for the segmenter's user dictionary (cues are ordinary words).
    pub fn place_names(&self) -> impl Iterator<Item = &str> {
        self.counties.iter().flat_map(|c| {
            c.names
                .iter()
                .filter(|(_, k)| *k != PlaceKind::Cue)
                .map(|(n, _)| n.as_str())
        })
    }

    /// The city's own level (`411200`: its organs, enterprises and city-wide matters), if listed.
    pub fn city_level(&self) -> Option<&CountyEntry> {
        self.counties
            .iter()
            .find(|c| c.code.as_str().ends_with("00"))
    }

    /// The city-wide scope word the text uses (`全市`, `我市`), if any.
    pub fn city_wide_scope(&self, text: &str) -> Option<&str> {
        self.city_level()?
            .scope
            .iter()
            .find(|w| text.contains(w.as_str()))
            .map(String::as_str)
    }

    /// The unit a division code belongs to, current or former (`411222` -> 陕州区).
    pub fn county_for_code(&self, code: &str) -> Option<&CountyEntry> {
        self.counties
            .iter()
            .find(|c| c.code.as_str() == code || c.former_codes.iter().any(|f| f.as_str() == code))
    }

    /// The county-level unit the text names, if any.
    pub fn locate(&self, text: &str) -> Option<PlaceMatch> {
        let mut hits = Vec::new();
        for (ci, c) in self.counties.iter().enumerate() {
            for (ni, (name, _)) in c.names.iter().enumerate() {
                for (start, _) in text.match_indices(name.as_str()) {
                    hits.push(Hit {
                        start,
                        end: start + name.len(),
                        county: ci,
                        name: ni,
                    });
                }
            }
        }
        // Overlaps: the stronger kind first (`灵宝市人社局` is 灵宝 even though `市人社局` is
        // longer), then the longer name (`灵宝市区` is 灵宝, not `市区`), then the leftmost.
        hits.sort_by(|a, b| {
            self.weight(b)
                .total_cmp(&self.weight(a))
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(a.start.cmp(&b.start))
        });
        let mut kept: Vec<Hit> = Vec::new();
        for h in hits {
            if kept.iter().all(|k| h.end <= k.start || h.start >= k.end) {
                kept.push(h);
            }
        }

        // Per county: (strongest single weight, mention count, earliest position, that hit).
        // Where the petitioner comes from (`我是陕州区张湾乡人`) counts half: a worker from one
        // county owed wages on a site in another raises the matter where the site is.
        // The city's own organs and enterprises are no one's home: `本人是市属某公司的职工`
        // names where the matter is.
        let effective = |h: &Hit| {
            let w = self.weight(h);
            let city_level = self.counties[h.county].code.as_str().ends_with("00");
            if !city_level && is_origin(text, h) {
                w * 0.5
            } else {
                w
            }
        };
        let mut best: Option<(f32, usize, usize, Hit)> = None;
        for ci in 0..self.counties.len() {
            let mine: Vec<&Hit> = kept.iter().filter(|h| h.county == ci).collect();
            let Some(strongest) = mine.iter().copied().max_by(|a, b| {
                effective(a)
                    .total_cmp(&effective(b))
                    .then(b.start.cmp(&a.start))
            }) else {
                continue;
            };
            let first = mine.iter().map(|h| h.start).min().unwrap_or(usize::MAX);
            let candidate = (effective(strongest), mine.len(), first, *strongest);
            let better = match &best {
                None => true,
                Some((w, n, f, _)) => candidate
                    .0
                    .total_cmp(w)
                    .then(candidate.1.cmp(n))
                    .then(f.cmp(&candidate.2))
                    .is_gt(),
            };
            if better {
                best = Some(candidate);
            }
        }
        best.map(|(_, _, _, h)| {
            let c = &self.counties[h.county];
            let (name, kind) = &c.names[h.name];
            PlaceMatch {
                county: c.code.clone(),
                county_name: c.name.clone(),
                matched: name.clone(),
                kind: *kind,
            }
        })
    }

    fn weight(&self, h: &Hit) -> f32 {
        self.weights.of(self.counties[h.county].names[h.name].1)
    }

    /// The town, township or street office the text names first, with its county (the weekly
    /// analysis counts petitions per town). Names of where the petitioner comes from count too:
    /// a town is where the matter is raised from.
    pub fn town(&self, text: &str) -> Option<(CountyCode, String)> {
        self.counties
            .iter()
            .flat_map(|c| {
                c.names
                    .iter()
                    .filter(|(_, kind)| *kind == PlaceKind::Town)
                    .filter_map(move |(name, _)| {
                        text.find(name.as_str())
                            .map(|at| (at, c.code.clone(), name))
                    })
            })
            .min_by(|a, b| a.0.cmp(&b.0).then(b.2.len().cmp(&a.2.len())))
            .map(|(_, county, name)| (county, name.clone()))
    }
}

/// True when the place names where the petitioner is from, not where the matter is: its clause
/// introduces the person (`我是…`, `家住…`, `老家…`) or ends in `人` (`陕州区张湾乡南窑村人`).
fn is_origin(text: &str, h: &Hit) -> bool {
    const STOPS: &[char] = &[
        '，', ',', '。', '；', ';', '！', '!', '？', '?', '：', ':', '\n',
    ];
    const INTRODUCTIONS: &[&str] = &[
        "我是",
        "俺是",
        "本人是",
        "我叫",
        "俺叫",
        "家住",
        "住在",
        "老家",
        "户籍",
        "自称是",
        "来电人是",
    ];
    let clause_start = text[..h.start].rfind(STOPS).map_or(0, |i| {
        i + text[i..].chars().next().map_or(1, char::len_utf8)
    });
    let clause_end = text[h.end..].find(STOPS).map_or(text.len(), |i| h.end + i);
    let before = &text[clause_start..h.start];
    let clause = text[clause_start..clause_end].trim_end();
    // Where a parent or grandparent the petition is written for lives ("我父亲住在卢氏老家")
    // is where their matter is, not where the writer comes from.
    const RELATIVES: &[&str] = &[
        "父亲",
        "母亲",
        "我爸",
        "我妈",
        "俺爸",
        "俺妈",
        "爷爷",
        "奶奶",
        "姥姥",
        "姥爷",
        "外公",
        "外婆",
        "老人",
        "公公",
        "婆婆",
        "岳父",
        "岳母",
        "老母亲",
        "老父亲",
        "其父",
        "其母",
    ];
    let sentence_start = text[..h.start]
        .rfind(['。', '！', '!', '？', '?', '\n'])
        .map_or(0, |i| {
            i + text[i..].chars().next().map_or(1, char::len_utf8)
        });
    if RELATIVES
        .iter()
        .any(|r| text[sentence_start..h.start].contains(r))
    {
        return false;
    }
    INTRODUCTIONS.iter().any(|w| before.contains(w)) || clause.ends_with('人')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_relative_written_for_lives_is_where_the_matter_is() {
        let g = Gazetteer::from_toml_str(crate::classify::EMBEDDED_GAZETTEER).expect("gazetteer");
        let at = |t: &str| g.locate(t).map(|m| m.county.as_str().to_owned());
        assert_eq!(
            at("我在义马上班。我母亲一个人住在渑池县英豪镇老家，去年的养老金到现在没发。")
                .as_deref(),
            Some("411221")
        );
        // The writer's own origin still counts half.
        assert_eq!(
            at("我是渑池县英豪镇人，在义马市一家厂里上班，工资拖了三个月。").as_deref(),
            Some("411281")
        );
    }

    #[test]
    fn where_the_petitioner_is_from_yields_to_where_the_matter_is() {
        let g = Gazetteer::from_toml_str(crate::classify::EMBEDDED_GAZETTEER).expect("gazetteer");
        let at = |t: &str| g.locate(t).map(|m| m.county.as_str().to_owned());
        assert_eq!(
            at("我是陕州区张湾乡人，在灵宝市一个工地干活，工钱没给。").as_deref(),
            Some("411282")
        );
        assert_eq!(
            at("俺老家卢氏的，去年在灵宝函谷关镇扎钢筋，老板跑了。").as_deref(),
            Some("411282")
        );
        // Alone, where the petitioner is from still places the matter.
        assert_eq!(
            at("我是陕州区原店镇某村村民，村里修物流园占了我家的地。").as_deref(),
            Some("411203")
        );
    }

    #[test]
    fn the_first_town_named_is_the_petitions_town() {
        let g = Gazetteer::from_toml_str(crate::classify::EMBEDDED_GAZETTEER).expect("gazetteer");
        let town = g
            .town("我是陕州区原店镇某村村民，村里修物流园占了我家的地。")
            .expect("a town");
        assert_eq!((town.0.as_str(), town.1.as_str()), ("411203", "原店镇"));
        assert_eq!(g.town("小区电梯坏了三个月没人修。"), None);
    }

    const SAMPLE: &str = r#"
[weights]
county = 3.0
town = 2.0
place = 1.5
cue = 1.0

[[county]]
code = "411282"
name = "灵宝市"
names = ["灵宝市", "灵宝"]
towns = ["函谷关镇"]
places = ["函谷关"]

[[county]]
code = "411202"
name = "湖滨区"
names = ["湖滨区"]
cues = ["市区"]

[[county]]
code = "411203"
name = "陕州区"
former_codes = ["411222"]
names = ["陕州区"]

[[county]]
code = "411200"
name = "市本级"
cues = ["市属"]
"#;

    fn g() -> Gazetteer {
        Gazetteer::from_toml_str(SAMPLE).expect("sample gazetteer")
    }

    #[test]
    fn longest_name_wins_over_its_parts() {
        let m = g().locate("我在灵宝市区摆摊").expect("found");
        assert_eq!(m.county.as_str(), "411282");
        assert_eq!(m.matched, "灵宝市");
        let m = g().locate("函谷关镇某村").expect("found");
        assert_eq!(m.kind, PlaceKind::Town);
    }

    #[test]
    fn strong_mention_beats_weak_cue() {
        let m = g().locate("市属企业退休，现住湖滨区").expect("found");
        assert_eq!(m.county.as_str(), "411202");
        let m = g().locate("市属企业退休").expect("found");
        assert_eq!(m.county.as_str(), "411200");
    }

    #[test]
    fn former_codes_map_to_the_current_unit() {
        let g = g();
        assert_eq!(
            g.county_for_code("411222").map(|c| c.name.as_str()),
            Some("陕州区")
        );
        assert_eq!(
            g.county_for_code("411282").map(|c| c.name.as_str()),
            Some("灵宝市")
        );
        assert!(g.county_for_code("410305").is_none());
    }

    #[test]
    fn nothing_named_is_none() {
        assert!(g().locate("我们村的路坏了").is_none());
        assert!(g().locate("").is_none());
    }

    #[test]
    fn rejects_bad_data() {
        let dup = SAMPLE.replace("cues = [\"市属\"]", "cues = [\"灵宝\"]");
        assert!(Gazetteer::from_toml_str(&dup).is_err());
        let bad_code = SAMPLE.replace("411200", "4112");
        assert!(Gazetteer::from_toml_str(&bad_code).is_err());
        let short = SAMPLE.replace("\"函谷关\"]", "\"关\"]");
        assert!(Gazetteer::from_toml_str(&short).is_err());
        let weight = SAMPLE.replace("cue = 1.0", "cue = 0");
        assert!(Gazetteer::from_toml_str(&weight).is_err());
        let former = SAMPLE.replace("former_codes = [\"411222\"]", "former_codes = [\"411282\"]");
        assert!(Gazetteer::from_toml_str(&former).is_err());
    }
}
