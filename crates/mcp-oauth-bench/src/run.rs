//! The run: every group the options want, in order, into one table.

use crate::groups::{LEAN_ALLOCATOR, ceiling, mcp_group, python_group, server_bin, storage_group};
use crate::load::Row;
use crate::{BoxError, Options, extra};

/// Every wanted group; the rows.
pub(crate) async fn run(o: &Options) -> Result<Vec<Row>, BoxError> {
    let server_bin = server_bin()?;
    let mut rows = Vec::new();
    if o.wanted("ceiling") {
        ceiling(o, &mut rows).await?;
    }
    if o.wanted("startup") {
        extra::startup(&server_bin, &mut rows).await?;
    }
    for (group, storage, env) in [
        ("memory", "memory", &[][..]),
        ("sqlite", "SQLite", &[][..]),
        ("lean", "SQLite, lean allocator", LEAN_ALLOCATOR),
    ] {
        if o.wanted(group) {
            storage_group(o, &server_bin, group, storage, env, &mut rows).await?;
        }
    }
    if o.wanted("python") {
        match &o.python {
            Some(py) => python_group(o, py, &mut rows).await?,
            None => eprintln!("python: skipped (no --python; scripts/bench prepares one)"),
        }
    }
    if o.wanted("postgres") {
        match &o.postgres {
            Some(url) => extra::postgres(o, &server_bin, url, &mut rows).await?,
            None => eprintln!("postgres: skipped (no --postgres URL)"),
        }
    }
    if o.wanted("twocore") {
        extra::two_cores(o, &server_bin, &mut rows).await?;
    }
    if o.wanted("mcp") {
        mcp_group(o, &server_bin, &mut rows).await?;
    }
    Ok(rows)
}
