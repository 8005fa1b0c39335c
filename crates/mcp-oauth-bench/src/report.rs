//! The printed results: the table, the generators' agreement on the bare
//! handler, and ours beside the Python original.

use crate::Options;
use crate::generator::Generator;
use crate::groups::ADJACENT_CEILING;
use crate::load::Row;

/// Prints everything the rows say.
pub(crate) fn print(rows: &[Row], o: &Options) {
    println!(
        "| scenario | conns | per s | p50 ms | p90 ms | p99 ms | server CPU % | server RSS MB | errors | generator |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        if r.conns == 0 {
            println!("| {} | | | | | | | {:.1} | | |", r.scenario, r.rss_mb);
            continue;
        }
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.0} | {:.1} | {} | {} |",
            r.scenario,
            r.conns,
            r.per_sec,
            r.p50,
            r.p90,
            r.p99,
            r.cpu,
            r.rss_mb,
            r.errors,
            r.generator
        );
    }
    let find = |name: &str, conns: usize, generator: &str| {
        rows.iter()
            .find(|r| r.scenario == name && r.conns == conns && r.generator == generator)
            .map(|r| r.per_sec)
    };
    let bare = "bare actix-web handler (ceiling)";
    let run = o.generator.label();
    println!();
    if let (Some(wrk), Some(own)) = (
        find(bare, 64, Generator::Wrk.label()),
        find(bare, 64, Generator::Own.label()),
    ) {
        println!(
            "generators on the bare handler, 64 conns: wrk {wrk:.0}/s, ours (raw) {own:.0}/s: ours = {:.1} % of wrk",
            own / wrk * 100.0
        );
    }
    if let Some(ceiling) = find(bare, 64, run) {
        for storage in ["memory", "SQLite", "PostgreSQL"] {
            let name = format!("POST /introspect ({storage})");
            if let Some(v) = find(&name, 64, run) {
                println!(
                    "introspection ({storage}), 64 conns: {v:.0}/s = {:.1} % of the ceiling ({ceiling:.0}/s at the start of the run, same generator)",
                    v / ceiling * 100.0
                );
            }
            // The ceiling measured just before the row.
            let at = rows
                .iter()
                .position(|r| r.scenario == name && r.conns == 64 && r.generator == run);
            if let Some(i) = at.filter(|&i| i > 0)
                && rows[i - 1].scenario == ADJACENT_CEILING
            {
                let (v, adjacent) = (rows[i].per_sec, rows[i - 1].per_sec);
                println!(
                    "introspection ({storage}), 64 conns: {v:.0}/s = {:.1} % of the ceiling measured just before it ({adjacent:.0}/s)",
                    v / adjacent * 100.0
                );
            }
        }
    }
    let py_flow = "flow, new client: register + authorize + password login + token";
    let pairs = [
        (
            "POST /introspect (SQLite)",
            "POST /introspect (Python original)",
            1,
            run,
        ),
        (
            "POST /introspect (SQLite)",
            "POST /introspect (Python original)",
            64,
            run,
        ),
        (
            "POST /introspect (memory)",
            "POST /introspect (Python original)",
            64,
            run,
        ),
    ];
    for (ours, theirs, conns, generator) in pairs {
        if let (Some(a), Some(b)) = (find(ours, conns, generator), find(theirs, conns, generator)) {
            println!(
                "{ours} vs the Python original, {conns} conns: {a:.0}/s vs {b:.0}/s = {:.1}x",
                a / b
            );
        }
    }
    for storage in ["memory", "SQLite"] {
        let hyper = "ours (hyper)";
        if let (Some(a), Some(b)) = (
            find(&format!("{py_flow} ({storage})"), 16, hyper),
            find(&format!("{py_flow} (Python original)"), 16, hyper),
        ) {
            println!(
                "new-client flows ({storage}) vs the Python original, 16 conns: {a:.0}/s vs {b:.0}/s = {:.2}x (ours pays one Argon2id per login; it compares plain strings)",
                a / b
            );
        }
    }
}
