//! Header maps, buffers and properties: what a filter reads about the request, the response,
//! its configuration and an HTTP call's answer.

use wasmtime::{Caller, Linker, Result, bail};

use super::abi::{self, BufferType, HeaderPairs, LogLevel, MapType, Status};
use super::memory::{give, read, read_opt};
use super::state::{HostState, Mode, Origin, Phase};

/// The map a filter addresses, if it exists in the current callback.
fn map_of(state: &HostState, map: MapType) -> Option<&HeaderPairs> {
    match map {
        MapType::RequestHeaders => state.stream().map(|s| &s.request_headers),
        MapType::ResponseHeaders => state.stream().and_then(|s| s.response_headers.as_ref()),
        MapType::HttpCallResponseHeaders if state.phase == Phase::CallResponse => {
            state.delivery.as_ref().map(|d| &d.headers)
        }
        _ => None,
    }
}

fn map_of_mut(state: &mut HostState, map: MapType) -> Option<&mut HeaderPairs> {
    match map {
        MapType::RequestHeaders => state.stream_mut().map(|s| &mut s.request_headers),
        MapType::ResponseHeaders => state.stream_mut().and_then(|s| s.response_headers.as_mut()),
        _ => None,
    }
}

/// Envoy's answer for a map that does not exist here: NotFound in the access-log phase,
/// BadArgument elsewhere.
fn unavailable(state: &HostState) -> i32 {
    if state.phase == Phase::Log {
        Status::NotFound.code()
    } else {
        Status::BadArgument.code()
    }
}

fn map_type(code: i32) -> Result<MapType> {
    match MapType::from_code(code) {
        Some(m) => Ok(m),
        None => bail!("invalid map type {code}"),
    }
}

pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Caller<'_, HostState>,
         map: i32,
         kp: i32,
         kl: i32,
         rp: i32,
         rs: i32|
         -> Result<i32> {
            let map = map_type(map)?;
            let key = read(&mut c, kp, kl)?;
            let value = match map_of(c.data(), map) {
                None => return Ok(unavailable(c.data())),
                Some(pairs) => pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .map(|(_, v)| v.clone()),
            };
            match value {
                Some(v) => give(&mut c, &v, rp, rs).map(|()| Status::Ok.code()),
                None => Ok(Status::NotFound.code()),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Caller<'_, HostState>, map: i32, rp: i32, rs: i32| -> Result<i32> {
            let map = map_type(map)?;
            let bytes = match map_of(c.data(), map) {
                None if c.data().phase == Phase::Log => abi::serialize_map(&[]),
                None => return Ok(Status::BadArgument.code()),
                Some(pairs) => abi::serialize_map(pairs),
            };
            give(&mut c, &bytes, rp, rs).map(|()| Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Caller<'_, HostState>, map: i32, p: i32, l: i32| -> Result<i32> {
            let map = map_type(map)?;
            let Some(pairs) = abi::deserialize_map(&read(&mut c, p, l)?) else {
                return Ok(Status::BadArgument.code());
            };
            match map_of_mut(c.data_mut(), map) {
                Some(m) => {
                    *m = pairs;
                    Ok(Status::Ok.code())
                }
                None => Ok(Status::BadArgument.code()),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: Caller<'_, HostState>,
         map: i32,
         kp: i32,
         kl: i32,
         vp: i32,
         vl: i32|
         -> Result<i32> { edit_map(&mut c, map, kp, kl, Some((vp, vl)), true) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Caller<'_, HostState>,
         map: i32,
         kp: i32,
         kl: i32,
         vp: i32,
         vl: i32|
         -> Result<i32> { edit_map(&mut c, map, kp, kl, Some((vp, vl)), false) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32| -> Result<i32> {
            edit_map(&mut c, map, kp, kl, None, true)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Caller<'_, HostState>,
         ty: i32,
         start: i32,
         max: i32,
         rp: i32,
         rs: i32|
         -> Result<i32> {
            let Some(ty) = BufferType::from_code(ty) else {
                bail!("invalid buffer type {ty}")
            };
            let s = c.data();
            let data = match ty {
                BufferType::PluginConfiguration if s.phase == Phase::Configure => {
                    s.plugin_config.clone()
                }
                BufferType::VmConfiguration if s.phase == Phase::VmStart => s.vm_config.clone(),
                BufferType::HttpCallResponseBody if s.phase == Phase::CallResponse => s
                    .delivery
                    .as_ref()
                    .map(|d| d.body.clone())
                    .unwrap_or_default(),
                BufferType::PluginConfiguration
                | BufferType::VmConfiguration
                | BufferType::HttpCallResponseBody
                | BufferType::RequestBody
                | BufferType::ResponseBody => return Ok(Status::NotFound.code()),
                other => bail!("buffer {other:?} is not implemented by the test host"),
            };
            let start = start as u32 as usize;
            let slice: Vec<u8> = data
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take(max as u32 as usize)
                .copied()
                .collect();
            give(&mut c, &slice, rp, rs).map(|()| Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, HostState>, pp: i32, pl: i32, rp: i32, rs: i32| -> Result<i32> {
            let path = abi::property_path(&read(&mut c, pp, pl)?);
            let s = c.data();
            let value = s
                .stream()
                .and_then(|st| st.properties.get(&path))
                .or_else(|| s.properties.get(&path))
                .cloned();
            match value {
                Some(v) => give(&mut c, &v, rp, rs).map(|()| Status::Ok.code()),
                None => {
                    if matches!(s.shared.mode, Mode::Nginx { .. }) && !nginx_supports(&path) {
                        s.log(
                            LogLevel::Error,
                            Origin::Host,
                            format!("[error] property not supported: \"{path}\""),
                        );
                    }
                    Ok(Status::NotFound.code())
                }
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Caller<'_, HostState>, pp: i32, pl: i32, vp: i32, vl: i32| -> Result<i32> {
            let path = abi::property_path(&read(&mut c, pp, pl)?);
            let value = read_opt(&mut c, vp, vl)?.unwrap_or_default();
            let s = c.data_mut();
            match s.stream_mut() {
                Some(st) => st.properties.insert(path, value),
                None => s.properties.insert(path, value),
            };
            Ok(Status::Ok.code())
        },
    )?;
    Ok(())
}

/// Properties ngx_wasm_module knows (a missing one is simply absent); any other path, such as
/// `cluster_name` or `xds.*`, makes it log "property not supported".
fn nginx_supports(path: &str) -> bool {
    const KNOWN: &[&str] = &[
        "ngx.",
        "request.",
        "response.",
        "upstream.",
        "source.",
        "destination.",
        "connection.",
        "plugin_",
    ];
    KNOWN.iter().any(|prefix| path.starts_with(prefix))
}

fn edit_map(
    c: &mut Caller<'_, HostState>,
    map: i32,
    kp: i32,
    kl: i32,
    value: Option<(i32, i32)>,
    replace: bool,
) -> Result<i32> {
    let map = map_type(map)?;
    let key = read(c, kp, kl)?;
    let value = match value {
        Some((vp, vl)) => Some(read(c, vp, vl)?),
        None => None,
    };
    let Some(pairs) = map_of_mut(c.data_mut(), map) else {
        return Ok(Status::BadArgument.code());
    };
    if replace {
        pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
    }
    if let Some(v) = value {
        pairs.push((key, v));
    }
    Ok(Status::Ok.code())
}
