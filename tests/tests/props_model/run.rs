//! Runs a [`Scenario`] against the real filter in the test host, feeding the model as it goes
//! and checking every flush the filter dispatches against it, in the order of the proxy's
//! ticks (a flush sees exactly the merges of the ticks before it and of its own).

use faultline_tests::host::kit::{self, TOKEN};
use faultline_tests::host::{
    Ending, HttpCall, Proxy, ProxyConfig, Reply, Request, Response, StreamOutcome, TickEvent, Vm,
};

use super::model::{Book, Model, OVERFLOW_SERVICE, book_totals};
use super::scenario::{Answer, Cfg, EndSpec, Op, Req, Scenario, ValidCfg};
use super::stats::Stats;

/// Simulated time a settle may take before it fails (ms).
const SETTLE_LIMIT_MS: u64 = 60_000;

struct Driver {
    envoy: bool,
    proxy: Proxy,
    model: Model,
    answer: Answer,
    /// Every how many shared-data writes another VM ticks in the middle of one.
    race: Option<u64>,
    last_tick: u64,
    last_call: u64,
    /// A flush was checked after the last merge that carried counts.
    fresh: bool,
    stats: Stats,
    /// Op being run, for error messages.
    at: usize,
}

/// Runs the scenario, then settles; `Err` says which step broke which property.
pub fn run(s: &Scenario) -> Result<Stats, String> {
    let render = |c: &Cfg| c.render(s.envoy);
    let first = s.configs.first().map(render).unwrap_or_default();
    let mut pc = if s.envoy { ProxyConfig::envoy(&first) } else { ProxyConfig::nginx(&first) };
    pc = pc.workers(s.workers).main_thread_ticker(s.main_thread_ticker);
    for (i, c) in s.configs.iter().enumerate() {
        pc = pc.vm_plugin_config(i, &render(c));
    }
    let proxy = Proxy::start(pc).map_err(|e| format!("starting: {e}"))?;
    let start_ms = proxy.now_ms();
    let cfgs = s.configs.iter().map(|c| c.valid().cloned()).collect();
    let mut d = Driver {
        envoy: s.envoy,
        proxy,
        model: Model::new(s.envoy, cfgs),
        answer: Answer::Accept,
        race: None,
        last_tick: 0,
        last_call: 0,
        fresh: true,
        stats: Stats { cases: 1, ..Stats::default() },
        at: 0,
    };
    for (i, op) in s.ops.iter().enumerate() {
        d.at = i;
        d.step(op).map_err(|e| format!("op {i} ({op:?}): {e}"))?;
    }
    d.at = s.ops.len();
    d.settle().map_err(|e| format!("final settle: {e}"))?;
    let traps = d.proxy.traps();
    if !traps.is_empty() {
        return Err(format!("traps: {traps:?}"));
    }
    if d.proxy.logs().iter().any(|l| l.text.contains(TOKEN)) {
        return Err("the collector token was logged".into());
    }
    d.stats.ops = s.ops.len() as u64;
    d.stats.ticks = d.proxy.tick_log().len() as u64;
    let lost = book_totals(&d.model.lost);
    d.stats.lost_abrupt = lost.0 + lost.3;
    d.stats.unflushed_at_wipe = d.model.unflushed_at_wipe;
    d.stats.simulated_ms = d.proxy.now_ms() - start_ms;
    Ok(d.stats)
}

impl Driver {
    fn vms(&self) -> usize {
        self.proxy.vms().len()
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Request(r) => self.request(r),
            Op::Advance(ms) => self.advance(*ms),
            Op::Collector(a) => {
                self.answer = *a;
                Ok(())
            }
            Op::Jump(ms) => {
                self.run_for(*ms)?;
                self.answer_pending()
            }
            Op::Race(every) => {
                self.race = *every;
                Ok(())
            }
            Op::WallStep(ms) => {
                self.proxy.step_wall_clock(*ms);
                Ok(())
            }
            Op::Reconfigure(vm, cfg) => self.reconfigure(vm % self.vms(), cfg),
            Op::Restart(vm, exit, cfg) => {
                let i = vm % self.vms();
                let text = cfg.as_ref().map(|c| c.render(self.envoy));
                let started = self.proxy.restart_vm(i, *exit, text.as_deref()).map_err(|e| e.to_string())?;
                if !(started.vm_start && started.configure) {
                    return Err(format!("restarted VM {i} refused to start: {started:?}"));
                }
                self.model.restart(i, *exit, cfg.as_ref().map(|c| c.valid().cloned()));
                match exit {
                    faultline_tests::host::Exit::Graceful => self.stats.restarts_graceful += 1,
                    faultline_tests::host::Exit::Abrupt => self.stats.restarts_abrupt += 1,
                }
                self.fresh = false;
                Ok(())
            }
            Op::Wipe => {
                self.proxy.reload().map_err(|e| e.to_string())?;
                self.model.wipe();
                self.stats.wipes += 1;
                self.fresh = true;
                Ok(())
            }
            Op::Settle => self.settle(),
        }
    }

    fn reconfigure(&mut self, i: usize, cfg: &Cfg) -> Result<(), String> {
        let ok = self.proxy.reconfigure_vm(i, &cfg.render(self.envoy)).map_err(|e| e.to_string())?;
        if !ok {
            return Err(format!("on_configure returned false on VM {i}"));
        }
        self.model.reconfigure(i, cfg.valid().cloned());
        self.stats.reconfigures += 1;
        self.fresh = false;
        Ok(())
    }

    fn request(&mut self, r: &Req) -> Result<(), String> {
        let worker = r.worker % self.proxy.workers();
        let mut headers = Vec::new();
        if let Some(m) = &r.method {
            headers.push((b":method".to_vec(), m.clone()));
        }
        if let Some(p) = r.path.bytes() {
            headers.push((b":path".to_vec(), p));
        }
        headers.push((b":authority".to_vec(), b"app.example".to_vec()));
        headers.push((b":scheme".to_vec(), b"http".to_vec()));
        headers.extend(r.headers.iter().map(|h| h.pair()));
        let mut properties = Vec::new();
        if let (true, Some(c)) = (self.envoy, &r.cluster) {
            properties.push(("xds.cluster_name".to_string(), c.clone()));
        }
        let ending = match &r.end {
            EndSpec::Respond(Some(status)) => Ending::Respond(Response::raw_status(status)),
            EndSpec::Respond(None) => Ending::Respond(Response::without_status()),
            EndSpec::NoResponse(code) => {
                if let Some(c) = code {
                    let raw = if self.envoy { c.to_le_bytes().to_vec() } else { c.to_string().into_bytes() };
                    properties.push(("response.code".to_string(), raw));
                }
                Ending::NoResponse
            }
        };
        let request = Request { headers, cluster: None, properties };
        for _ in 0..r.times {
            let out: StreamOutcome = self.proxy.exchange(worker, &request, &ending).map_err(|e| e.to_string())?;
            if !out.passed() {
                return Err(format!("the filter did not pass the stream: {out:?}"));
            }
            self.model.count(worker, r);
            self.stats.streams += 1;
        }
        Ok(())
    }

    /// Time passes in steps of at most 100 ms; calls are answered after each step.
    fn advance(&mut self, ms: u64) -> Result<(), String> {
        let mut left = ms;
        while left > 0 {
            let step = left.min(100);
            self.run_for(step)?;
            self.answer_pending()?;
            left -= step;
        }
        Ok(())
    }

    /// Moves the proxy's clock (ticks and timeouts fire), racing ticks into shared-data
    /// writes if asked, then feeds the model.
    fn run_for(&mut self, ms: u64) -> Result<(), String> {
        if let Some(every) = self.race {
            self.proxy.interfere_on_write(every, Box::new(|vm: &mut Vm| vm.tick()));
        }
        let result = self.proxy.advance(ms).map_err(|e| e.to_string());
        self.stats.interferences += self.proxy.stop_interfering();
        result?;
        self.events()
    }

    /// Applies the ticks run since last time to the model (each merges its VM), checking
    /// every flush dispatched in between right after the merges it saw. A tick run inside
    /// another VM's tick (forced interleaving) sees that VM's merge in progress.
    fn events(&mut self) -> Result<(), String> {
        let ticks = self.proxy.ticks_after(self.last_tick);
        let mut calls = self.proxy.calls_after(self.last_call).into_iter().peekable();
        let mut i = 0;
        while let Some(t) = ticks.get(i).copied() {
            while let Some(c) = calls.next_if(|c| c.tick_ordinal < t.ordinal) {
                self.check_call(&c, None)?;
            }
            if t.nested {
                return Err(format!("tick {} ran nested outside any tick", t.ordinal));
            }
            let nested: Vec<TickEvent> = ticks.iter().skip(i + 1).take_while(|n| n.nested).copied().collect();
            let last = nested.last().map_or(t.ordinal, |n| n.ordinal);
            if !nested.is_empty() {
                let part = self.model.pending_of(t.vm);
                self.model.widen_bounds(t.vm);
                for n in &nested {
                    self.stats.nested_ticks += 1;
                    if self.model.merge(n.vm) {
                        self.fresh = false;
                    }
                    while let Some(c) = calls.next_if(|c| c.tick_ordinal == n.ordinal && c.vm == n.vm) {
                        self.check_call(&c, Some(&part))?;
                        self.stats.flushes_mid_merge += 1;
                    }
                }
            }
            if self.model.merge(t.vm) {
                self.fresh = false;
            }
            while let Some(c) = calls.next_if(|c| c.tick_ordinal <= last) {
                if c.vm != t.vm {
                    return Err(format!("call #{} of VM {} within tick {} of VM {}", c.seq, c.vm, t.ordinal, t.vm));
                }
                self.check_call(&c, None)?;
            }
            self.last_tick = last;
            i += 1 + nested.len();
        }
        for c in calls {
            self.check_call(&c, None)?;
        }
        Ok(())
    }

    fn check_call(&mut self, c: &HttpCall, partial: Option<&Book>) -> Result<(), String> {
        self.last_call = c.seq;
        let bearer = format!("Bearer {TOKEN}");
        if c.header("authorization").as_deref() != Some(bearer.as_str()) {
            return Err(format!("call #{} without the bearer token", c.seq));
        }
        let flush = kit::parse(c)?;
        self.model
            .check_flush(&flush, partial)
            .map_err(|e| format!("flush #{} from VM {} (tick {}): {e}", c.seq, c.vm, c.tick_ordinal))?;
        self.stats.flushes_checked += 1;
        if flush.services.iter().any(|s| s.name == OVERFLOW_SERVICE) {
            self.stats.flushes_with_overflow += 1;
        }
        self.fresh = true;
        Ok(())
    }

    fn answer_pending(&mut self) -> Result<(), String> {
        let reply = match self.answer {
            Answer::Accept => Reply::status(200, b"{\"accepted\":true}"),
            Answer::Status(s) => Reply::status(s, b"{\"error\":\"not now\"}"),
            Answer::Refused => Reply::Refused,
            Answer::Reset => Reply::Reset,
            Answer::Silent => return Ok(()),
        };
        self.proxy.answer_all(|_| reply.clone()).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Runs, with a collector that accepts, until every tally is merged and a flush was
    /// checked after the last merge: that flush holds everything the model counted in this
    /// boot (less what abruptly dropped VMs lost).
    fn settle(&mut self) -> Result<(), String> {
        self.stats.settles += 1;
        let flushing = self.model.vms.iter().any(|v| v.cfg.as_ref().is_some_and(|c: &ValidCfg| c.collector));
        if !flushing {
            // Nobody can flush: give VM 0 a collector again (an operator's fix).
            self.reconfigure(0, &Cfg::Valid(ValidCfg::base(None)))?;
        }
        let saved = self.answer;
        self.answer = Answer::Accept;
        let mut waited = 0;
        while !(self.model.all_merged() && self.fresh) {
            if waited >= SETTLE_LIMIT_MS {
                return Err(format!(
                    "not settled after {waited} ms: all merged {}, flushed since {}; model {:?}",
                    self.model.all_merged(),
                    self.fresh,
                    self.model.vms
                ));
            }
            self.advance(100)?;
            waited += 100;
        }
        self.answer = saved;
        Ok(())
    }
}
