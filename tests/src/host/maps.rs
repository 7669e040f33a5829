//! Header maps, buffers and properties: what a filter reads about the request, the response,
//! its configuration and an HTTP call's answer.

use wasmtime::{Caller, Linker, Result, bail};

use super::abi::{self, BufferType, HeaderPairs, LogLevel, MapType, Status};
use super::memory::{give, read, read_opt};
use super::state::{HostState, Mode, Origin, Phase};

/// Whether a stream's header map can be reached in the current phase. Envoy hands the
/// filter its request (response) headers only during `on_request_headers`
/// (`on_response_headers`) and again in the access-log phase; nginx keeps them for the whole
/// request.
fn reachable(state: &HostState, map: MapType) -> bool {
    match (&state.shared.mode, state.phase) {
        (Mode::Nginx { .. }, _) | (Mode::Envoy { .. }, Phase::Log) => true,
        (Mode::Envoy { .. }, Phase::RequestHeaders) => map == MapType::RequestHeaders,
        (Mode::Envoy { .. }, Phase::ResponseHeaders) => map == MapType::ResponseHeaders,
        (Mode::Envoy { .. }, _) => false,
    }
}

/// The map a filter addresses, if it exists in the current callback.
fn map_of(state: &HostState, map: MapType) -> Option<&HeaderPairs> {
    match map {
        MapType::RequestHeaders | MapType::ResponseHeaders if !reachable(state, map) => None,
        MapType::RequestHeaders => state.stream().map(|s| &s.request_headers),
        MapType::ResponseHeaders => state.stream().and_then(|s| s.response_headers.as_ref()),
        MapType::HttpCallResponseHeaders if state.phase == Phase::CallResponse => {
            state.delivery.as_ref().map(|d| &d.headers)
        }
        _ => None,
    }
}

fn map_of_mut(state: &mut HostState, map: MapType) -> Option<&mut HeaderPairs> {
    if !reachable(state, map) {
        return None;
    }
    match map {
        MapType::RequestHeaders => state.stream_mut().map(|s| &mut s.request_headers),
        MapType::ResponseHeaders => state.stream_mut().and_then(|s| s.response_headers.as_mut()),
        _ => None,
    }
}

/// Envoy's answer for a map that does not exist here: NotFound in the access-log phase,
/// BadArgument elsewhere.
fn unavailable(state: &HostState) -> i32 {
    if state.phase == Phase::Log { Status::NotFound.code() } else { Status::BadArgument.code() }
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
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, rp: i32, rs: i32| -> Result<i32> {
            let map = map_type(map)?;
            let key = read(&mut c, kp, kl)?;
            c.data().note_read(String::from_utf8_lossy(&key).into_owned());
            let value = match map_of(c.data(), map) {
                None => return Ok(unavailable(c.data())),
                Some(pairs) => pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)).map(|(_, v)| v.clone()),
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
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32> {
            edit_map(&mut c, map, kp, kl, Some((vp, vl)), true)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Caller<'_, HostState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32> {
            edit_map(&mut c, map, kp, kl, Some((vp, vl)), false)
        },
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
        |mut c: Caller<'_, HostState>, ty: i32, start: i32, max: i32, rp: i32, rs: i32| -> Result<i32> {
            let Some(ty) = BufferType::from_code(ty) else { bail!("invalid buffer type {ty}") };
            let s = c.data();
            let data = match ty {
                BufferType::PluginConfiguration if s.phase == Phase::Configure => s.plugin_config.clone(),
                BufferType::VmConfiguration if s.phase == Phase::VmStart => s.vm_config.clone(),
                BufferType::HttpCallResponseBody if s.phase == Phase::CallResponse => {
                    s.delivery.as_ref().map(|d| d.body.clone()).unwrap_or_default()
                }
                BufferType::PluginConfiguration
                | BufferType::VmConfiguration
                | BufferType::HttpCallResponseBody
                | BufferType::RequestBody
                | BufferType::ResponseBody => return Ok(Status::NotFound.code()),
                other => bail!("buffer {other:?} is not implemented by the test host"),
            };
            let start = start as u32 as usize;
            let slice: Vec<u8> =
                data.get(start..).unwrap_or_default().iter().take(max as u32 as usize).copied().collect();
            give(&mut c, &slice, rp, rs).map(|()| Status::Ok.code())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, HostState>, pp: i32, pl: i32, rp: i32, rs: i32| -> Result<i32> {
            let path = abi::property_path(&read(&mut c, pp, pl)?);
            let s = c.data();
            s.note_read(path.clone());
            // Envoy reads `request.*` from the request headers it holds in the request
            // phase and again for the access log (on_log), not in between.
            let forgotten = matches!(s.shared.mode, Mode::Envoy { .. })
                && path.starts_with("request.")
                && !matches!(s.phase, Phase::RequestHeaders | Phase::Log);
            let value = s
                .stream()
                .and_then(|st| st.properties.get(&path))
                .or_else(|| s.properties.get(&path))
                .filter(|_| !forgotten)
                .cloned();
            match value {
                Some(v) => give(&mut c, &v, rp, rs).map(|()| Status::Ok.code()),
                None => {
                    if let (Mode::Nginx { .. }, Some(complaint)) = (&s.shared.mode, nginx_complaint(&path)) {
                        s.log(LogLevel::Error, Origin::Host, complaint);
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

/// What ngx_wasm_module logs (at `[error]`) when a property has no value: nothing for
/// `ngx.*` variables and the properties it maps; "not supported" for Envoy-only ones such as
/// `cluster_name`; "not found" for any other path, such as `xds.cluster_name`.
fn nginx_complaint(path: &str) -> Option<String> {
    const MAPPED_PREFIXES: &[&str] = &["ngx.", "request.headers.", "response.headers."];
    const MAPPED: &[&str] = &[
        "request.path",
        "request.url_path",
        "request.host",
        "request.scheme",
        "request.method",
        "request.useragent",
        "request.protocol",
        "request.query",
        "request.id",
        "request.referer",
        "request.time",
        "request.duration",
        "request.size",
        "request.total_size",
        "response.code",
        "response.size",
        "response.total_size",
        "upstream.address",
        "upstream.port",
        "destination.address",
        "destination.port",
        "connection.requested_server_name",
        "connection.tls_version",
        "connection.subject_local_certificate",
        "connection.id",
        "connection.mtls",
        "source.address",
        "source.port",
        "plugin_name",
        "plugin_root_id",
    ];
    const NOT_SUPPORTED: &[&str] = &[
        "node",
        "cluster_name",
        "cluster_metadata",
        "listener_direction",
        "listener_metadata",
        "route_name",
        "route_metadata",
        "upstream_host_metadata",
        "response.code_details",
        "response.flags",
        "connection.termination_details",
    ];
    if MAPPED_PREFIXES.iter().any(|p| path.starts_with(p)) || MAPPED.contains(&path) {
        None
    } else if NOT_SUPPORTED.contains(&path) {
        Some(format!("[error] \"{path}\" property not supported"))
    } else {
        Some(format!("[error] property \"{path}\" not found"))
    }
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
