//! The few WASI preview1 functions a Rust `wasm32-wasip1` filter imports: stdout/stderr go to
//! the proxy log, time is the proxy's controlled clock, randomness is deterministic per VM,
//! there is no environment, no arguments and no files. `proc_exit` traps.

use wasmtime::{Caller, Linker, Result, bail};

use super::abi::LogLevel;
use super::memory::{read, write, write_u32, write_u64};
use super::state::{HostState, Origin};

const WASI: &str = "wasi_snapshot_preview1";
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;

pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Caller<'_, HostState>, fd: i32, iovs: i32, n: i32, rp: i32| -> Result<i32> {
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            let mut out = Vec::new();
            for i in 0..n {
                let iov = read(&mut c, iovs.wrapping_add(i.wrapping_mul(8)), 8)?;
                let word =
                    |at: usize| iov.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(i32::from_le_bytes);
                let (Some(p), Some(l)) = (word(0), word(4)) else {
                    return Ok(EINVAL);
                };
                out.extend(read(&mut c, p, l)?);
            }
            let level = if fd == 2 { LogLevel::Warn } else { LogLevel::Info };
            let text = String::from_utf8_lossy(&out).trim_end().to_string();
            if !text.is_empty() {
                c.data().log(level, Origin::Stdio, text);
            }
            write_u32(&mut c, rp, out.len() as u32)?;
            Ok(ESUCCESS)
        },
    )?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(WASI, name, |mut c: Caller<'_, HostState>, count: i32, size: i32| -> Result<i32> {
            write_u32(&mut c, count, 0)?;
            write_u32(&mut c, size, 0)?;
            Ok(ESUCCESS)
        })?;
    }
    for name in ["environ_get", "args_get"] {
        linker.func_wrap(WASI, name, |_c: Caller<'_, HostState>, _a: i32, _b: i32| -> Result<i32> { Ok(ESUCCESS) })?;
    }
    linker.func_wrap(WASI, "proc_exit", |_c: Caller<'_, HostState>, code: i32| -> Result<()> {
        bail!("the filter called proc_exit({code})")
    })?;
    linker.func_wrap(WASI, "random_get", |mut c: Caller<'_, HostState>, p: i32, l: i32| -> Result<i32> {
        let len = l as u32 as usize;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            bytes.extend_from_slice(&c.data_mut().next_random().to_le_bytes());
        }
        bytes.truncate(len);
        write(&mut c, p, &bytes)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Caller<'_, HostState>, id: i32, _prec: i64, rp: i32| -> Result<i32> {
            // Clock 0 is the realtime (wall) clock; the others are monotonic.
            let now = if id == 0 { c.data().shared.wall_now_ns() } else { c.data().shared.now_ns() };
            write_u64(&mut c, rp, now)?;
            Ok(ESUCCESS)
        },
    )?;
    linker.func_wrap(WASI, "clock_res_get", |mut c: Caller<'_, HostState>, _id: i32, rp: i32| -> Result<i32> {
        write_u64(&mut c, rp, 1_000)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(WASI, "sched_yield", |_c: Caller<'_, HostState>| -> Result<i32> { Ok(ESUCCESS) })?;
    linker.func_wrap(WASI, "fd_close", |_c: Caller<'_, HostState>, _fd: i32| -> Result<i32> { Ok(EBADF) })?;
    linker.func_wrap(WASI, "fd_fdstat_get", |_c: Caller<'_, HostState>, _fd: i32, _p: i32| -> Result<i32> {
        Ok(EBADF)
    })?;
    linker.func_wrap(WASI, "fd_prestat_get", |_c: Caller<'_, HostState>, _fd: i32, _p: i32| -> Result<i32> {
        Ok(EBADF)
    })?;
    linker.func_wrap(
        WASI,
        "fd_prestat_dir_name",
        |_c: Caller<'_, HostState>, _fd: i32, _p: i32, _l: i32| -> Result<i32> { Ok(EBADF) },
    )?;
    linker.func_wrap(
        WASI,
        "fd_seek",
        |_c: Caller<'_, HostState>, _fd: i32, _off: i64, _wh: i32, _rp: i32| -> Result<i32> { Ok(EBADF) },
    )?;
    Ok(())
}
