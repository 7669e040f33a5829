//! Shared data (with forced interleavings), `proxy_http_call`, and metrics: the host calls that
//! reach beyond one VM.

use std::sync::atomic::Ordering;

use wasmtime::{Caller, Linker, Result, bail, format_err};

use super::abi::{self, MetricType, Status};
use super::calls::HttpCall;
use super::memory::{give, read, read_opt, write_u32, write_u64};
use super::state::{HostState, Metric, Mode, lock};

pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Caller<'_, HostState>, kp: i32, kl: i32, rp: i32, rs: i32, rcas: i32| -> Result<i32> {
            let key = read(&mut c, kp, kl)?;
            let got = lock(&c.data().shared.store).get(&key).map_err(|e| format_err!("{e}"))?;
            match got {
                Ok((value, cas)) => {
                    give(&mut c, &value, rp, rs)?;
                    write_u32(&mut c, rcas, cas)?;
                    Ok(Status::Ok.code())
                }
                Err(status) => Ok(status.code()),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Caller<'_, HostState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> Result<i32> {
            let key = read(&mut c, kp, kl)?;
            let value = read_opt(&mut c, vp, vl)?;
            interfere(&c)?;
            let status =
                lock(&c.data().shared.store).set(&key, value.as_deref(), cas as u32).map_err(|e| format_err!("{e}"))?;
            Ok(status.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: Caller<'_, HostState>,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         rtoken: i32|
         -> Result<i32> {
            let upstream = String::from_utf8_lossy(&read(&mut c, up, ul)?).into_owned();
            let Some(headers) = abi::deserialize_map(&read(&mut c, hp, hl)?) else {
                return Ok(Status::BadArgument.code());
            };
            let body = read_opt(&mut c, bp, bl)?.unwrap_or_default();
            let _trailers = read_opt(&mut c, tp, tl)?;
            let has = |name: &str| headers.iter().any(|(k, _)| k.as_slice() == name.as_bytes());
            let refused = match &c.data().shared.mode {
                // Envoy: the cluster must exist, and :method, :path, :authority are required.
                Mode::Envoy { clusters } => {
                    let complete = has(":method") && has(":path") && has(":authority");
                    (!clusters.contains(&upstream) || !complete).then_some(Status::BadArgument)
                }
                // ngx_wasm_module: `host:port` or a host name, :method and :path required.
                Mode::Nginx { .. } => {
                    let complete = has(":method") && has(":path");
                    (upstream.is_empty() || !complete).then_some(Status::InternalFailure)
                }
            };
            if let Some(status) = refused {
                return Ok(status.code());
            }
            let s = c.data_mut();
            let token = s.next_token;
            s.next_token = s.next_token.wrapping_add(1).max(1);
            let call = HttpCall {
                seq: s.shared.next_call_seq(),
                vm: s.vm,
                context_id: s.effective,
                token,
                upstream,
                headers,
                body,
                timeout_ms: if timeout == 0 { 60_000 } else { timeout as u32 },
                dispatched_ms: s.shared.now_ms(),
                tick_ordinal: s.shared.ticks(),
            };
            lock(&s.shared.dispatched_calls).push(call.clone());
            lock(&s.shared.pending_calls).push(call);
            write_u32(&mut c, rtoken, token)?;
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, HostState>, ty: i32, np: i32, nl: i32, rid: i32| -> Result<i32> {
            let Some(kind) = MetricType::from_code(ty) else {
                return Ok(Status::BadArgument.code());
            };
            let name = String::from_utf8_lossy(&read(&mut c, np, nl)?).into_owned();
            let id = {
                let mut metrics = lock(&c.data().shared.metrics);
                match metrics.iter().position(|m| m.name == name) {
                    Some(i) => i,
                    None => {
                        metrics.push(Metric { name, kind, value: 0 });
                        metrics.len() - 1
                    }
                }
            };
            write_u32(&mut c, rid, id as u32 + 1)?;
            Ok(Status::Ok.code())
        },
    )?;
    linker.func_wrap("env", "proxy_increment_metric", |c: Caller<'_, HostState>, id: i32, by: i64| -> Result<i32> {
        Ok(with_metric(&c, id, |m| m.value = m.value.saturating_add_signed(by)))
    })?;
    linker.func_wrap("env", "proxy_record_metric", |c: Caller<'_, HostState>, id: i32, v: i64| -> Result<i32> {
        Ok(with_metric(&c, id, |m| m.value = v as u64))
    })?;
    linker.func_wrap("env", "proxy_get_metric", |mut c: Caller<'_, HostState>, id: i32, rp: i32| -> Result<i32> {
        let mut value = None;
        let status = with_metric(&c, id, |m| value = Some(m.value));
        if let Some(v) = value {
            write_u64(&mut c, rp, v)?;
        }
        Ok(status)
    })?;
    Ok(())
}

fn with_metric(c: &Caller<'_, HostState>, id: i32, f: impl FnOnce(&mut Metric)) -> i32 {
    let mut metrics = lock(&c.data().shared.metrics);
    match (id as u32).checked_sub(1).and_then(|i| metrics.get_mut(i as usize)) {
        Some(m) => {
            f(m);
            Status::Ok.code()
        }
        None => Status::NotFound.code(),
    }
}

/// If the test asked for it, runs its interference on another worker now, between this
/// worker's read of shared data and its write: the interleaving that makes a CAS matter.
fn interfere(c: &Caller<'_, HostState>) -> Result<()> {
    let shared = c.data().shared.clone();
    let me = c.data().vm;
    if shared.interfering.load(Ordering::SeqCst) {
        return Ok(());
    }
    let mut guard = lock(&shared.interferer);
    let Some(interferer) = guard.as_mut() else {
        return Ok(());
    };
    interferer.seen += 1;
    if interferer.every == 0 || interferer.seen % interferer.every != 0 {
        return Ok(());
    }
    let vms = lock(&shared.vms).clone();
    let n = vms.len();
    for step in 1..n {
        let idx = (me + step) % n;
        let Some(vm) = vms.get(idx).and_then(|w| w.upgrade()) else {
            continue;
        };
        let Ok(mut vm) = vm.try_lock() else { continue };
        shared.interfering.store(true, Ordering::SeqCst);
        let result = (interferer.action)(&mut vm);
        shared.interfering.store(false, Ordering::SeqCst);
        interferer.fired += 1;
        if let Err(e) = result {
            bail!("interference run on VM {idx} (while VM {me} wrote shared data) failed: {e}");
        }
        break;
    }
    Ok(())
}
