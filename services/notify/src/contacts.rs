//! Where department notices go: the department directory (`paths.directory`, parsed by
//! `xinfang_domain::directory`), behind a small trait so tests can supply their own. The
//! service reads the process's reloadable directory ([`DirectoryHandle`]): each notice looks its
//! department up in the directory running when it is planned, so a reload (a new department,
//! changed contacts) applies to the next notice without a restart.

use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_platform::directory::DirectoryHandle;

/// A department's addresses for notices.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeptContact {
    /// Human name for the notice text, e.g. `灵宝市人社局`.
    pub name: String,
    pub emails: Vec<String>,
    pub mobiles: Vec<String>,
}

impl std::fmt::Debug for DeptContact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeptContact")
            .field("name", &self.name)
            .field("emails", &self.emails.len())
            .field("mobiles", &self.mobiles.len())
            .finish()
    }
}

/// Looks up departments and organs.
pub trait DepartmentContacts: Send + Sync + 'static {
    /// Department `dept` as seen from `county` (a county lacking it falls back to the city's).
    fn department(&self, county: &CountyCode, dept: &str) -> Option<DeptContact>;

    /// Human name of an organ written `411200:gov` (review organs); `None` if unknown.
    fn organ_name(&self, organ: &str) -> Option<String>;
}

impl DepartmentContacts for Directory {
    fn department(&self, county: &CountyCode, dept: &str) -> Option<DeptContact> {
        let organ = self.resolve(county, dept)?;
        let d = self.organ(&organ)?;
        Some(DeptContact {
            name: self.organ_name(&organ),
            emails: d.contacts.email.iter().cloned().collect(),
            mobiles: d.contacts.mobile.iter().cloned().collect(),
        })
    }

    fn organ_name(&self, organ: &str) -> Option<String> {
        let organ = OrganRef::parse(organ).ok()?;
        self.organ(&organ)?;
        Some(Directory::organ_name(self, &organ))
    }
}

/// The running directory as it stands at each look-up.
impl DepartmentContacts for DirectoryHandle {
    fn department(&self, county: &CountyCode, dept: &str) -> Option<DeptContact> {
        DepartmentContacts::department(&*self.current(), county, dept)
    }

    fn organ_name(&self, organ: &str) -> Option<String> {
        DepartmentContacts::organ_name(&*self.current(), organ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = r#"
[directory]
name = "t"

[[county]]
code = "411200"
name = "三门峡市"

[[county.department]]
code = "gov"
name = "人民政府"
contacts = { email = "gov@example.gov.cn" }

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
contacts = { email = "rsj@example.gov.cn", mobile = "13900000081" }

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
"#;

    use std::path::Path;

    #[test]
    fn the_shipped_directory_loads_and_gives_contacts() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/directory.toml"
        ));
        let d = DirectoryHandle::load(path).unwrap();
        let c = CountyCode::parse("411282").unwrap();
        let rsj = DepartmentContacts::department(&d, &c, "rsj").unwrap();
        assert!(!rsj.emails.is_empty() || !rsj.mobiles.is_empty());
        assert!(DirectoryHandle::load(Path::new("/nonexistent/directory.toml")).is_err());
    }

    #[test]
    fn directory_answers_with_city_fallback() {
        let d = Directory::from_toml_str(DIR).unwrap();
        let c = CountyCode::parse("411282").unwrap();
        let rsj = d.department(&c, "rsj").unwrap();
        assert_eq!(rsj.name, "三门峡市人社局");
        assert_eq!(rsj.emails, ["rsj@example.gov.cn"]);
        assert_eq!(rsj.mobiles, ["13900000081"]);
        assert!(!format!("{rsj:?}").contains("139"));
        assert!(d.department(&c, "nosuch").is_none());
        assert_eq!(
            DepartmentContacts::organ_name(&d, "411282:gov").as_deref(),
            Some("灵宝市人民政府")
        );
        assert_eq!(DepartmentContacts::organ_name(&d, "bad"), None);
    }
}
