//! The names people know for the codes the services answer with: `411202` is 湖滨区,
//! `411202:rsj` is 湖滨区人社局. Read from the deployment's directory as it stands (a reload
//! renames without a restart); a code the directory lacks is shown as given.

use std::sync::Arc;

use xinfang_domain::classify::Departments;
use xinfang_domain::county::CountyCode;
use xinfang_platform::directory::DirectoryHandle;

use crate::pages::practices::form::dept_name;

#[derive(Clone)]
pub struct Names {
    directory: Arc<DirectoryHandle>,
}

impl Names {
    pub fn new(directory: Arc<DirectoryHandle>) -> Self {
        Self { directory }
    }

    /// `411202` → `湖滨区`.
    pub fn county(&self, code: &str) -> String {
        CountyCode::parse(code)
            .ok()
            .and_then(|c| {
                self.directory
                    .current()
                    .county(&c)
                    .map(|county| county.name.clone())
            })
            .unwrap_or_else(|| code.to_owned())
    }

    /// An organ, `411202:rsj` → `湖滨区人社局`; otherwise as [`dept_name`] reads it
    /// (`rsj` → `人社局`, an unknown county as its code).
    pub fn organ(&self, organ: &str) -> String {
        let directory = self.directory.current();
        let named = organ.split_once(':').and_then(|(county, code)| {
            let county = directory.county(&CountyCode::parse(county).ok()?)?;
            let dept = county
                .department(code)
                .map(|d| d.name.clone())
                .or_else(|| Departments::embedded().name_of(code).map(str::to_owned))?;
            Some(format!("{}{dept}", county.name))
        });
        named.unwrap_or_else(|| dept_name(organ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_domain::directory::Directory;

    fn names() -> Names {
        let directory = Directory::from_toml_str(include_str!("../../../config/directory.toml"))
            .unwrap_or_else(|e| panic!("shipped directory: {e:?}"));
        Names::new(Arc::new(DirectoryHandle::fixed(directory)))
    }

    #[test]
    fn counties_and_organs_read_as_names_and_unknown_codes_pass_through() {
        let n = names();
        assert_eq!(n.county("411202"), "湖滨区");
        assert_eq!(n.county("411200"), "三门峡市");
        assert_eq!(n.county("947601"), "947601");
        assert_eq!(n.county("<b>"), "<b>");
        assert_eq!(n.organ("411282:rsj"), "灵宝市人社局");
        assert_eq!(n.organ("rsj"), "人社局");
        assert_eq!(n.organ("947601:rsj"), "人社局（947601）");
        assert_eq!(n.organ("411282:nosuch"), "411282:nosuch");
    }
}
