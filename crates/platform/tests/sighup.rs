//! `systemctl reload` (SIGHUP) re-reads the holiday calendar and the department directory of the
//! running process. This test binary holds only this test: it signals its own process.

use chrono::Datelike;
use xinfang_platform::calendar::today;
use xinfang_platform::main_runner::reload_on_sighup;
use xinfang_platform::testing::TestEnv;

#[tokio::test]
async fn sighup_reloads_calendar_and_directory_and_a_bad_file_keeps_the_running_one() {
    // Listen first, so the signal can never take the process's default action (exit).
    let mut own = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let y = today().year();
    let file = std::env::temp_dir().join(format!("xf-cal-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&file, format!("[{y}]\n")).unwrap();
    let path = file.clone();
    let env = TestEnv::start(move |p| p.paths.calendar = path, "")
        .await
        .expect("local NATS, Postgres and Redis must be running");
    // A service of the process reads the directory (TestEnv wrote one for its counties).
    let directory = env.infra.directory().unwrap();
    let dir_file = env.infra.settings.platform.paths.directory.clone();
    let dir_raw = std::fs::read_to_string(&dir_file).unwrap();
    env.infra.tracker.spawn(reload_on_sighup(env.infra.clone()));
    let mut hup = async || {
        let pid = std::process::id().to_string();
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        own.recv().await;
    };
    // Give the reload task time to listen too.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    std::fs::write(&file, format!("[{y}]\n[{}]\n", y + 1)).unwrap();
    // One signal, both files: the county gets a new department.
    std::fs::write(
        &dir_file,
        format!("{dir_raw}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n"),
    )
    .unwrap();
    hup().await;
    env.wait_for("the calendar and the directory reloaded", 10, async || {
        env.infra.calendar.generation() == 1 && directory.generation() == 1
    })
    .await;
    assert_eq!(env.infra.calendar.current().years(), vec![y, y + 1]);
    let has_xdept = || {
        directory
            .current()
            .county(&env.county)
            .and_then(|c| c.department("xdept"))
            .is_some()
    };
    assert!(has_xdept());
    // Broken files: refused, the running calendar and directory stay.
    std::fs::write(&file, "[this is not toml\n").unwrap();
    std::fs::write(&dir_file, "[[county]]\ncode = \"bad\"\n").unwrap();
    hup().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(env.infra.calendar.generation(), 1);
    assert_eq!(env.infra.calendar.current().years(), vec![y, y + 1]);
    assert_eq!(directory.generation(), 1);
    assert!(has_xdept());
    let _ = std::fs::remove_file(&file);
    env.stop().await;
}
