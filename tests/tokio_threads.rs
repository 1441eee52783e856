//! The async client adds no OS thread: fifty queries joined on a current-thread runtime
//! run on the thread that awaits them. Alone in its test binary, so that no other
//! test's threads come and go while the threads are counted.

use std::time::Duration;

use a2s_query::proto::{Info, SourceInfo};
use a2s_query::server::{Farm, Fault, Responder};
use a2s_query::tokio::Client;

/// The threads of this process (Linux); `None` elsewhere.
fn threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

#[test]
fn fifty_queries_add_no_thread() {
    let farm = Farm::new()
        .delay(Duration::from_millis(100))
        .spawn_loopback(50, |i| {
            let mut info = SourceInfo::default();
            info.server_name = format!("counted {i}");
            (Responder::new(Info::Source(info), vec![], vec![]), Fault::None)
        })
        .unwrap();
    let Some(before) = threads() else {
        eprintln!("SKIPPED: no /proc/self/task here");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (names, during) = runtime.block_on(async {
        let client = Client::builder().timeout(Duration::from_secs(5)).build();
        let mut tasks = Vec::new();
        for &addr in farm.addrs() {
            let client = client.clone();
            tasks.push(tokio::spawn(async move { client.info(addr).await.map(|i| i.server_name().to_string()) }));
        }
        // Every query is under way (the replies are held 100 ms): count now.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let during = threads();
        let mut names = Vec::new();
        for task in tasks {
            names.push(task.await.unwrap());
        }
        (names, during)
    });
    for (i, name) in names.into_iter().enumerate() {
        assert_eq!(name.unwrap(), format!("counted {i}"));
    }
    assert_eq!(during, Some(before), "threads while fifty queries ran");
}
