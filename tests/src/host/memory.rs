//! Reading and writing the guest's linear memory from a host call, and handing the guest
//! buffers it owns (allocated with its `proxy_on_memory_allocate`).
//!
//! A bad pointer from the guest is a trap, as on a real host.

use wasmtime::{Caller, Memory, Result, bail, format_err};

use super::state::HostState;

fn memory(caller: &Caller<'_, HostState>) -> Result<Memory> {
    caller.data().memory.ok_or_else(|| format_err!("the module exports no memory"))
}

fn offset(ptr: i32) -> usize {
    // wasm32 pointers are unsigned 32-bit.
    ptr as u32 as usize
}

/// Copies `len` bytes at `ptr` out of guest memory.
pub fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Vec<u8>> {
    let mem = memory(caller)?;
    let start = offset(ptr);
    let end = start.checked_add(offset(len)).ok_or_else(|| format_err!("pointer overflow"))?;
    match mem.data(&caller).get(start..end) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => bail!("guest passed an out-of-bounds buffer ({start}..{end})"),
    }
}

/// Like [`read`], but `None` for a NULL pointer (how the SDK passes `None`).
pub fn read_opt(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Option<Vec<u8>>> {
    if ptr == 0 { Ok(None) } else { read(caller, ptr, len).map(Some) }
}

/// Writes `bytes` at `ptr` in guest memory.
pub fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> Result<()> {
    let mem = memory(caller)?;
    let start = offset(ptr);
    let end = start.checked_add(bytes.len()).ok_or_else(|| format_err!("pointer overflow"))?;
    match mem.data_mut(&mut *caller).get_mut(start..end) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(())
        }
        None => bail!("guest passed an out-of-bounds return pointer ({start}..{end})"),
    }
}

pub fn write_u32(caller: &mut Caller<'_, HostState>, ptr: i32, value: u32) -> Result<()> {
    write(caller, ptr, &value.to_le_bytes())
}

pub fn write_u64(caller: &mut Caller<'_, HostState>, ptr: i32, value: u64) -> Result<()> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Gives the guest a copy of `bytes` in memory it allocates itself, and stores its address and
/// size at `ret_ptr` / `ret_size`. An empty value is returned as a NULL pointer and size 0, as
/// proxy-wasm-cpp-host does.
pub fn give(caller: &mut Caller<'_, HostState>, bytes: &[u8], ret_ptr: i32, ret_size: i32) -> Result<()> {
    let size = u32::try_from(bytes.len()).map_err(|_| format_err!("value too large for wasm32"))?;
    let mut addr = 0i32;
    if size > 0 {
        let alloc =
            caller.data().alloc.clone().ok_or_else(|| format_err!("the module exports no proxy_on_memory_allocate"))?;
        let before = caller.get_fuel().unwrap_or(0);
        addr = alloc.call(&mut *caller, size as i32)?;
        let burnt = before.saturating_sub(caller.get_fuel().unwrap_or(before));
        caller.data_mut().alloc_fuel += burnt;
        if addr == 0 {
            bail!("proxy_on_memory_allocate({size}) returned NULL");
        }
        write(caller, addr, bytes)?;
    }
    write_u32(caller, ret_ptr, addr as u32)?;
    write_u32(caller, ret_size, size)
}
