//! Listed matters (清单化管理、项目化推进): matters handed down from above — 中央巡视移交,
//! 省联席办交办, 上级交办, 领导批示 — tracked item by item: milestones, a weekly progress entry,
//! KPIs of their own and an earlier 督办 than ordinary cases.

pub mod api;
pub mod escalate;
pub mod store;
