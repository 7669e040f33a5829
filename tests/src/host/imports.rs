//! The proxy-wasm ABI 0.2.1 host functions (module `env`): logging, time, ticks, contexts,
//! streams; the rest live in [`super::maps`] and [`super::dispatch`]. Anything a module imports
//! that is not defined here traps when called, naming the import.

use wasmtime::{Caller, Linker, Module, Result, bail};

use super::abi::{LogLevel, Status};
use super::memory::{read, write_u32, write_u64};
use super::state::{HostState, Mode, Origin, TickSchedule};

/// Builds the linker for one proxy: every host function, then traps for anything else the
/// module imports.
/// Also returns the imports the host does not implement (`module::name`): calling one traps.
pub fn linker(
    engine: &wasmtime::Engine,
    module: &Module,
    mode: &Mode,
    probe: HostState,
) -> Result<(Linker<HostState>, Vec<String>)> {
    let mut linker = Linker::new(engine);
    add_core(&mut linker, mode)?;
    super::maps::add_to_linker(&mut linker)?;
    super::dispatch::add_to_linker(&mut linker)?;
    super::wasi::add_to_linker(&mut linker)?;
    let mut store = wasmtime::Store::new(engine, probe);
    let missing = module
        .imports()
        .filter(|i| linker.get(&mut store, i.module(), i.name()).is_err())
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    linker.define_unknown_imports_as_traps(module)?;
    Ok((linker, missing))
}

fn add_core(linker: &mut Linker<HostState>, mode: &Mode) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Caller<'_, HostState>, level: i32, p: i32, l: i32| -> Result<i32> {
            let Some(level) = LogLevel::from_code(level) else {
                return Ok(Status::BadArgument.code());
            };
            let text = String::from_utf8_lossy(&read(&mut c, p, l)?).into_owned();
            c.data().log(level, Origin::Plugin, text);
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Caller<'_, HostState>, rp: i32| -> Result<i32> {
            let now = c.data().shared.wall_now_ns();
            write_u64(&mut c, rp, now)?;
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Caller<'_, HostState>, period: i32| -> Result<i32> {
            let s = c.data_mut();
            let period_ms = u64::from(period as u32);
            s.tick = (period_ms > 0)
                .then(|| TickSchedule { period_ms, next_due_ms: s.shared.now_ms().saturating_add(period_ms) });
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap("env", "proxy_set_effective_context", |mut c: Caller<'_, HostState>, id: i32| -> Result<i32> {
        let s = c.data_mut();
        let id = id as u32;
        if id == s.root_id || s.streams.contains_key(&id) {
            s.effective = id;
            Ok(Status::Ok.code())
        } else {
            Ok(Status::BadArgument.code())
        }
    })?;
    linker.func_wrap("env", "proxy_continue_stream", |_c: Caller<'_, HostState>, _ty: i32| -> Result<i32> {
        Ok(Status::Ok.code())
    })?;
    linker.func_wrap("env", "proxy_close_stream", |_c: Caller<'_, HostState>, _ty: i32| -> Result<i32> {
        Ok(Status::Ok.code())
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Caller<'_, HostState>,
         status: i32,
         _dp: i32,
         _dl: i32,
         _bp: i32,
         _bl: i32,
         _hp: i32,
         _hl: i32,
         _g: i32|
         -> Result<i32> {
            match c.data_mut().stream_mut() {
                Some(stream) => {
                    stream.local_response = Some(status as u32);
                    Ok(Status::Ok.code())
                }
                None => Ok(Status::BadArgument.code()),
            }
        },
    )?;
    match mode {
        Mode::Envoy { .. } => {
            linker.func_wrap("env", "proxy_get_log_level", |mut c: Caller<'_, HostState>, rp: i32| -> Result<i32> {
                write_u32(&mut c, rp, 0)?;
                Ok(Status::Ok.code())
            })?;
            linker
                .func_wrap("env", "proxy_done", |_c: Caller<'_, HostState>| -> Result<i32> { Ok(Status::Ok.code()) })?;
        }
        Mode::Nginx { .. } => {
            // ngx_wasm_module does not implement these: calling one traps.
            linker.func_wrap("env", "proxy_get_log_level", |_c: Caller<'_, HostState>, _rp: i32| -> Result<i32> {
                bail!("proxy_get_log_level is not implemented by ngx_wasm_module")
            })?;
            linker.func_wrap("env", "proxy_done", |_c: Caller<'_, HostState>| -> Result<i32> {
                bail!("proxy_done is not implemented by ngx_wasm_module")
            })?;
        }
    }
    Ok(())
}
